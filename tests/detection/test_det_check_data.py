"""``vidstruct check-data`` on an action-detection config: every annotated video decoded, missing videos and
keyframes past a video's end reported (exit 1), a malformed CSV a one-line error (exit 2)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from detkit import detection_overrides

from vidstruct.cli.main import main

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "detection" / "synth_roi_tiny.yaml"


def _copy(detect_data: Path, tmp_path: Path) -> Path:
    data = tmp_path / "data"
    shutil.copytree(detect_data, data)
    return data


def test_a_good_copy_passes_and_every_video_is_decoded(detect_data: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["check-data", str(CONFIG), *detection_overrides(detect_data), "--workers", "0", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["splits"] == {"train": {"samples": 8, "bad": 0}, "val": {"samples": 2, "bad": 0}}  # 8 + 2 videos


def test_missing_videos_and_late_keyframes_are_reported(
    detect_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    data = _copy(detect_data, tmp_path)
    gone = sorted((data / "videos").iterdir())[0]
    gone.unlink()
    rows = (data / "val.csv").read_text().splitlines()
    late = rows[0].split(",")
    late[1] = "0009"  # 9 s: the videos last 3 s
    (data / "val.csv").write_text("\n".join([*rows, ",".join(late)]) + "\n")
    assert main(["check-data", str(CONFIG), *detection_overrides(data), "--workers", "0", "--json"]) == 1
    bad = json.loads(capsys.readouterr().out)["bad"]
    assert {(b["split"], Path(b["path"]).name) for b in bad} == {("train", gone.name), ("val", f"{late[0]}.mp4")}
    late_report = next(b for b in bad if b["split"] == "val")
    assert (
        late_report["error"] == "KeyframeOutOfRange" and "keyframe 9s is past the video's end" in late_report["reason"]
    )


def test_a_malformed_csv_is_one_line(detect_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    data = _copy(detect_data, tmp_path)
    (data / "train.csv").write_text("synth_00000,0001,0.5,0.1,0.2,0.9,1,0\n")  # x1 > x2
    assert main(["check-data", str(CONFIG), *detection_overrides(data), "--workers", "0"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "train.csv" in err and "line 1" in err
