"""The AVA v2.2 and AVA-Kinetics recipes: ``config show`` resolves them, and ``vidstruct train`` runs each for two
steps (plus a validation on its val CSV with the excluded timestamps) on ``vidstruct synth --task detect`` output
renamed into the dataset's download layout. Overrides only shrink the inputs (frames, pixels, batch): the model is
the recipe's SlowFast R50 with its RoI head. The AVA run then labels a video from the detected-person-boxes CSV at
the published score threshold."""

from __future__ import annotations

import csv
import json
import re
import shutil
from pathlib import Path

import pytest
import torch

from vidstruct.cli.main import main

CONFIGS = Path(__file__).resolve().parents[2] / "configs/detection"
AVA = CONFIGS / "ava_v2.2_slowfast_r50.yaml"
AVA_KINETICS = CONFIGS / "ava_kinetics_slowfast_r50.yaml"
#: synth videos 0..3 as AVA-style YouTube ids
IDS = ["-5KQ66BBWC4", "053oq2xB3oU", "0f39OWEqJ24", "1j20qq1JyX4"]
SHRINK = [
    "data.sampler.clip_len=8", "data.transform.size=64", "data.num_workers=0", "train.batch_size=2",
    "train.max_steps=2", "train.eval_every=2", "train.ckpt_every=1000", "train.log_every=1", "train.device=cpu",
    "train.tensorboard=false", "eval.batch_size=2",
]  # fmt: skip


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ava_synth")
    assert main(["synth", "--task", "detect", "--out", str(out), "--num-videos", "4", "--size", "32",
                 "--duration", "3", "--fps", "8", "--quiet"]) == 0  # fmt: skip
    return out


def _rows(synth: Path) -> dict[str, list[list[str]]]:
    """synth's ground-truth rows per synth video id (``video_id, timestamp, x1, y1, x2, y2, action, person``)."""
    out: dict[str, list[list[str]]] = {}
    with open(synth / "train.csv", newline="") as f:
        for row in csv.reader(f):
            out.setdefault(row[0], []).append(row)
    assert len(out) == 4
    return out


