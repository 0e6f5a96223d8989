"""Fixtures of the service tests: the database (every test that takes ``db_url`` runs on SQLite and on a real
PostgreSQL), migrated settings, API keys, a tiny analysis profile and short synthetic videos.

PostgreSQL: the server at ``VIDSTRUCT_TEST_PG_URL`` (``.ci/run`` starts one), else a throwaway cluster started
here from Debian's binaries. Without either the PostgreSQL tests fail; ``VIDSTRUCT_NO_PG=1`` skips them (for a
machine without PostgreSQL, never in CI).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from pgcluster import Cluster, pg_bin
from servicekit import Api, cut_video, make_api, save_constant_backbone, write_profile
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from vidstruct.service.db.migrate import upgrade
from vidstruct.service.db.session import make_engine
from vidstruct.service.settings import ServiceSettings


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """URL of a PostgreSQL server whose ``postgres`` database may create databases."""
    url = os.environ.get("VIDSTRUCT_TEST_PG_URL")
    if url:
        yield url
        return
    if os.environ.get("VIDSTRUCT_NO_PG") == "1":
        pytest.skip("VIDSTRUCT_NO_PG=1: PostgreSQL tests skipped on this machine")
    bindir = pg_bin()
    if bindir is None:
        pytest.fail("PostgreSQL not found: install Debian's postgresql or set VIDSTRUCT_TEST_PG_URL")
    cluster = Cluster(bindir)
    try:
        yield cluster.start()
    finally:
        cluster.stop()


def _fresh_pg_database(server: str) -> str:
    name = f"vs_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(server).set(database=name).render_as_string(hide_password=False)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database: a SQLite file, or a fresh database on the PostgreSQL server."""
    if request.param == "sqlite":
        return f"sqlite+pysqlite:///{tmp_path / 'db' / 'vidstruct.db'}"
    return _fresh_pg_database(request.getfixturevalue("pg_server"))


@pytest.fixture(scope="session")
def profiles(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with the tiny analysis profile ``tiny`` (a constant 4-class backbone, content shot detector)."""
    root = tmp_path_factory.mktemp("profiles")
    backbone = save_constant_backbone(root / "constant.pt")
    write_profile(root / "tiny.yaml", backbone)
    return root


@pytest.fixture
def settings(db_url: str, tmp_path: Path, profiles: Path) -> ServiceSettings:
    """Service settings on a migrated database, data under ``tmp_path/data``, short leases; webhooks may reach
    receivers on 127.0.0.1 (the SSRF guard refuses loopback by default)."""
    data = tmp_path / "data"
    engine = make_engine(db_url)
    upgrade(engine)
    engine.dispose()
    return ServiceSettings(
        data_dir=data, db_url=db_url, profile_dirs=(profiles,), default_profile="tiny", lease_s=5.0, poll_s=0.1,
        heartbeat_s=0.5, webhook_allowed_hosts=("127.0.0.1",),
    )  # fmt: skip


@pytest.fixture
def api(settings: ServiceSettings) -> Iterator[Api]:
    yield from make_api(settings)


@pytest.fixture(scope="session")
def video_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A 2 s, 10 fps, 64 px H.264 mp4 with one cut at 1.0 s."""
    return cut_video(tmp_path_factory.mktemp("videos") / "cut.mp4").read_bytes()
