"""The database: migrations make exactly the models' schema on SQLite and PostgreSQL, an unmigrated database is
refused in one line, ``db upgrade`` / ``keys create`` from the command line, keys stored only as hashes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, select

from vidstruct.cli.main import main
from vidstruct.service.auth import authenticate, create_key, hash_key
from vidstruct.service.db.migrate import current_revision, head_revision, require_current, upgrade
from vidstruct.service.db.models import ApiKey, AuditEntry, Base, Video
from vidstruct.service.db.session import make_engine, session_factory, transaction
from vidstruct.service.errors import AuthError, NotMigratedError, ScopeError


def test_migrations_make_the_models_schema(db_url: str) -> None:
    engine = make_engine(db_url)
    assert current_revision(engine) is None
    with pytest.raises(NotMigratedError, match="run 'vidstruct db upgrade'"):
        require_current(engine)
    assert upgrade(engine) == head_revision()
    require_current(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []  # the migration scripts and the ORM models describe the same tables, columns and indexes
    indexes = {ix["name"]: ix["column_names"] for ix in inspect(engine).get_indexes("segments")}
    assert indexes["ix_segments_label_score"] == ["label", "score"]
    assert indexes["ix_segments_video_start"] == ["video_id", "start_s"]
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    engine.dispose()


def test_keys_are_stored_as_hashes_and_checked_by_scope(db_url: str) -> None:
    engine = make_engine(db_url)
    upgrade(engine)
    factory = session_factory(engine)
    with transaction(factory) as session:
        key, _ = create_key(session, "write")
    with factory() as session:
        rows = session.scalars(select(ApiKey)).all()
        assert [(r.key_hash, r.scope) for r in rows] == [(hash_key(key), "write")]
        assert all(key not in str(value) for r in rows for value in vars(r).values())
        assert authenticate(session, f"Bearer {key}", "read").scope == "write"
        assert authenticate(session, f"bearer {key}", "write").scope == "write"
        with pytest.raises(ScopeError):
            authenticate(session, f"Bearer {key}", "admin")
        for header in (None, "", key, f"Bearer {key}x", "Basic abc"):
            with pytest.raises(AuthError):
                authenticate(session, header, "read")
        assert [a.action for a in session.scalars(select(AuditEntry))] == ["key.create"]
    engine.dispose()


def test_db_upgrade_and_keys_create_from_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    assert main(["keys", "create", "--scope", "admin", "--data-dir", str(data)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "run 'vidstruct db upgrade'" in err and "Traceback" not in err
    assert main(["db", "upgrade", "--data-dir", str(data)]) == 0
    assert f"revision {head_revision()}" in capsys.readouterr().out
    assert (data / "vidstruct.db").is_file()
    assert main(["keys", "create", "--scope", "admin", "--data-dir", str(data)]) == 0
    out = capsys.readouterr().out.splitlines()
    key = out[-1]
    assert key.startswith("vs_") and len(key) == 46 and " " not in key
    assert key not in "\n".join(out[:-1])
    engine = make_engine(f"sqlite:///{data / 'vidstruct.db'}")
    with session_factory(engine)() as session:
        assert authenticate(session, f"Bearer {key}", "admin").scope == "admin"
    engine.dispose()
    assert main(["db", "upgrade", "--db", "mysql://x/y"]) == 2


def test_a_video_of_several_gibibytes_is_stored(db_url: str) -> None:
    # size_bytes was a 32-bit INTEGER on PostgreSQL: a 3 GiB file overflowed it (migration 0003)
    engine = make_engine(db_url)
    upgrade(engine)
    factory = session_factory(engine)
    size = 3 << 30
    with transaction(factory) as session:
        session.add(Video(sha256="a" * 64, path="videos/big.mp4", stored=True, filename=None, size_bytes=size))
    with factory() as session:
        assert session.scalar(select(Video.size_bytes)) == size
    engine.dispose()


def test_commands_that_check_the_schema_print_no_alembic_chatter(tmp_path: Path) -> None:
    # a fresh process, as a user runs it: Alembic's INFO lines (plugins, context) only with --debug
    data = str(tmp_path / "data")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "vidstruct", *args], capture_output=True, text=True, timeout=120)

    upgraded = run("db", "upgrade", "--data-dir", data)
    assert upgraded.returncode == 0 and "alembic" not in upgraded.stderr, upgraded.stderr
    created = run("keys", "create", "--scope", "read", "--data-dir", data)
    assert created.returncode == 0 and created.stderr == "", created.stderr
    assert "alembic" in run("--debug", "keys", "create", "--scope", "read", "--data-dir", data).stderr
