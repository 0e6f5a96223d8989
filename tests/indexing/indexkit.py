"""Helpers of the indexing tests: the collection, a migrated database, row counts, the service's API over it."""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

_SERVICE_TESTS = Path(__file__).resolve().parents[1] / "service"
if str(_SERVICE_TESTS) not in sys.path:
    sys.path.insert(0, str(_SERVICE_TESTS))

import httpx  # noqa: E402
from pgcluster import free_port  # noqa: E402
from servicekit import cut_video, wait_for  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from vidstruct.service.auth import create_key  # noqa: E402
from vidstruct.service.db.migrate import upgrade  # noqa: E402
from vidstruct.service.db.models import (  # noqa: E402
    Analysis,
    IndexedVideo,
    Job,
    ModerationFlag,
    Segment,
    Thumbnail,
    Video,
    Window,
)
from vidstruct.service.db.session import make_engine, session_factory, transaction  # noqa: E402
from vidstruct.service.settings import ServiceSettings  # noqa: E402


def _load_service_conftest() -> ModuleType:
    """``tests/service/conftest.py`` under another module name (pytest keeps its own copy as ``conftest``)."""
    spec = importlib.util.spec_from_file_location("service_tests_conftest", _SERVICE_TESTS / "conftest.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


#: the service tests' fixtures (``pg_server``, ``db_url``, ``profiles``) and ``make_api``
service_conftest = _load_service_conftest()

#: each good video's one hard cut (seconds): different contents, and two shots each
CUTS = {"a": 0.6, "b": 1.0, "c": 1.4}
GOOD = sorted(CUTS)
TABLES = {"videos": Video, "analyses": Analysis, "jobs": Job, "segments": Segment, "windows": Window,
          "thumbnails": Thumbnail, "indexed_videos": IndexedVideo, "moderation_flags": ModerationFlag}  # fmt: skip
#: a moderation policy flagging every "walk" segment (the constant model's label, probability 0.71)
POLICY = "version: 1\nrules:\n  - {name: walking, labels: [walk], min_prob: 0.5, severity: low, action: flag}\n"


def make_collection(folder: Path) -> Path:
    for name, cut in CUTS.items():
        cut_video(folder / f"{name}.mp4", 2.0, cut_s=cut)
    (folder / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 this is not a video" * 40)
    return folder


def migrated(db_url: str) -> str:
    engine = make_engine(db_url)
    upgrade(engine)
    engine.dispose()
    return db_url


def counts(db_url: str) -> dict[str, int]:
    """Rows per table."""
    engine = make_engine(db_url)
    try:
        with session_factory(engine)() as session:
            return {name: session.scalar(select(func.count()).select_from(t)) or 0 for name, t in TABLES.items()}
    finally:
        engine.dispose()


@contextmanager
def session_on(db_url: str) -> Iterator:
    engine = make_engine(db_url)
    try:
        with session_factory(engine)() as session:
            yield session
    finally:
        engine.dispose()


def index_argv(folder: Path, db_url: str, data: Path, profiles: Path, *more: str) -> list[str]:
    return ["index", str(folder), "--db", db_url, "--data-dir", str(data), "--profile", "tiny",
            "--profile-dir", str(profiles), "--json", "--quiet", *more]  # fmt: skip


def service_settings(db_url: str, data: Path, profiles: Path) -> ServiceSettings:
    return ServiceSettings(data_dir=data, db_url=db_url, profile_dirs=(profiles,), default_profile="tiny")


@contextmanager
def running_serve(
    data: Path, profile_dir: Path, default_profile: str, allow_root: Path, deadline_s: float
) -> Iterator[tuple[str, str, str]]:
    """``(base URL, write key, database URL)`` of a ``vidstruct serve`` subprocess on 127.0.0.1 with one worker
    (SQLite in ``data``, migrated here), ready when its health check counts the worker; SIGTERM on exit."""
    db_url = migrated(f"sqlite+pysqlite:///{data / 'vidstruct.db'}")
    engine = make_engine(db_url)
    with transaction(session_factory(engine)) as session:
        key, _ = create_key(session, "write")
    engine.dispose()
    port = free_port()
    argv = [sys.executable, "-m", "vidstruct", "serve", "--quiet", "--data-dir", str(data), "--profile-dir",
            str(profile_dir), "--default-profile", default_profile, "--workers", "1", "--port", str(port),
            "--allow-root", str(allow_root)]  # fmt: skip
    proc = subprocess.Popen(argv, env={**os.environ, "OMP_NUM_THREADS": "1"})
    base = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        try:
            return httpx.get(f"{base}/healthz", timeout=5).json()["workers"]["alive"] == 1
        except httpx.TransportError:
            return False

    try:
        wait_for("vidstruct serve with one worker", ready, proc, deadline_s=deadline_s, poll_s=0.1)
        yield base, key, db_url
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=deadline_s)
