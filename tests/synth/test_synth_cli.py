"""``vidstruct synth``: writes the files in-process, one-line errors for bad options."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from vidstruct.cli.main import main
from vidstruct.data.synth import ACTIONS, LOCALIZE_ACTIONS


def test_synth_classify_json(tmp_path, capsys) -> None:
    out = tmp_path / "set"
    argv = ["synth", "--task", "classify", "--out", str(out), "--num-videos", "3", "--size", "32"]
    rc = main([*argv, "--fps", "10", "--duration", "0.5", "--seed", "4", "--json"])
    assert rc == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["task"] == "classify" and summary["num_videos"] == 3 and summary["classes"] == list(ACTIONS)
    assert summary["num_frames"] == 5 and summary["size"] == 32
    assert sorted(summary["annotation_files"]) == ["classes", "train", "val"]
    for path in summary["videos"] + list(summary["annotation_files"].values()):
        assert Path(path).is_file()
    assert (out / "train.txt").read_text().splitlines() == [f"videos/synth_0000{i}.mp4 {i}" for i in range(3)]


def test_synth_localize_text_output(tmp_path, capsys) -> None:
    out = tmp_path / "loc"
    argv = ["synth", "--task", "localize", "--out", str(out), "--num-videos", "1", "--size", "32", "--fps", "8"]
    assert main([*argv, "--duration", "2", "-q"]) == 0
    assert "wrote 1 localize videos" in capsys.readouterr().out
    assert (out / "classes.txt").read_text().splitlines() == list(LOCALIZE_ACTIONS)
    assert list(json.loads((out / "annotations.json").read_text())["database"]) == ["synth_00000"]


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--size", "127"], "size"),
        (["--num-videos", "0"], "num_videos"),
        (["--task", "detect", "--duration", "1"], "duration"),
    ],
)
def test_bad_options_give_one_line_error(tmp_path, capsys, extra, needle) -> None:
    argv = ["synth", "--task", "classify", "--out", str(tmp_path / "x"), "--num-videos", "1", *extra]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and needle in err[0]
    assert not (tmp_path / "x").exists()  # nothing written


def test_bad_size_has_no_traceback_in_a_subprocess(tmp_path) -> None:
    argv = ["--task", "classify", "--out", str(tmp_path), "--num-videos", "1", "--size", "127"]
    proc = subprocess.run(
        [sys.executable, "-m", "vidstruct", "synth", *argv], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("error: size") and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
