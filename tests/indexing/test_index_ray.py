"""``vidstruct index --ray`` on a local Ray (one session for the module): one Ray task per video, each writing to
the database; the first attempt of video ``b``'s task SIGKILLs its own worker process after the analysis, before
storing (the ``VIDSTRUCT_INDEX_KILL_ONCE`` hook, deterministic): Ray runs the task again and ``b`` is stored
exactly once, the others too, the corrupt file reported."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from indexkit import GOOD, counts, index_argv, migrated, session_on
from sqlalchemy import select

from vidstruct.cli.main import main
from vidstruct.service.db.models import Analysis, Video
from vidstruct.service.indexing import KILL_ONCE_ENV

ray = pytest.importorskip("ray", reason="Ray is part of the dev install")


@pytest.fixture(scope="module")
def kill_marker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A local Ray whose workers inherit the kill hook for video ``b`` (the marker: the kill happened)."""
    marker = tmp_path_factory.mktemp("ray") / "b-killed"
    os.environ[KILL_ONCE_ENV] = f"b:{marker}"
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield marker
    finally:
        ray.shutdown()
        del os.environ[KILL_ONCE_ENV]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_task_killed_before_storing_is_retried_and_stores_once(
    kill_marker: Path, db_url: str, collection: Path, profiles: Path, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    migrated(db_url)
    data = tmp_path / "data"
    code = main(index_argv(collection, db_url, data, profiles, "--ray", "--workers", "2", "--max-retries", "2"))
    out = capsys.readouterr()
    report = json.loads(out.out)  # only the JSON: Ray's notice of the dead worker went to stderr
    assert kill_marker.exists()  # b's first attempt did die after its analysis
    assert code == 1 and sorted(r["name"] for r in report["indexed"]) == GOOD
    assert [r["name"] for r in report["failed"]] == ["broken"] and report["skipped"] == []
    rows = counts(db_url)
    assert (rows["videos"], rows["analyses"], rows["jobs"], rows["indexed_videos"], rows["segments"]) == (3, 3, 3, 3, 6)
    with session_on(db_url) as session:
        b = session.scalar(select(Video).where(Video.filename == "b.mp4"))
        [analysis] = session.scalars(select(Analysis).where(Analysis.video_id == b.id)).all()
        assert (data / analysis.folder / "structure.json").is_file()
    # the retry wrote into the killed attempt's folder (the job id comes from the Ray task id): nothing left over
    assert len(list((data / "analyses").iterdir())) == 3
    assert ray.is_initialized()  # the module's Ray was used as it is, not shut down by the run

    code = main(index_argv(collection, db_url, data, profiles, "--ray", "--workers", "2"))
    again = json.loads(capsys.readouterr().out)
    assert code == 1 and sorted(r["name"] for r in again["skipped"]) == GOOD and counts(db_url) == rows
