"""``vidstruct analyze`` with an action detector: actors (boxes, track ids, action probabilities) in the document,
its ``models`` table, the AVA export read back by ``vidstruct eval ava``, the report, and one-line errors.

The detector has random weights (the test is about wiring: structure, not accuracy); the person boxes are the
ground truth of a ``synth --task detect`` video given as proposals (score 1.0). Seed 3's video 0 has two
actors: one that stays still (``stay_still``: the same box at every keyframe) and one that moves up (its boxes
at keyframes 1 s apart do not overlap).
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from analyzekit import save_backbone

from vidstruct.cli.main import main
from vidstruct.data.synth.actions import DETECT_ACTIONS
from vidstruct.data.synth.common import video_rng
from vidstruct.data.synth.detect import detect_scene, write_detect
from vidstruct.data.synth.render import track_boxes
from vidstruct.models.checkpoint import sha256_file
from vidstruct.models.detection import build_action_detector, save_detector
from vidstruct.models.persons.builders import build_person_detector
from vidstruct.models.persons.checkpoint import save_person_detector
from vidstruct.recipes.analyze import analyze_settings, load_profile
from vidstruct.structure import read_structure, validate_structure

SEED, SIZE, FPS, DURATION_S = 3, 64, 10.0, 3.0
KEYFRAMES_S = (0.0, 1.0, 2.0)  # every_s 1.0 over 3 s
VIDEO_ID = "synth_00000"


@dataclass(frozen=True)
class Setup:
    root: Path
    video: Path
    detector_run: Path  # holds detector.pt
    proposals: Path
    ground_truth: Path  # the synth's AVA ground truth (keyframes 1 and 2 s)
    label_map: Path
    boxes: dict[float, list[tuple[float, ...]]]  # keyframe → the proposals' boxes
    still: tuple[float, ...]  # the still actor's box (the same at every keyframe)
    profile: Path
    out: Path  # the analysis output folder
    rc: int


def _save_random_detector(run: Path) -> Path:
    torch.manual_seed(0)
    builder = {
        "backbone": "r2plus1d_tiny", "num_classes": len(DETECT_ACTIONS), "backbone_kwargs": {"widths": [4, 4, 8, 8]},
        "head": "roi", "roi_size": 2, "dropout": 0.0, "relation_dim": 8, "relation_layers": 1, "relation_heads": 1,
        "relation_dropout": 0.0,
    }  # fmt: skip
    prep = {
        "num_frames": 4, "frame_interval": 2, "target_fps": FPS, "size": 32, "mean": [0.45, 0.45, 0.45],
        "std": [0.225, 0.225, 0.225],
    }  # fmt: skip
    model = build_action_detector(**builder).eval()
    return save_detector(
        run / "detector.pt", model, name="roi_random", builder=builder, classes=list(DETECT_ACTIONS),
        class_ids=list(range(1, len(DETECT_ACTIONS) + 1)), preprocessing=prep,
    )  # fmt: skip


def _ground_truth_boxes() -> tuple[dict[float, list[tuple[float, ...]]], tuple[float, ...]]:
    """The actors' tight boxes at each keyframe (4 decimals, as written to the proposals) and the still one's."""
    num_frames = int(round(DURATION_S * FPS))
    scene, labels = detect_scene(video_rng(SEED, "detect", 0), SIZE, FPS, num_frames)
    per_actor = [track_boxes(a, tr, SIZE, SIZE) for a, tr in zip(scene.actors, scene.tracks)]
    boxes = {
        t: [tuple(round(float(v), 4) for v in np.clip(b[round(t * FPS)], 0.0, 1.0)) for b in per_actor]
        for t in KEYFRAMES_S
    }
    still = labels.index("stay_still")
    assert len({boxes[t][still] for t in KEYFRAMES_S}) == 1  # the premise of the track-id test
    return boxes, boxes[0.0][still]


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Setup:
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("actors")
    data = root / "synth"
    write_detect(data, num_videos=1, seed=SEED, size=SIZE, fps=FPS, duration=DURATION_S)
    models = root / "models"
    _save_random_detector(models / "det_run")
    boxes, still = _ground_truth_boxes()
    proposals = models / "proposals.csv"
    proposals.write_text(
        "".join(f"{VIDEO_ID},{t:g},{','.join(map(str, b))},,1.0\n" for t in KEYFRAMES_S for b in boxes[t])
    )
    profile = models / "actors.yaml"  # paths relative to the profile's folder
    profile.write_text(
        "task: analyze\nshots: {detector: content}\nexports: [ava]\n"
        "actors:\n  detector: det_run\n  persons: {proposals: proposals.csv}\n  every_s: 1.0\n  min_prob: 0.0\n"
    )
    out = root / "out"
    rc = main(["analyze", str(data / "videos" / f"{VIDEO_ID}.mp4"), "--profile", str(profile), "--out", str(out), "-q"])
    return Setup(
        root, data / "videos" / f"{VIDEO_ID}.mp4", models / "det_run", proposals, data / "train.csv",
        data / "label_map.pbtxt", boxes, still, profile, out, rc,
    )  # fmt: skip


def test_actors_are_the_proposals_at_every_keyframe_with_probabilities(setup: Setup) -> None:
    assert setup.rc == 0
    structure = read_structure(setup.out / VIDEO_ID)  # validated against the schema and its rules
    doc = structure.document
    validate_structure(json.loads((setup.out / VIDEO_ID / "structure.json").read_text()))
    actors = doc["actors"]
    assert sorted({a["time_s"] for a in actors}) == list(KEYFRAMES_S)
    for t in KEYFRAMES_S:
        found = sorted(tuple(a["box"]) for a in actors if a["time_s"] == t)
        expected = sorted(setup.boxes[t])
        assert len(found) == len(expected) == 2
        assert found == expected  # the proposals' 4-decimal boxes, exactly
    for a in actors:
        assert a["model"] == "actors"
        assert a["score"] == 1.0  # the proposals' person score
        labels = [x["label"] for x in a["actions"]]
        probs = [x["prob"] for x in a["actions"]]
        assert sorted(labels) == sorted(DETECT_ACTIONS)  # min_prob 0: every action kept
        assert all(0.0 <= p <= 1.0 for p in probs)
        assert probs == sorted(probs, reverse=True)
    assert doc["timings"]["actors"] > 0.0  # the stage ran and was timed (the key is absent without actors)


def test_track_ids_are_stable_for_the_still_actor(setup: Setup) -> None:
    actors = read_structure(setup.out / VIDEO_ID).document["actors"]
    still = [a for a in actors if tuple(a["box"]) == setup.still]
    moving = [a for a in actors if a not in still]
    assert [a["time_s"] for a in still] == list(KEYFRAMES_S)
    assert len({a["track_id"] for a in still}) == 1
    # the moving actor's boxes 1 s apart do not overlap: a new track at each keyframe
    assert len({a["track_id"] for a in moving}) == 3
    assert not {a["track_id"] for a in moving} & {a["track_id"] for a in still}


def test_models_name_the_detector_and_the_proposals(setup: Setup) -> None:
    models = read_structure(setup.out / VIDEO_ID).document["models"]
    det, persons = models["actors"], models["persons"]
    assert det["task"] == "action-detection"
    assert det["name"] == "roi_random"
    assert det["classes"] == list(DETECT_ACTIONS)
    assert det["checkpoint_sha256"] == sha256_file(setup.detector_run / "detector.pt")
    assert Path(det["checkpoint"]).resolve() == (setup.detector_run / "detector.pt").resolve()
    assert det["settings"]["every_s"] == 1.0 and det["settings"]["scores"] == "sigmoid"
    assert persons["task"] == "person-detection"
    assert Path(persons["checkpoint"]).resolve() == setup.proposals.resolve()
    assert persons["checkpoint_sha256"] == sha256_file(setup.proposals)
    assert persons["settings"]["min_score"] == 0.5


def test_ava_export_is_read_by_eval_ava(setup: Setup, capsys: pytest.CaptureFixture[str]) -> None:
    folder = setup.out / VIDEO_ID
    doc = read_structure(folder).document
    ava, label_map = folder / "ava.csv", folder / "ava.label_map.pbtxt"
    with ava.open() as fh:
        rows = list(csv.reader(fh))
    assert len(rows) == len(doc["actors"]) * len(DETECT_ACTIONS)
    boxes = {(round(a["time_s"]), *a["box"]) for a in doc["actors"]}
    assert {(int(r[1]), *map(float, r[2:6])) for r in rows} == boxes
    assert {r[0] for r in rows} == {VIDEO_ID}
    capsys.readouterr()
    args = ["eval", "ava", str(setup.ground_truth), str(ava), "--labelmap", str(label_map), "--json"]
    assert main(args) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["num_detections"] == len(rows)  # every row read
    assert metrics["num_keyframes"] == 2 and metrics["num_ground_truth"] == 4  # the synth's keyframes 1 and 2 s
    assert 0.0 <= metrics["mAP"] <= 1.0


def test_report_embeds_the_actors(setup: Setup) -> None:
    page = (setup.out / VIDEO_ID / "report.html").read_text()
    match = re.search(r'<script type="application/json" id="vidstruct-data">(.*?)</script>', page, re.S)
    assert match is not None
    embedded = json.loads(match.group(1))
    doc = read_structure(setup.out / VIDEO_ID).document
    found = embedded.get("document", embedded)
    assert found["actors"] == doc["actors"]


def _error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


def test_bad_detectors_are_one_line(setup: Setup, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["analyze", str(setup.video), "--out", str(tmp_path / "o"), "--shots", "none", "-q"]
    missing = tmp_path / "no_such_run"
    assert main([*base, "--detector", str(missing), "--persons-proposals", str(setup.proposals)]) == 2
    err = _error(capsys)
    assert str(missing) in err and "not found" in err
    recognizer = save_backbone(tmp_path / "model.pt")
    assert main([*base, "--detector", str(recognizer), "--persons-proposals", str(setup.proposals)]) == 2
    err = _error(capsys)
    assert str(recognizer) in err and "recognition model checkpoint" in err and "--recognizer" in err
    assert main([*base, "--detector", str(tmp_path)]) == 2  # a recognition run directory, no person boxes
    assert "actors.persons" in _error(capsys)
    assert main([*base, "--detector", str(tmp_path), "--persons-proposals", str(setup.proposals)]) == 2
    err = _error(capsys)
    assert "recognition run (model.pt)" in err and "--recognizer" in err
    bad = tmp_path / "bad.csv"
    bad.write_text(f"{VIDEO_ID},1,0.1,abc,0.5,0.5,,1.0\n")
    assert main([*base, "--detector", str(setup.detector_run), "--persons-proposals", str(bad)]) == 2
    err = _error(capsys)
    assert str(bad) in err and "y1" in err
    assert main([*base, "--detector", str(setup.detector_run), "--person-detector", "fasterrcnn_resnet50_fpn_v2"]) == 2
    assert "actors.persons.detector_weights" in _error(capsys)
    # a profile naming a missing proposals file: the resolved path in one line
    profile = tmp_path / "p.yaml"
    profile.write_text(
        f"task: analyze\nactors:\n  detector: {setup.detector_run}\n  persons: {{proposals: gone.csv}}\n"
    )
    assert main(["analyze", str(setup.video), "--out", str(tmp_path / "o"), "--profile", str(profile), "-q"]) == 2
    err = _error(capsys)
    assert str(tmp_path / "gone.csv") in err
    assert not (tmp_path / "o" / VIDEO_ID / "structure.json").exists()


def test_person_boxes_from_a_person_detector_run(setup: Setup, tmp_path: Path) -> None:
    # a random-weight fcos_tiny saved as `vidstruct train` does (RUN/person_detector.pt): the chain is checked
    torch.manual_seed(0)
    kwargs = {"width": 8, "out_channels": 32, "image_size": 64}
    run = tmp_path / "persons"
    file = save_person_detector(
        run / "person_detector.pt", build_person_detector("fcos_tiny", **kwargs).eval(), model_name="fcos_tiny",
        model_kwargs=kwargs,
    )  # fmt: skip
    out = tmp_path / "out"
    args = [
        "analyze", str(setup.video), "--out", str(out), "--shots", "none", "--detector", str(setup.detector_run),
        "--person-detector", str(run), "--set", "actors.min_person_score=0", "--set", "actors.every_s=1.5", "-q",
    ]  # fmt: skip
    assert main(args) == 0
    doc = read_structure(out / VIDEO_ID).document
    persons = doc["models"]["persons"]
    assert persons["task"] == "person-detection" and persons["name"] == "persons"  # the run directory's name
    assert Path(persons["checkpoint"]).resolve() == file.resolve()
    assert persons["checkpoint_sha256"] == sha256_file(file)
    assert doc["models"]["actors"]["settings"]["every_s"] == 1.5
    assert doc["actors"], "a score threshold of 0 keeps the untrained detector's boxes"
    assert {a["time_s"] for a in doc["actors"]} <= {0.0, 1.5}
    for a in doc["actors"]:
        x1, y1, x2, y2 = a["box"]
        assert 0 <= x1 <= x2 <= 1 and 0 <= y1 <= y2 <= 1 and 0 <= a["score"] <= 1


def test_actor_settings_resolve_against_the_profile_and_enter_its_hash(tmp_path: Path) -> None:
    folder = tmp_path / "profiles"
    folder.mkdir()
    (folder / "boxes.csv").write_text(f"{VIDEO_ID},1,0.1,0.1,0.5,0.5,,1.0\n")
    profile = folder / "p.yaml"
    profile.write_text(
        "task: analyze\nactors:\n  detector: runs/det\n"
        "  persons: {detector: fasterrcnn_mobilenet_v3_large_320_fpn, detector_weights: w/frcnn.pth}\n"
    )
    settings = analyze_settings(*load_profile(profile))
    actors = settings.actors
    assert actors.detector == str(folder / "runs" / "det")
    assert actors.person_detector == "fasterrcnn_mobilenet_v3_large_320_fpn"  # a model name, not a path
    assert actors.person_weights == str(folder / "w" / "frcnn.pth")
    assert (actors.every_s, actors.min_prob, actors.min_person_score) == (1.0, 0.3, 0.5)

    def hashed(text: str) -> str:
        profile.write_text(text)
        return analyze_settings(*load_profile(profile)).profile_sha256  # type: ignore[return-value]

    base = "task: analyze\nactors:\n  detector: runs/det\n  persons: {proposals: boxes.csv}\n"
    first = hashed(base)
    assert hashed(base + "  every_s: 0.5\n") != first
    (folder / "boxes.csv").write_text(f"{VIDEO_ID},1,0.1,0.1,0.6,0.5,,1.0\n")  # other boxes: other results
    assert hashed(base) != first


def test_actor_profile_errors_name_the_keys(setup: Setup, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    profile = tmp_path / "p.yaml"
    profile.write_text(
        "task: analyze\nactors:\n  detector: det\n  persons: {proposals: a.csv, detector: persons_run}\n"
    )
    base = ["analyze", str(setup.video), "--out", str(tmp_path / "o"), "-q"]
    assert main([*base, "--profile", str(profile)]) == 2
    err = _error(capsys)
    assert "actors.persons: give one person-box source" in err and str(profile) in err
    profile.write_text("task: analyze\nactors:\n  persons: {detector_weights: w.pth}\n")
    assert main([*base, "--profile", str(profile)]) == 2
    assert "actors.persons.detector_weights is set but actors.persons.detector" in _error(capsys)
    profile.write_text("task: analyze\nactors:\n  every_s: 0\n")
    assert main([*base, "--profile", str(profile)]) == 2
    assert "actors.every_s" in _error(capsys)


def test_a_video_without_actors_gets_an_empty_ava_export_and_is_done(
    setup: Setup, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = tmp_path / "other.csv"  # boxes of another video only
    other.write_text("synth_00001,1,0.1,0.1,0.5,0.5,,1.0\n")
    args = ["analyze", str(setup.video), "--out", str(tmp_path / "o"), "--shots", "none", "--no-report", "--detector",
            str(setup.detector_run), "--persons-proposals", str(other), "--export", "ava", "-q", "--json"]  # fmt: skip
    assert main(args) == 0
    capsys.readouterr()
    folder = tmp_path / "o" / VIDEO_ID
    doc = read_structure(folder).document
    assert doc["actors"] == [] and "actors" in doc["models"]
    assert any("AVA export" in w for w in doc["warnings"])
    assert (folder / "ava.csv").read_text() == ""
    assert (folder / "ava.label_map.pbtxt").read_text().count("item {") == len(DETECT_ACTIONS)
    assert main(args) == 0  # complete: the rerun skips it
    assert json.loads(capsys.readouterr().out)["skipped"] == [VIDEO_ID]


def test_ava_export_without_a_detector_is_a_usage_error(
    setup: Setup, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["analyze", str(setup.video), "--out", str(tmp_path / "o"), "--export", "ava", "-q"]
    assert main(args) == 2
    err = _error(capsys)
    assert "--export ava" in err and "actors.detector" in err
