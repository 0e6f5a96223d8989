"""Helpers of the indexing tests: the collection, a migrated database, row counts, the service's API over it."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

_SERVICE_TESTS = Path(__file__).resolve().parents[1] / "service"
if str(_SERVICE_TESTS) not in sys.path:
    sys.path.insert(0, str(_SERVICE_TESTS))

from servicekit import cut_video  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

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
from vidstruct.service.db.session import make_engine, session_factory  # noqa: E402
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
