"""Collections: a folder or list analyzed into one output folder, resumable (done videos skipped by content and
profile hash: counted, not timed), bad videos recorded with one clear line each while the others complete,
worker processes."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from analyzekit import Kit, two_shot_video

from mediakit import write_audio_only
from vidstruct.cli.main import main
from vidstruct.pipeline.analyze import collection as collection_module
from vidstruct.structure import read_structure

FAST = ["--shots", "content", "--quiet", "--set", "thumbnails.width=32"]


@pytest.fixture()
def folder(kit: Kit, tmp_path: Path) -> Path:
    videos = tmp_path / "videos"
    videos.mkdir()
    shutil.copyfile(kit.one_shot, videos / "a.mp4")
    two_shot_video(videos / "b.mp4", 2.0, cut_s=1.0, seed=2)
    return videos


@pytest.fixture()
def calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Video IDs analyze_video was called for (in this process)."""
    seen: list[str] = []
    real = collection_module.analyze_video

    def counting(models: Any, path: Any, out_dir: Any, **kwargs: Any) -> Any:
        seen.append(kwargs["video_id"])
        return real(models, path, out_dir, **kwargs)

    monkeypatch.setattr(collection_module, "analyze_video", counting)
    return seen


def _run(*args: str) -> int:
    return main(["analyze", *args, *FAST])


def test_a_rerun_skips_the_videos_already_done(folder: Path, tmp_path: Path, calls: list[str], capsys: Any) -> None:
    out = tmp_path / "out"
    assert _run(str(folder), "--out", str(out), "--json") == 0
    first = json.loads(capsys.readouterr().out)
    assert sorted(first["done"]) == ["a", "b"] and first["skipped"] == [] and calls == ["a", "b"]
    loads = []
    real_load = collection_module.load_models
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(collection_module, "load_models", lambda settings: loads.append(1) or real_load(settings))
        assert _run(str(folder), "--out", str(out), "--json") == 0
    second = json.loads(capsys.readouterr().out)
    assert second["done"] == {} and sorted(second["skipped"]) == ["a", "b"] and calls == ["a", "b"]
    assert loads == []  # nothing to do: no model is even loaded
    # new content under the same name: only that video again
    two_shot_video(folder / "b.mp4", 2.0, cut_s=None, seed=3)
    assert _run(str(folder), "--out", str(out)) == 0
    assert calls == ["a", "b", "b"]
    # another profile (a setting that changes what is found): every video again
    assert _run(str(folder), "--out", str(out), "--set", "segments.min_prob=0.5") == 0
    assert calls == ["a", "b", "b", "a", "b"]
    # a file the document names is gone: that video again
    (out / "a" / "report.html").unlink()
    assert _run(str(folder), "--out", str(out), "--set", "segments.min_prob=0.5") == 0
    assert calls == ["a", "b", "b", "a", "b", "a"]
    run = json.loads((out / "analyze.json").read_text())
    assert run["videos"]["a"]["status"] == "done" and run["videos"]["b"]["status"] == "skipped"


def _bad_inputs(folder: Path) -> dict[str, str]:
    """Bad entries added to ``folder``: name → a phrase their one-line message must hold."""
    (folder / "corrupt.mp4").write_bytes(os.urandom(4096))
    (folder / "empty.mp4").write_bytes(b"")
    write_audio_only(folder / "audio.mp4")  # an mp4 container holding only an audio stream
    (folder / "broken.mp4").symlink_to(folder / "nowhere.mp4")
    (folder / "dir.mp4").mkdir()
    return {
        "corrupt": "cannot open as a video container",
        "empty": "file is empty (0 bytes)",
        "audio": "no video stream",
        "broken": "no such file",
        "dir": "not a regular file",
    }


def test_a_folder_with_bad_videos_completes_the_others(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    expected = _bad_inputs(folder)
    out = tmp_path / "out"
    assert _run(str(folder), "--out", str(out), "--json") == 1
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert sorted(report["done"]) == ["a", "b"]
    assert sorted(report["failed"]) == sorted(expected)
    for name, phrase in expected.items():
        message = report["failed"][name]
        assert phrase in message and "\n" not in message, (name, message)
    failed_lines = [line for line in captured.err.splitlines() if line.startswith("failed: ")]
    assert len(failed_lines) == len(expected)
    for name in ("a", "b"):
        read_structure(out / name)  # complete and valid
    for name in expected:
        assert not (out / name / "structure.json").exists()
    run = json.loads((out / "analyze.json").read_text())
    assert run["videos"]["corrupt"]["status"] == "failed" and "cannot open" in run["videos"]["corrupt"]["error"]


def test_worker_processes_do_the_same(folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (folder / "corrupt.mp4").write_bytes(os.urandom(2048))
    listing = tmp_path / "videos.txt"  # paths relative to the list's folder
    listing.write_text("".join(f"videos/{p.name}\n" for p in sorted(folder.iterdir())))
    out = tmp_path / "out"
    assert _run(str(listing), "--out", str(out), "--workers", "2", "--json") == 1
    report = json.loads(capsys.readouterr().out)
    assert sorted(report["done"]) == ["a", "b"] and list(report["failed"]) == ["corrupt"]
    assert report["failed"]["corrupt"].startswith(str(folder / "corrupt.mp4"))
    assert read_structure(out / "b").document["video"]["duration_s"] == 2.0
