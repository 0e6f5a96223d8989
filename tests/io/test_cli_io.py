"""CLI commands of the io layer: probe, frames, check-data (in-process, with capsys)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from videokit import id_video, read_id, truncate

from mediakit import write_audio_only
from vidstruct.cli.main import main
from vidstruct.data.check import check_records
from vidstruct.data.records import ClipRecord
from vidstruct.io import VideoReader
from vidstruct.registry import DATASETS

TEST_FORMAT = "vidstruct_io_test_list"


def _read_test_list(*, annotations: str, root: str = "") -> list[ClipRecord]:
    """A tiny annotation reader for these tests: ``<path> <label> [start_s end_s]`` per line."""
    records = []
    for line in Path(annotations).read_text().splitlines():
        fields = line.split()
        start, end = (float(fields[2]), float(fields[3])) if len(fields) == 4 else (None, None)
        records.append(ClipRecord(str(Path(root) / fields[0]), int(fields[1]), start, end))
    return records


if TEST_FORMAT not in DATASETS:
    DATASETS.register(TEST_FORMAT)(_read_test_list)


def test_probe_json(videos: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["probe", str(videos["fps30"]), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["num_frames"] == 60 and info["num_frames_exact"] is True
    assert info["width"] == 64 and info["height"] == 64
    assert info["fps_average"] == pytest.approx(30) and info["duration_s"] == pytest.approx(2.0)
    assert info["codec"] == "h264" and info["has_audio"] is False and info["rotation"] == 0


def test_probe_text(videos: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["probe", str(videos["fps24"])]) == 0
    lines = dict(line.split(None, 1) for line in capsys.readouterr().out.strip().splitlines())
    assert lines["num_frames"] == "48" and lines["fps_average"] == "24"


def test_frames_by_index_are_lossless_and_sorted_in_request_order(
    videos: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "png"
    request = [40, 3, 17, 3]
    assert main(["frames", str(videos["gop10"]), "--indices", ",".join(map(str, request)), "--out", str(out)]) == 0
    printed = capsys.readouterr().out.split()
    files = sorted(out.iterdir())
    assert [str(f) for f in files] == printed and len(files) == 4
    images = [np.array(Image.open(f)) for f in files]
    assert all(img.shape == (64, 64, 3) and img.dtype == np.uint8 for img in images)
    assert [read_id(img) for img in images] == request
    decoded = VideoReader(videos["gop10"]).get_frames(request)
    assert all(torch.equal(torch.from_numpy(img), frame) for img, frame in zip(images, decoded))  # PNG is lossless


def test_frames_by_time(videos: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "png"
    assert main(["frames", str(videos["fps25"]), "--at", "1.0,0.5,0.07", "--out", str(out), "--json"]) == 0
    saved = json.loads(capsys.readouterr().out)
    assert [s["index"] for s in saved] == [25, 12, 1]  # frame k is on screen during [k/25, (k+1)/25)
    assert [s["time_s"] for s in saved] == pytest.approx([1.0, 0.48, 0.04])
    assert [read_id(np.asarray(Image.open(s["path"]))) for s in saved] == [25, 12, 1]
    assert [Path(s["path"]).name for s in saved] == sorted(Path(s["path"]).name for s in saved)


def test_frames_rejects_bad_lists(videos: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["frames", str(videos["fps25"]), "--indices", "1,x", "--out", str(tmp_path)]) == 2
    assert "--indices" in capsys.readouterr().err


@pytest.fixture()
def dataset_dir(tmp_path: Path) -> Path:
    """Three good clips and two bad files (truncated, audio-only), listed in train / val lists."""
    root = tmp_path / "videos"
    root.mkdir()
    for i in range(3):
        id_video(root / f"good{i}.mp4", 20 + 5 * i, 25, gop=5)
    truncate(root / "truncated.mp4", root / "good2.mp4")
    write_audio_only(root / "audio.m4a")
    (tmp_path / "train.txt").write_text("good0.mp4 0\ntruncated.mp4 1\ngood1.mp4 0 0.2 0.6\n")
    (tmp_path / "val.txt").write_text("good2.mp4 1\naudio.m4a 0\n")
    (tmp_path / "ok.txt").write_text("good0.mp4 0\ngood1.mp4 1 0.1 0.5\n")
    cfg = tmp_path / "data.yaml"
    cfg.write_text(
        "data:\n"
        f"  train: {{format: {TEST_FORMAT}, annotations: {tmp_path / 'train.txt'}, root: {root}}}\n"
        f"  val: {{format: {TEST_FORMAT}, annotations: {tmp_path / 'val.txt'}, root: {root}}}\n"
    )
    return tmp_path


def test_check_data_reports_bad_samples_and_fails(dataset_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["check-data", str(dataset_dir / "data.yaml"), "--workers", "2", "--json", "--quiet"])
    captured = capsys.readouterr()
    assert rc == 1
    report = json.loads(captured.out)
    assert report["splits"] == {"train": {"samples": 3, "bad": 1}, "val": {"samples": 2, "bad": 1}}
    bad = {(b["split"], b["index"]): b for b in report["bad"]}
    assert set(bad) == {("train", 1), ("val", 1)}
    assert bad["train", 1]["error"] == "VideoOpenError" and bad["train", 1]["path"].endswith("truncated.mp4")
    assert bad["val", 1]["error"] == "NoVideoStreamError"
    assert "2 sample(s) failed to decode" in captured.err


def test_check_data_passes_on_good_data_with_overrides(dataset_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = str(dataset_dir / "data.yaml")
    rc = main(["check-data", cfg, f"data.train.annotations={dataset_dir / 'ok.txt'}", "--splits", "train", "--quiet"])
    out = capsys.readouterr().out
    assert rc == 0
    assert out.splitlines() == ["train: 2 samples, 0 bad"]


def test_check_data_unknown_split_or_format_is_a_config_error(
    dataset_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = str(dataset_dir / "data.yaml")
    assert main(["check-data", cfg, "--splits", "training"]) == 2
    assert "unknown split 'training'" in capsys.readouterr().err
    assert main(["check-data", cfg, "data.train.format=no_such_format_zz", "--splits", "train"]) == 2
    assert "no_such_format_zz" in capsys.readouterr().err


def test_check_records_full_decode_counts_segment_frames(dataset_dir: Path) -> None:
    records = _read_test_list(annotations=str(dataset_dir / "train.txt"), root=str(dataset_dir / "videos"))
    results = check_records(records, workers=0)
    assert [r.ok for r in results] == [True, False, True]
    assert results[0].decoded == results[0].expected == 20
    # good1 (25 frames at 25 fps), segment [0.2 s, 0.6 s): frames 5..14
    assert results[2].decoded == results[2].expected == 10
    quick = check_records(records, workers=2, mode="quick")
    assert [r.ok for r in quick] == [True, False, True] and quick[0].decoded == 3
