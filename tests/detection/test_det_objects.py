"""Object boxes at inference (``detect-actions --objects``, analyze's actors tap): the relation head's object tokens
get what training's ``data.objects`` gives them.

A relation detector with random weights (its object tokens are attended: the probabilities move with them) on a
synthetic val video; person boxes from the ground truth; an objects file with two boxes at keyframe 1 s and none
at 2 s. Expected probabilities come from the training side: ``detection_data`` with ``data.objects`` set (the
dataset and collate training use) and the validation predictor (:func:`predict_keyframes`).
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from detkit import detection_overrides

from vidstruct.cli.main import main
from vidstruct.config import load_task_config
from vidstruct.errors import VidstructError
from vidstruct.io import VideoReader, probe
from vidstruct.models.detection import load_detector, save_detector
from vidstruct.models.persons import build_person_detector, set_score_threshold
from vidstruct.pipeline.analyze.actor_tap import ActorTap
from vidstruct.pipeline.analyze.models import load_actor_models
from vidstruct.pipeline.analyze.taps import decode_once
from vidstruct.pipeline.detection import DetectionResult, detect_actions
from vidstruct.pipeline.detection.evaluate import predict_keyframes
from vidstruct.pipeline.detection.objects import ObjectsFile, object_box_source, object_detections
from vidstruct.pipeline.persons import person_box_source
from vidstruct.recipes.analyze import analyze_settings, load_profile
from vidstruct.recipes.detection import build_detector, detection_data, preprocessing

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "detection" / "synth_relation_tiny.yaml"
VIDEO_ID = "synth_00004"
OBJECTS = [(1.0, (0.05, 0.05, 0.3, 0.35)), (1.0, (0.6, 0.55, 0.95, 0.9))]  # none at 0 s and 2 s


@dataclass(frozen=True)
class Setup:
    data: Path
    detector: Path
    proposals: Path
    objects: Path

    @property
    def video(self) -> Path:
        return self.data / "videos" / f"{VIDEO_ID}.mp4"


def _write_proposals(gt: Path, out: Path) -> None:
    boxes: list[tuple[str, str, tuple[str, ...]]] = []
    with gt.open() as fh:
        for row in csv.reader(fh):
            item = (row[0], row[1], tuple(row[2:6]))
            if item not in boxes:
                boxes.append(item)
    out.write_text("".join(f"{v},{t},{','.join(b)},,0.9\n" for v, t, b in boxes))


@pytest.fixture(scope="module")
def setup(detect_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Setup:
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("det_objects")
    task = load_task_config(CONFIG, detection_overrides(detect_data))
    data = detection_data(task.cfg)
    torch.manual_seed(0)
    model, builder = build_detector(task.cfg, len(data.classes), task.composed)
    detector = save_detector(
        root / "relation" / "detector.pt", model.eval(), name="relation", builder=builder, classes=data.classes,
        class_ids=data.class_ids, preprocessing=preprocessing(task.cfg),
    )  # fmt: skip
    _write_proposals(detect_data / "val.csv", root / "persons.csv")
    objects = root / "objects.csv"  # the data.objects format; another video's row must not leak in
    rows = [f"{VIDEO_ID},{t:g},{','.join(map(str, b))},,0.8" for t, b in OBJECTS]
    objects.write_text("\n".join([*rows, "synth_00009,2,0.1,0.1,0.5,0.5,,0.7"]) + "\n")
    return Setup(detect_data, detector, root / "persons.csv", objects)


def _run(setup: Setup, objects: bool) -> DetectionResult:
    persons = person_box_source(proposals=setup.proposals, min_score=0.0)
    source = ObjectsFile(setup.objects) if objects else None
    return detect_actions(setup.video, load_detector(setup.detector), persons, objects=source)


def _by_box(result: DetectionResult) -> dict[tuple[float, tuple[float, ...]], np.ndarray]:
    return {(kf.time_s, tuple(round(v, 4) for v in a.box)): a.probs for kf in result.keyframes for a in kf.actors}


def test_object_boxes_change_the_relation_heads_probabilities_as_in_training(setup: Setup) -> None:
    with_objects, without = _by_box(_run(setup, True)), _by_box(_run(setup, False))
    assert sorted(with_objects) == sorted(without) and {t for t, _ in with_objects} == {1.0, 2.0}
    # the training side: data.objects read by the recipe, the keyframe dataset and collate, the val predictor
    overrides = detection_overrides(setup.data, f"data.objects={setup.objects}")
    val = detection_data(load_task_config(CONFIG, overrides).cfg).val
    assert val is not None
    expected: dict[tuple[float, tuple[float, ...]], dict[int, float]] = {}
    for row in predict_keyframes(load_detector(setup.detector).model, val):
        if row.video_id == VIDEO_ID:
            expected.setdefault((row.timestamp_s, tuple(round(v, 4) for v in row.box)), {})[row.action_id] = row.score
    class_ids = load_detector(setup.detector).class_ids
    assert sorted(expected) == sorted(with_objects)
    for key, probs in with_objects.items():
        np.testing.assert_allclose(probs, [expected[key][c] for c in class_ids], atol=1e-5, rtol=0)
        if key[0] == 1.0:  # two object boxes there: the probabilities move
            assert np.abs(probs - without[key]).max() > 1e-3
        else:  # a keyframe without objects is one without object tokens
            np.testing.assert_allclose(probs, without[key], atol=1e-6, rtol=0)


def test_the_cli_names_the_objects_and_reports_a_bad_file_in_one_line(
    setup: Setup, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    args = ["detect-actions", str(setup.video), "--checkpoint", str(setup.detector), "--proposals",
            str(setup.proposals), "--person-min-score", "0", "--min-prob", "0", "--device", "cpu"]  # fmt: skip
    assert main([*args, "--objects", str(setup.objects), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["objects"] == str(setup.objects)
    expected = _by_box(_run(setup, True))
    for kf in doc["keyframes"]:
        for a in kf["actors"]:
            probs = expected[(kf["time_s"], tuple(a["box"]))]
            got = {x["label"]: x["prob"] for x in a["actions"]}
            classes = load_detector(setup.detector).classes
            assert [got[c] for c in classes] == pytest.approx(probs.tolist(), abs=6e-5)
    assert main([*args, "--json"]) == 0
    assert "objects" not in json.loads(capsys.readouterr().out)  # no source: nothing claimed
    assert main([*args, "--objects", str(setup.objects)]) == 0
    assert f"objects from {setup.objects})" in capsys.readouterr().out.splitlines()[0]
    bad = tmp_path / "objects_bad.csv"
    for line2, field in [(f"{VIDEO_ID},1,0.5,0.2,0.4,0.6,,0.9", "x2"), (f"{VIDEO_ID},1,0.1,abc,0.4,0.6,,0.9", "y1"),
                         (f"{VIDEO_ID},1,0.1,0.2,0.4,0.6,,1.5", "score")]:  # fmt: skip
        bad.write_text(f"{VIDEO_ID},1,0.1,0.1,0.3,0.3,,0.9\n{line2}\n")
        assert main([*args, "--objects", str(bad)]) != 0
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and str(bad) in err and "line 2" in err and f"field '{field}'" in err, err
    task = load_task_config(CONFIG, detection_overrides(setup.data, "model.head=roi"))
    roi, builder = build_detector(task.cfg, 14, task.composed)
    prep = preprocessing(task.cfg)
    names = [f"c{i}" for i in range(14)]
    roi_file = save_detector(tmp_path / "roi" / "detector.pt", roi, name="roi", builder=builder, classes=names,
                             class_ids=list(range(1, 15)), preprocessing=prep)  # fmt: skip
    roi_args = [*args[:3], str(roi_file), *args[4:]]
    assert main([*roi_args, "--objects", str(setup.objects)]) != 0  # the RoI head has no object tokens
    assert "'roi' head, which has no object tokens" in capsys.readouterr().err
    with pytest.raises(VidstructError, match="--objects FILE or --object-detector NAME, not both"):
        object_box_source(setup.objects, "fasterrcnn_resnet50_fpn_v2")
    with pytest.raises(VidstructError, match="needs its local weights file"):
        object_box_source(detector="fasterrcnn_resnet50_fpn_v2")


def test_an_object_detector_keeps_every_class_but_person() -> None:
    output = {
        "boxes": torch.tensor(
            [
                [10.0, 10.0, 50.0, 30.0],
                [0.0, 0.0, 20.0, 20.0],
                [60.0, 0.0, 120.0, 40.0],
                [5.0, 5.0, 15.0, 15.0],
                [30.0, 30.0, 30.0, 35.0],
            ]
        ),  # fmt: skip
        "labels": torch.tensor([1, 44, 3, 62, 3]),  # person, bottle, car, chair (low score), car without area
        "scores": torch.tensor([0.99, 0.7, 0.9, 0.2, 0.95]),
    }
    boxes, scores = object_detections(output, (40, 100), min_score=0.5)  # H 40, W 100
    assert scores.tolist() == pytest.approx([0.9, 0.7])
    torch.testing.assert_close(boxes, torch.tensor([[0.6, 0.0, 1.0, 1.0], [0.0, 0.0, 0.2, 0.5]]))


def test_the_analyze_actors_tap_uses_the_profiles_objects(setup: Setup, tmp_path: Path) -> None:
    profile = tmp_path / "profile.yaml"
    profile.write_text(
        f"actors: {{detector: {setup.detector}, persons: {{proposals: {setup.proposals}}}, min_person_score: 0, "
        f"objects: {setup.objects.name}}}\nshots: {{detector: none}}\n"
    )  # objects relative to the profile's folder
    (tmp_path / setup.objects.name).write_bytes(setup.objects.read_bytes())
    settings = analyze_settings(*load_profile(profile))
    assert settings.actors.objects == str(tmp_path / setup.objects.name)
    unset = analyze_settings(*load_profile(profile, overrides=["actors.objects=null"]))
    assert unset.actors.objects is None and unset.profile_sha256 != settings.profile_sha256
    actors = load_actor_models(settings.actors, "cpu")
    assert actors is not None and actors.objects is not None
    assert actors.record()["settings"]["objects"]["file"] == str(tmp_path / setup.objects.name)
    assert "objects" not in load_actor_models(unset.actors, "cpu").record()["settings"]  # type: ignore[union-attr]
    reader = VideoReader(setup.video)
    try:
        info = probe(setup.video)
        size = (info.width, info.height)
        tap = ActorTap(str(setup.video), reader.index, size, actors.detector, actors.persons, objects=actors.objects)
        decode_once(reader, tap.taps)
    finally:
        reader.close()
    assert tap.result is not None and tap.result.objects == str(tmp_path / setup.objects.name)
    got, expected = _by_box(tap.result), _by_box(_run(setup, True))
    assert sorted(got) == sorted(expected)
    for key, probs in got.items():
        np.testing.assert_allclose(probs, expected[key], atol=1e-5, rtol=0)


def test_a_torchvision_object_detector_from_local_weights_feeds_the_object_tokens(
    setup: Setup, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    # random weights, the box classifier tilted towards COCO 44 (bottle) so that objects appear among its boxes
    name = "fasterrcnn_mobilenet_v3_large_320_fpn"
    torch.manual_seed(0)
    state = build_person_detector(name).state_dict()
    state["roi_heads.box_predictor.cls_score.bias"][44] += 4.0
    weights = tmp_path / "frcnn_random.pth"
    torch.save(state, weights)
    args = ["detect-actions", str(setup.video), "--checkpoint", str(setup.detector), "--proposals",
            str(setup.proposals), "--person-min-score", "0", "--min-prob", "0", "--device", "cpu",
            "--json"]  # fmt: skip
    assert main([*args, "--object-detector", name, "--object-detector-weights", str(weights),
                 "--object-min-score", "0.3"]) == 0  # fmt: skip
    got = json.loads(capsys.readouterr().out)
    assert got["objects"] == name
    # the reference: the same weights run directly on the keyframes' frames, every non-person box >= 0.3 kept by
    # hand, written as an objects file and given to --objects
    model = build_person_detector(name)
    model.load_state_dict(torch.load(weights, weights_only=True))
    set_score_threshold(model.eval(), 0.3)  # torchvision's 0.05 stays: with tied scores, its top 100 depend on it
    times = [0.0, 1.0, 2.0]
    with VideoReader(setup.video) as reader:
        frames = reader.get_frames_at(times)
    with torch.no_grad():
        outputs = model([f.permute(2, 0, 1).float() / 255 for f in frames])
    rows, counts = [], []
    for t, out, frame in zip(times, outputs, frames):
        keep = (out["labels"] != 1) & (out["scores"] >= 0.3)
        h, w = frame.shape[:2]
        boxes = (out["boxes"][keep] / torch.tensor([w, h, w, h])).clamp(0, 1)
        boxes = boxes[(boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])]
        counts.append(len(boxes))
        rows += [f"{VIDEO_ID},{t:g},{','.join(repr(float(v)) for v in b)},,0.5" for b in boxes.tolist()]
    assert counts[1] > 0  # objects at a keyframe with actors
    objects = tmp_path / "detected_objects.csv"
    objects.write_text("\n".join(rows) + "\n")
    assert main([*args, "--objects", str(objects)]) == 0
    expected = json.loads(capsys.readouterr().out)
    for kf_got, kf_exp in zip(got["keyframes"], expected["keyframes"], strict=True):
        for a, b in zip(kf_got["actors"], kf_exp["actors"], strict=True):
            assert a["box"] == b["box"]
            probs = {x["label"]: x["prob"] for x in b["actions"]}
            assert {x["label"]: x["prob"] for x in a["actions"]} == pytest.approx(probs, abs=2e-4)
