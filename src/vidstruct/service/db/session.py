"""Engines and sessions: one code path for the embedded SQLite file and PostgreSQL.

SQLite runs in WAL mode (readers never block the writer), with foreign keys on and a 30 s busy timeout so
the API and several worker processes can share the file. PostgreSQL is reached by URL
(``postgresql+psycopg://user@host:port/db``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session, sessionmaker

from vidstruct.service.errors import ServiceError

_SQLITE_BUSY_S = 30.0


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def make_engine(url: str) -> Engine:
    """An engine for ``url``; a SQLite file's folder is created. A malformed URL is a one-line ServiceError."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ServiceError(f"database URL {url!r} is not a SQLAlchemy URL (e.g. postgresql+psycopg://...)") from None
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, connect_args={"timeout": _SQLITE_BUSY_S, "check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if parsed.get_backend_name() != "postgresql":
        raise ServiceError(f"database {parsed.get_backend_name()!r}: expected sqlite or postgresql")
    return create_engine(parsed, pool_pre_ping=True)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions on ``engine`` whose objects stay readable after commit."""
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session whose work is committed when the block ends, rolled back on any error."""
    with factory() as session, session.begin():
        yield session
