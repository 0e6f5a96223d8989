"""``vidstruct extract-features``: the three list forms, summary, JSON report, exit codes, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from vidstruct.cli.main import main
from vidstruct.data.features import FeatureStore
from vidstruct.pipeline.video_list import read_video_list


def _args(ckpt: Path, videos: Path | str, out: Path, *extra: str) -> list[str]:
    return ["extract-features", "--checkpoint", str(ckpt), "--videos", str(videos), "--out", str(out), *extra]


def test_text_list_with_a_bad_video_exits_1_and_lists_the_failure(
    tmp_path: Path, checkpoint: Path, clips: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.mp4").symlink_to(clips["a"])
    lst = tmp_path / "list.txt"
    lst.write_text(f"# my videos\nsub/a.mp4\n\n{clips['b']}  # absolute\nsub/gone.mp4\n")
    assert read_video_list(lst) == {
        "a": str(tmp_path / "sub" / "a.mp4"),
        "b": str(clips["b"]),
        "gone": str(tmp_path / "sub" / "gone.mp4"),
    }
    out = tmp_path / "feats"
    assert main(_args(checkpoint, lst, out, "--window-s", "1", "--stride-s", "0.5", "--device", "cpu", "-q")) == 1
    text = capsys.readouterr().out
    assert f"{out}: 2 done, 0 skipped (already done), 1 failed" in text
    assert f"failed: gone: {tmp_path / 'sub' / 'gone.mp4'}: no such file" in text
    assert FeatureStore(out).video_ids == ["a", "b"]


def test_activitynet_json_and_directory_lists(
    tmp_path: Path, checkpoint: Path, clips: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "videos").mkdir()
    for vid in ("b", "c"):
        (tmp_path / "videos" / f"{vid}.mp4").symlink_to(clips[vid])
    (tmp_path / "videos" / "notes.txt").write_text("not a video")
    gt = tmp_path / "annotations.json"
    gt.write_text(json.dumps({"version": "1.3", "database": {"b": {"annotations": []}, "c": {"annotations": []}}}))
    out = tmp_path / "feats"
    # the default window is the model's clip span: 4 frames x interval 2 at 8 fps = 1 s; stride 0.5 s
    assert main(_args(checkpoint, gt, out, "--json", "-q")) == 0
    report = json.loads(capsys.readouterr().out)
    assert sorted(report["done"]) == ["b", "c"] and report["failed"] == {} and report["ok"] is True
    store = FeatureStore(out)
    assert (store.window_s, store.stride_s) == (1.0, 0.5)
    # the folder of the same videos: same ids, nothing left to do
    assert read_video_list(tmp_path / "videos") == {vid: str(tmp_path / "videos" / f"{vid}.mp4") for vid in "bc"}
    assert main(_args(checkpoint, tmp_path / "videos", out, "--json", "-q")) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["done"] == [] and sorted(report["skipped"]) == ["b", "c"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--stride-s", "-1"], "argument --stride-s: expected a number > 0, got '-1'"),
        (["--window-s", "x"], "argument --window-s: expected a number, got 'x'"),
        (["--workers", "0"], "argument --workers: expected an integer >= 1"),
    ],
)
def test_bad_arguments_exit_2_in_one_line(
    tmp_path: Path, checkpoint: Path, clips: dict[str, Path], capsys: pytest.CaptureFixture[str], extra, message
) -> None:
    with pytest.raises(SystemExit) as info:
        main(_args(checkpoint, clips["a"].parent, tmp_path / "out", "-q", *extra))
    err = capsys.readouterr().err
    assert info.value.code == 2 and message in err and err.startswith("error: ") and err.count("\n") == 1
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("videos", "message"),
    [
        ("nowhere.txt", "nowhere.txt: video list not found"),
        ("empty.txt", "empty.txt: the list names no videos"),
        ("bad.json", "bad.json: expected an ActivityNet-style JSON object with a 'database' object"),
        ("novideos", "novideos: directory holds no video files"),
    ],
)
def test_bad_video_lists_exit_2_in_one_line(
    tmp_path: Path, checkpoint: Path, capsys: pytest.CaptureFixture[str], videos: str, message: str
) -> None:
    (tmp_path / "empty.txt").write_text("# nothing\n\n")
    (tmp_path / "bad.json").write_text('{"videos": []}')
    (tmp_path / "novideos").mkdir()
    (tmp_path / "novideos" / "readme.txt").write_text("hi")
    assert main(_args(checkpoint, tmp_path / videos, tmp_path / "out", "-q")) == 2
    err = capsys.readouterr().err
    assert message in err and err.startswith("error: ") and err.count("\n") == 1
    assert not (tmp_path / "out").exists()


def test_other_configuration_is_a_one_line_error_without_traceback(
    tmp_path: Path, checkpoint: Path, clips: dict[str, Path]
) -> None:
    out = tmp_path / "feats"
    lst = tmp_path / "list.txt"
    lst.write_text(f"{clips['b']}\n")
    assert main(_args(checkpoint, lst, out, "--window-s", "1", "-q")) == 0
    proc = subprocess.run(
        [sys.executable, "-m", "vidstruct", *_args(checkpoint, lst, out, "--window-s", "2", "-q")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"error: {out / 'manifest.json'}: holds features of another configuration")
    assert "Traceback" not in proc.stderr and proc.stderr.count("\n") == 1
