"""The manifest journal of a feature store: readers see manifest + journal, torn lines, crashes, compaction cost,
concurrent appenders."""

from __future__ import annotations

import json
import logging
import math
import multiprocessing as mp
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import vidstruct.data.feature_manifest as fm
from vidstruct.data.features import (
    JOURNAL_NAME,
    MANIFEST_NAME,
    FeatureStore,
    FeatureStoreError,
    ManifestJournal,
    compact_manifest,
    new_manifest,
    read_manifest,
    save_array_atomic,
    write_manifest,
)
from vidstruct.data.localization.datasets import join_features
from vidstruct.data.records import UntrimmedVideo


def _empty(directory: Path) -> Path:
    manifest = new_manifest(
        checkpoint=directory / "m.pt",
        sha256="ab" * 32,
        model="r2plus1d_tiny",
        config_hash="0123456789abcdef",
        window_s=1.0,
        stride_s=0.5,
        feature_dim=3,
        classes=None,
    )
    write_manifest(directory, manifest)
    return directory


def _entry(vid: str, n: int = 4) -> dict:
    return {"features": f"{vid}.npy", "probs": None, "num_snippets": n, "duration_s": 2.0, "video_fps": 25.0}


def _with_features(directory: Path, vid: str, n: int = 4) -> dict:
    save_array_atomic(directory / f"{vid}.npy", np.full((n, 3), float(len(vid)), dtype=np.float32))
    return _entry(vid, n)


def _on_disk(directory: Path) -> dict:
    return json.loads((directory / MANIFEST_NAME).read_text())


def test_a_store_without_journal_reads_as_before(tmp_path: Path) -> None:
    d = _empty(tmp_path)
    m = _on_disk(d)
    m["videos"]["v1"] = _with_features(d, "v1")
    m["failed"]["bad"] = "bad.mp4: no such file"
    (d / MANIFEST_NAME).write_text(json.dumps(m))  # a store written by an older vidstruct: no journal file
    assert not (d / JOURNAL_NAME).exists()
    assert read_manifest(d) == m
    assert FeatureStore(d).video_ids == ["v1"] and FeatureStore(d).failed == {"bad": "bad.mp4: no such file"}


def test_every_reader_sees_manifest_plus_journal(tmp_path: Path) -> None:
    d = _empty(tmp_path)
    m = _on_disk(d)
    m["videos"]["v1"] = _with_features(d, "v1")
    m["failed"]["v2"] = "v2.mp4: corrupt"
    write_manifest(d, m)
    journal = ManifestJournal(d)  # left open: nothing compacted yet, as in a running (or killed) extraction
    journal.done("v2", _with_features(d, "v2", n=6))  # a retry that worked: leaves "failed"
    journal.done("v3", _with_features(d, "v3"))
    journal.failed("v1", "v1.mp4: worker process died (killed by SIGKILL)")  # redone and failed: leaves "videos"
    assert sorted(_on_disk(d)["videos"]) == ["v1"], "manifest.json itself is not rewritten per video"
    assert len((d / JOURNAL_NAME).read_text().splitlines()) == 3

    store = FeatureStore(d)
    assert store.video_ids == ["v2", "v3"] and store.failed == {"v1": "v1.mp4: worker process died (killed by SIGKILL)"}
    assert store.load("v2").features.shape == (6, 3)
    # the localization datasets join annotations with the store through FeatureStore
    videos = [UntrimmedVideo(v, 2.0, "training") for v in ("v1", "v2", "v3", "v4")]
    kept, skipped = join_features(videos, store)
    assert [v.video_id for v in kept] == ["v2", "v3"] and skipped == {"missing": ["v4"], "failed": ["v1"]}

    journal.close()  # compacts: manifest.json alone now holds the same state, the journal is empty
    assert (d / JOURNAL_NAME).stat().st_size == 0
    on_disk = _on_disk(d)
    assert sorted(on_disk["videos"]) == ["v2", "v3"] and on_disk["failed"] == store.failed
    assert read_manifest(d) == on_disk and not list(d.glob(".*tmp"))