def _write(path: Path, rows: list[list[str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows(rows)


def _label_maps(synth: Path, ann: Path, evaluated_name: str) -> tuple[int, int]:
    """The full list (all synth classes, AVA's ``label {}`` format: the 80-class file) and the evaluated subset
    (ids <= 10: the 60-class file); returns (full, evaluated) class counts."""
    text = (synth / "ava_action_list.pbtxt").read_text()
    (ann / "ava_action_list_v2.2.pbtxt").write_text(text)
    blocks = re.findall(r"label \{.*?\}\n", text, flags=re.S)
    kept = [b for b in blocks if int(re.search(r"label_id: (\d+)", b).group(1)) <= 10]
    (ann / evaluated_name).write_text("".join(kept))
    return len(blocks), len(kept)


def _ava_layout(root: Path, synth: Path) -> None:
    rows = _rows(synth)
    base = root / "data/ava"
    (base / "videos").mkdir(parents=True)
    for k, vid in enumerate(IDS):
        shutil.copy(synth / f"videos/synth_{k:05d}.mp4", base / "videos" / f"{vid}.mp4")
    renamed = {IDS[k]: [[IDS[k], *r[1:]] for r in rows[f"synth_{k:05d}"]] for k in range(4)}
    ann = base / "annotations"
    _write(ann / "ava_train_v2.2.csv", [r for vid in IDS[:3] for r in renamed[vid]])
    _write(ann / "ava_val_v2.2.csv", renamed[IDS[3]])
    _write(ann / "ava_val_excluded_timestamps_v2.2.csv", [[IDS[3], "0002"]])
    # detected person boxes (video_id, timestamp, box, action (empty), score): one above 0.8, one below
    boxes = [
        [IDS[3], "0001", *renamed[IDS[3]][0][2:6], "", "0.95"],
        [IDS[3], "0001", "0.1", "0.1", "0.3", "0.3", "", "0.5"],
    ]
    _write(ann / "person_box_67091280_iou90/ava_detection_val_boxes_and_labels.csv", boxes)
    full, evaluated = _label_maps(synth, ann, "ava_action_list_v2.2_for_activitynet_2019.pbtxt")
    train_ids = {int(r[6]) for vid in IDS[:3] for r in renamed[vid]}
    assert max(train_ids) > 10, "the training CSV should hold classes outside the evaluated list, as AVA's does"
    assert (full, evaluated) == (14, 10)


def _ava_kinetics_layout(root: Path, synth: Path) -> None:
    """Videos 0, 1 as AVA films; 2, 3 as Kinetics-700 clips ``<youtube_id>_000010_000020.mp4`` whose release rows
    give the keyframe in YouTube time (clip second 1 = YouTube second 11), rewritten as the recipe's header says."""
    rows = _rows(synth)
    base = root / "data/ava_kinetics"
    (base / "videos").mkdir(parents=True)
    ann = base / "annotations"
    train: list[list[str]] = []
    val: list[list[str]] = []
    for k, vid in enumerate(IDS):
        src = rows[f"synth_{k:05d}"]
        if k < 2:  # AVA film
            shutil.copy(synth / f"videos/synth_{k:05d}.mp4", base / "videos" / f"{vid}.mp4")
            (train if k == 0 else val).extend([vid, *r[1:]] for r in src)
            continue
        clip = f"{vid}_000010_000020"
        shutil.copy(synth / f"videos/synth_{k:05d}.mp4", base / "videos" / f"{clip}.mp4")
        release = [[vid, str(10 + int(r[1])), *r[2:]] for r in src if int(r[1]) == 1]  # one keyframe per clip
        release.append([vid, "12"])  # a keyframe listed without a person
        rewritten = [[clip, f"{int(r[1]) - 10:04d}", *r[2:]] for r in release]
        (train if k == 2 else val).extend(rewritten)
    _write(ann / "ava_kinetics_train.csv", train)
    _write(ann / "ava_kinetics_val.csv", val)
    _write(ann / "ava_val_excluded_timestamps_v2.2.csv", [[IDS[1], "0002"]])
    _label_maps(synth, ann, "ava_action_list_v2.2_for_activitynet.pbtxt")


def renamed_box(root: Path) -> list[str]:
    """The box of the first detected-person row (score 0.95) of the AVA layout."""
    path = root / "data/ava/annotations/person_box_67091280_iou90/ava_detection_val_boxes_and_labels.csv"
    with open(path, newline="") as f:
        return next(csv.reader(f))[2:6]


@pytest.mark.parametrize(("recipe", "layout"), [(AVA, _ava_layout), (AVA_KINETICS, _ava_kinetics_layout)],
                         ids=["ava-v2.2", "ava-kinetics"])  # fmt: skip
def test_recipe_resolves_and_trains_two_steps(
    recipe: Path, layout, synth: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    monkeypatch.chdir(tmp_path)
    layout(tmp_path, synth)
    assert main(["config", "show", str(recipe)]) == 0
    shown = capsys.readouterr().out
    assert "name: slowfast_r50" in shown and "head: roi" in shown and "roi_size: 7" in shown
    run = tmp_path / "run"
    assert main(["train", str(recipe), *SHRINK, "--out", str(run), "--json", "--quiet"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["step"] == 2
    # validation ran on the val CSV: one AP per class present there (names from the recipe's label map)
    cfg_dir = "data/ava" if recipe is AVA else "data/ava_kinetics"
    pbtxt = (tmp_path / cfg_dir / "annotations/ava_action_list_v2.2.pbtxt").read_text()
    names = {int(i): n for n, i in re.findall(r'name: "([^"]+)"\s+label_id: (\d+)', pbtxt)}
    val_csv = "ava_val_v2.2.csv" if recipe is AVA else "ava_kinetics_val.csv"
    with open(tmp_path / cfg_dir / "annotations" / val_csv, newline="") as f:
        val_classes = {names[int(r[6])] for r in csv.reader(f) if len(r) > 2}
    assert {k.removeprefix("AP/") for k in summary["metrics"] if k.startswith("AP/")} == val_classes
    assert 0.0 <= summary["metrics"]["mAP"] <= 1.0
    saved = torch.load(run / "detector.pt", weights_only=True)
    text = json.dumps(saved, default=str)
    assert "slowfast_r50" in text and '"roi_size": 7' in text
    if recipe is AVA:  # the published test boxes: detected persons with score >= 0.8
        boxes = "data/ava/annotations/person_box_67091280_iou90/ava_detection_val_boxes_and_labels.csv"
        assert main(["detect-actions", f"data/ava/videos/{IDS[3]}.mp4", "--checkpoint", str(run), "--proposals",
                     boxes, "--person-min-score", "0.8", "--min-prob", "0", "--device", "cpu", "--csv", "dets.csv",
                     "--json", "--quiet"]) == 0  # fmt: skip
        capsys.readouterr()
        with open("dets.csv", newline="") as f:
            dets = list(csv.reader(f))
        kept = [float(x) for x in renamed_box(tmp_path)]
        # only the 0.95 box passes 0.8; it is labelled with every class (min-prob 0) at its keyframe
        assert [r[1] for r in dets] == ["1"] * 14 and sorted(int(r[6]) for r in dets) == list(range(1, 15))
        assert all([float(x) for x in r[2:6]] == pytest.approx(kept) for r in dets)
        assert all(0.0 <= float(r[7]) <= 1.0 for r in dets)
