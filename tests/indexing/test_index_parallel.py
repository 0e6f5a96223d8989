"""``vidstruct index --workers 2`` (a process pool), and two index runs at once over the same folder (separate
processes, SQLite and PostgreSQL): every video stored exactly once, the corrupt one reported by each run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from indexkit import GOOD, counts, index_argv, migrated

from vidstruct.cli.main import main


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_two_worker_processes_index_the_collection(
    db_url: str, collection: Path, profiles: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    migrated(db_url)
    code = main(index_argv(collection, db_url, tmp_path / "data", profiles, "--workers", "2"))
    report = json.loads(capsys.readouterr().out)
    assert code == 1 and sorted(r["name"] for r in report["indexed"]) == GOOD
    assert [r["name"] for r in report["failed"]] == ["broken"]
    rows = counts(db_url)
    assert (rows["videos"], rows["analyses"], rows["jobs"], rows["indexed_videos"], rows["segments"]) == (3, 3, 3, 3, 6)


def test_two_runs_at_once_store_each_video_once(db_url: str, collection: Path, profiles: Path, tmp_path: Path) -> None:
    migrated(db_url)
    argv = [sys.executable, "-m", "vidstruct", *index_argv(collection, db_url, tmp_path / "data", profiles)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [proc.communicate(timeout=300)[0] for proc in procs]
    assert [proc.returncode for proc in procs] == [1, 1]  # the corrupt file fails in each run
    reports = [json.loads(out) for out in outs]
    indexed = sorted(r["name"] for rep in reports for r in rep["indexed"])
    skipped = sorted(r["name"] for rep in reports for r in rep["skipped"])
    assert indexed == GOOD and skipped == GOOD  # each video stored by one run, skipped by the other
    assert all([r["name"] for r in rep["failed"]] == ["broken"] for rep in reports)
    rows = counts(db_url)
    assert (rows["videos"], rows["analyses"], rows["jobs"], rows["indexed_videos"], rows["segments"]) == (3, 3, 3, 3, 6)
    # the losers' analysis folders were removed: one folder per stored analysis
    assert len(list((tmp_path / "data" / "analyses").iterdir())) == 3
