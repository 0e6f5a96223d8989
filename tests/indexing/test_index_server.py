"""``vidstruct index --server``: a live ``vidstruct serve`` (SQLite, one worker process) on 127.0.0.1 analyses
the collection: files under its ``--allow-root`` are named by path, another one is uploaded, the corrupt file is
refused; a rerun makes no new job (the idempotency token). The API key never shows in the output."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from indexkit import GOOD, running_serve, session_on
from servicekit import cut_video
from sqlalchemy import select

from vidstruct.cli.main import main
from vidstruct.service.db.models import Job, Video

DEADLINE_S = 180.0


@pytest.fixture
def server(collection: Path, profiles: Path, tmp_path: Path) -> Iterator[tuple[str, str, str]]:
    """``(base URL, write key, database URL)`` of a running ``vidstruct serve``."""
    with running_serve(tmp_path / "data", profiles, "tiny", collection, DEADLINE_S) as running:
        yield running


def test_index_through_the_api_and_a_rerun_makes_no_new_job(
    server: tuple[str, str, str], collection: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base, key, db_url = server
    outside = cut_video(tmp_path / "elsewhere" / "d.mp4", 2.0, cut_s=0.8)  # not under --allow-root: uploaded
    argv = ["index", str(collection), str(outside), "--server", base, "--profile", "tiny", "--json",
            "--timeout-s", str(DEADLINE_S)]  # fmt: skip
    os.environ["VIDSTRUCT_API_KEY"] = key
    try:
        code = main(argv)
        first_out = capsys.readouterr()
        code_again = main(argv)
        again_out = capsys.readouterr()
    finally:
        del os.environ["VIDSTRUCT_API_KEY"]
    assert key not in first_out.out + first_out.err + again_out.out + again_out.err
    first, again = json.loads(first_out.out), json.loads(again_out.out)
    progress = [line for line in first_out.err.splitlines() if line.startswith("[")]  # a line per video
    assert sorted(line.split("] ")[1].split(":")[0] for line in progress) == ["a", "b", "broken", "c", "d"]
    assert {line.split("] ")[0] for line in progress} == {f"[{i}/5" for i in range(1, 6)}
    assert code == 1 and sorted(r["name"] for r in first["indexed"]) == [*GOOD, "d"]
    [broken] = first["failed"]
    assert broken["name"] == "broken" and broken["reason"].startswith("HTTP 422")
    assert code_again == 1 and again["indexed"] == [] and sorted(r["name"] for r in again["skipped"]) == [*GOOD, "d"]
    assert {r["job_id"] for r in again["skipped"]} == {r["job_id"] for r in first["indexed"]}
    with session_on(db_url) as session:
        jobs = session.scalars(select(Job)).all()
        assert len(jobs) == 4 and {(j.status, j.job_tag, j.profile) for j in jobs} == {
            ("SUCCEEDED", "vidstruct-index", "tiny")
        }
        stored = {v.filename: v.stored for v in session.scalars(select(Video)).all()}
    assert stored == {"a.mp4": False, "b.mp4": False, "c.mp4": False, "d.mp4": True}  # by path, and one upload
    segments = httpx.get(f"{base}/v1/search", params={"label": "walk"}, headers={"Authorization": f"Bearer {key}"})
    assert len(segments.json()["hits"]) == 8  # two shots per video, the constant "walk" over each