def test_torn_last_line_is_ignored_with_a_warning_and_dropped_by_the_next_writer(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    d = _empty(tmp_path)
    journal = ManifestJournal(d)
    for vid in ("a", "b"):
        journal.done(vid, _entry(vid))
    whole = json.dumps({"op": "done", "video_id": "c", "entry": _entry("c")}) + "\n"
    with open(d / JOURNAL_NAME, "ab") as fh:  # a writer killed in the middle of its write
        fh.write(whole[: len(whole) // 2].encode())
    with caplog.at_level(logging.WARNING):
        assert sorted(read_manifest(d)["videos"]) == ["a", "b"]
    assert f"{d / JOURNAL_NAME}: line 3 is not a whole record" in caplog.text

    journal.done("d", _entry("d"))  # the next append cuts the torn line instead of gluing itself to it
    lines = (d / JOURNAL_NAME).read_text().splitlines()
    assert [json.loads(line)["video_id"] for line in lines] == ["a", "b", "d"]
    assert sorted(read_manifest(d)["videos"]) == ["a", "b", "d"]

    # a crash that leaves garbage with a newline (file size grew, data never written): also the last line
    with open(d / JOURNAL_NAME, "ab") as fh:
        fh.write(b"\0" * 40 + b"\n")
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assert sorted(read_manifest(d)["videos"]) == ["a", "b", "d"]
    assert "line 4 is not a whole record" in caplog.text
    # compaction folds what is whole and empties the journal
    assert sorted(compact_manifest(d)["videos"]) == ["a", "b", "d"] and (d / JOURNAL_NAME).stat().st_size == 0
    journal.close()


def test_a_bad_line_before_the_last_is_an_error_naming_it(tmp_path: Path) -> None:
    d = _empty(tmp_path)
    good = json.dumps({"op": "failed", "video_id": "x", "error": "x.mp4: no such file"})
    (d / JOURNAL_NAME).write_text(f"{good}\nnot json\n{good}\n")
    with pytest.raises(FeatureStoreError, match=rf"{JOURNAL_NAME}: line 2 is not valid JSON"):
        FeatureStore(d)
    bad_entry = json.dumps({"op": "done", "video_id": "y", "entry": {**_entry("y"), "num_snippets": 0}})
    (d / JOURNAL_NAME).write_text(f"{good}\n{bad_entry}\n")
    with pytest.raises(FeatureStoreError, match=r"line 2: field 'entry.num_snippets' must be int > 0"):
        read_manifest(d)


_WRITER = textwrap.dedent(
    """
    import sys
    from vidstruct.data.features import ManifestJournal

    journal = ManifestJournal(sys.argv[1], compact_min_bytes=1 << 30)
    i = 0
    while True:  # until killed
        vid = f"v{i:05d}"
        journal.done(vid, {"features": vid + ".npy", "probs": None, "num_snippets": 3, "duration_s": 1.5,
                           "video_fps": None})
        print(vid, flush=True)
        i += 1
    """
)


def test_a_writer_killed_between_records_and_compaction_loses_nothing_recorded(tmp_path: Path) -> None:
    d = _empty(tmp_path)
    proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(d)], stdout=subprocess.PIPE, text=True)
    try:
        recorded = [proc.stdout.readline().strip() for _ in range(30)]
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert _on_disk(d)["videos"] == {}, "the killed writer never compacted"
    seen = read_manifest(d)["videos"]
    assert set(recorded) <= set(seen), "every record acknowledged before the kill is there"
    assert sorted(seen) == [f"v{i:05d}" for i in range(len(seen))]
    # the next run starts by compacting: the same videos, now in manifest.json
    assert sorted(compact_manifest(d)["videos"]) == sorted(seen) == sorted(_on_disk(d)["videos"])


@pytest.fixture
def manifest_writes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Sizes (bytes) of every manifest.json written; fsync is a no-op here (durability is not what is counted)."""
    sizes: list[int] = []
    real = fm.write_json_atomic

    def counting(path, value, **kwargs):
        out = real(path, value, **kwargs)
        sizes.append(Path(path).stat().st_size)
        return out

    monkeypatch.setattr(fm, "write_json_atomic", counting)
    monkeypatch.setattr(os, "fsync", lambda fd: None)
    return sizes


@pytest.mark.parametrize("n", [200, 1600])
def test_manifest_bytes_rewritten_per_video_do_not_grow_with_the_collection(
    tmp_path: Path, manifest_writes: list[int], n: int
) -> None:
    d = _empty(tmp_path)
    manifest_writes.clear()
    with ManifestJournal(d, compact_min_bytes=2048) as journal:
        for i in range(n):
            journal.done(f"video_{i:06d}", _entry(f"video_{i:06d}"))
    final = (d / MANIFEST_NAME).stat().st_size
    assert len(read_manifest(d)["videos"]) == n
    # A compaction happens once the journal outgrows the manifest (and 2 KiB). A manifest entry (indented,
    # ~170 bytes here) is larger than its journal line (~135 bytes), so past the first 2 KiB each compaction
    # at least doubles the manifest: the sizes written form a geometric series (total <= 2 x final, plus a
    # few KiB at the start) and there are about log2(170 n / 2048) + 2 of them. Rewriting the manifest after
    # every video, as before the journal, makes n rewrites and ~n / 2 x final bytes.
    assert len(manifest_writes) <= math.log2(n) + 3
    assert sum(manifest_writes) <= 3 * final
    # per video: a few manifest entries' worth of bytes, however large the collection
    assert sum(manifest_writes) / n <= 3 * 170 * 1.2


def _append_many(directory: str, tag: str, count: int) -> None:
    with ManifestJournal(directory, compact_min_bytes=1024) as journal:
        for i in range(count):
            vid = f"{tag}{i:04d}"
            if i % 7 == 0:
                journal.failed(vid, f"{vid}.mp4: corrupt")
            else:
                journal.done(vid, _entry(vid))


def test_concurrent_appenders_lose_nothing(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Three processes append to one journal, each compacting every 1 KiB: no record is lost or torn."""
    d = _empty(tmp_path)
    ctx = mp.get_context("fork")  # the children only run this module's function (no torch): forking is safe
    procs = [ctx.Process(target=_append_many, args=(str(d), tag, 120)) for tag in "xyz"]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=300)
    assert [p.exitcode for p in procs] == [0, 0, 0]
    with caplog.at_level(logging.WARNING):
        m = read_manifest(d)
    assert "not a whole record" not in caplog.text
    expect_failed = {f"{t}{i:04d}" for t in "xyz" for i in range(0, 120, 7)}
    expect_done = {f"{t}{i:04d}" for t in "xyz" for i in range(120)} - expect_failed
    assert set(m["videos"]) == expect_done and set(m["failed"]) == expect_failed
    assert (d / JOURNAL_NAME).stat().st_size == 0, "the last writer to close compacted"
