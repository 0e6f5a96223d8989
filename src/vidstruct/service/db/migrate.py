"""Migrations: bring a database to the newest schema (``vidstruct db upgrade``) and tell whether it is there.

The Alembic scripts ship inside the package (``migrations/``), so an installed vidstruct migrates its database
without a checkout or an ``alembic.ini``.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from vidstruct.service.errors import NotMigratedError, ServiceError


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(Path(str(resources.files(__package__).joinpath("migrations")))))
    return config


def head_revision() -> str:
    """The newest revision this version of vidstruct ships."""
    head = ScriptDirectory.from_config(_config()).get_current_head()
    if head is None:
        raise RuntimeError("no migration scripts found in the package")
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None: never migrated)."""
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    except SQLAlchemyError as exc:
        raise ServiceError(f"database {engine.url.render_as_string(hide_password=True)}: {_first_line(exc)}") from None


def upgrade(engine: Engine, revision: str = "head") -> str:
    """Migrate the database to ``revision`` (default the newest); returns the revision it is at afterwards."""
    config = _config()
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    except SQLAlchemyError as exc:
        raise ServiceError(f"database {engine.url.render_as_string(hide_password=True)}: {_first_line(exc)}") from None
    return current_revision(engine) or ""


def require_current(engine: Engine) -> None:
    """Raise :class:`NotMigratedError` (one line, says what to run) unless the database is at the newest schema."""
    current, head = current_revision(engine), head_revision()
    if current != head:
        state = "has no vidstruct schema" if current is None else f"is at revision {current}, expected {head}"
        raise NotMigratedError(f"the database {state}: run 'vidstruct db upgrade' with the same --data-dir / --db")


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
