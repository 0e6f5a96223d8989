"""``vidstruct db upgrade|current [--data-dir DIR] [--db URL]``: migrate the service's database, or say where
it stands."""

from __future__ import annotations

import argparse

NAME = "db"
HELP = "the service's database: 'upgrade' to the newest schema (Alembic migrations), 'current' revision"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from vidstruct.service.settings import add_store_arguments

    parser.add_argument("action", choices=["upgrade", "current"], help="upgrade: migrate; current: print revisions")
    add_store_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from vidstruct.service.db.migrate import current_revision, head_revision, upgrade
    from vidstruct.service.db.session import make_engine
    from vidstruct.service.settings import store_settings

    settings = store_settings(args)
    engine = make_engine(settings.database_url)
    try:
        if args.action == "upgrade":
            print(f"database at revision {upgrade(engine)} (newest {head_revision()})")
        else:
            current = current_revision(engine)
            print(f"database at revision {current or 'none (run: vidstruct db upgrade)'} (newest {head_revision()})")
    finally:
        engine.dispose()
    return 0
