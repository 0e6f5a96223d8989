"""``vidstruct keys create --scope read|write|review|admin [--name N]``: make an API key and print it once, alone
on the last line (only its hash is stored); ``vidstruct keys revoke ID``."""

from __future__ import annotations

import argparse

NAME = "keys"
HELP = "API keys of the service: create (printed once; only a hash is stored) or revoke"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from vidstruct.service.settings import add_store_arguments

    parser.add_argument("action", choices=["create", "revoke"])
    parser.add_argument("key_id", nargs="?", type=int, help="revoke: the key's id (printed by create)")
    parser.add_argument("--scope", choices=["read", "write", "review", "admin"], default="read")
    parser.add_argument("--name", default=None, help="a note saying whose key it is")
    parser.add_argument("--rate-limit", type=int, default=None, metavar="N", help="requests per minute (default none)")
    add_store_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from vidstruct.service.auth import create_key, revoke_key
    from vidstruct.service.db.migrate import require_current
    from vidstruct.service.db.session import make_engine, session_factory, transaction
    from vidstruct.service.errors import ServiceError
    from vidstruct.service.settings import store_settings

    engine = make_engine(store_settings(args).database_url)
    try:
        require_current(engine)
        with transaction(session_factory(engine)) as session:
            if args.action == "revoke":
                if args.key_id is None:
                    raise ServiceError("keys revoke: give the key's id")
                if not revoke_key(session, args.key_id):
                    raise ServiceError(f"no active key with id {args.key_id}")
                print(f"key {args.key_id} revoked")
                return 0
            key, row = create_key(session, args.scope, name=args.name, rate_limit_per_min=args.rate_limit)
        print(f"created key {row.id} with scope '{args.scope}'; it is shown only once, on the next line:")
        print(key)
    finally:
        engine.dispose()
    return 0
