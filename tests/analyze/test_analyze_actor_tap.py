"""Actors in analyze's single decode pass (:mod:`vidstruct.pipeline.analyze.actor_tap`): one decode pass with an
action detector and a person detector, the same actors as ``detect_actions`` (boxes, track ids, probabilities),
and only the frames of open clips held.

A non-square 80 × 48 video (10 fps, 4 s) of two rectangles moving over noise; a random-weight action detector
(relation head: the actors of a clip attend to each other, so padding and masks matter) at 32 px, 4 frames 2
apart (clips span 0.6 s); person boxes from a proposals file (one keyframe without rows) or from a random-weight
``fcos_tiny`` person detector at score 0.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from analyzekit import Kit, count_decodes

from vidstruct.data.synth.actions import DETECT_ACTIONS
from vidstruct.io import VideoReader, write_video
from vidstruct.models.detection import build_action_detector, load_detector, save_detector
from vidstruct.models.persons.builders import build_person_detector
from vidstruct.models.persons.checkpoint import save_person_detector
from vidstruct.pipeline.analyze import AnalyzeSettings, RecognitionSettings, ShotSettings, analyze_video, load_models
from vidstruct.pipeline.analyze.actor_tap import ActorTap
from vidstruct.pipeline.analyze.settings import ActorSettings
from vidstruct.pipeline.analyze.taps import decode_once
from vidstruct.pipeline.detection import DetectionResult, detect_actions
from vidstruct.pipeline.persons import person_box_source
from vidstruct.structure import read_structure

WIDTH, HEIGHT, FPS, DURATION_S = 80, 48, 10.0, 4.0
NUM_FRAMES, INTERVAL, DET_SIZE = 4, 2, 32
VIDEO_ID = "actors_wide"


@dataclass(frozen=True)
class Setup:
    video: Path
    detector: Path
    persons_run: Path
    proposals: Path


def _video(path: Path) -> Path:
    rng = np.random.default_rng(5)
    n = int(DURATION_S * FPS)
    frames = rng.integers(0, 60, (n, HEIGHT, WIDTH, 3), dtype=np.uint8)
    for i in range(n):
        x = 4 + i
        frames[i, 8:40, x : x + 14] = (220, 120, 40)  # moves right
        frames[i, 20 - i // 4 : 44 - i // 4, 60:72] = (40, 200, 90)  # moves up slowly
    return write_video(path, frames, FPS)


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Setup:
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("actor_tap")
    video = _video(root / f"{VIDEO_ID}.mp4")
    torch.manual_seed(0)
    builder = {
        "backbone": "r2plus1d_tiny", "num_classes": len(DETECT_ACTIONS), "backbone_kwargs": {"widths": [4, 4, 8, 8]},
        "head": "relation", "roi_size": 2, "dropout": 0.0, "relation_dim": 8, "relation_layers": 1,
        "relation_heads": 1, "relation_dropout": 0.0,
    }  # fmt: skip
    prep = {
        "num_frames": NUM_FRAMES, "frame_interval": INTERVAL, "target_fps": FPS, "size": DET_SIZE,
        "mean": [0.45, 0.45, 0.45], "std": [0.225, 0.225, 0.225],
    }  # fmt: skip
    detector = save_detector(
        root / "det" / "detector.pt", build_action_detector(**builder).eval(), name="relation_random",
        builder=builder, classes=list(DETECT_ACTIONS), class_ids=list(range(1, len(DETECT_ACTIONS) + 1)),
        preprocessing=prep,
    )  # fmt: skip
    torch.manual_seed(1)
    kwargs = {"width": 8, "out_channels": 32, "image_size": 64}
    save_person_detector(
        root / "persons" / "person_detector.pt", build_person_detector("fcos_tiny", **kwargs).eval(),
        model_name="fcos_tiny", model_kwargs=kwargs,
    )  # fmt: skip
    proposals = root / "proposals.csv"
    rows = []
    for t in (0.0, 0.3, 0.6, 0.9, 1.2, 1.8, 2.1, 3.0, 3.3, 3.6, 3.9):  # every 0.3 s; no rows at 1.5, 2.4, 2.7
        i = round(t * FPS)
        rows.append(f"{VIDEO_ID},{t:g},{(4 + i) / WIDTH:.4f},{8 / HEIGHT:.4f},{(18 + i) / WIDTH:.4f},0.8333,,0.9")
        rows.append(f"{VIDEO_ID},{t:g},0.75,{(20 - i // 4) / HEIGHT:.4f},0.9,{(44 - i // 4) / HEIGHT:.4f},,0.8")
    proposals.write_text("\n".join(rows) + "\n")
    return Setup(video, detector, root / "persons", proposals)


def _persons(setup: Setup, kind: str, batch_size: int = 8) -> Any:
    if kind == "proposals":
        return person_box_source(proposals=setup.proposals)
    return person_box_source(detector=setup.persons_run, min_score=0.0, batch_size=batch_size)


def _tap_result(
    setup: Setup, kind: str, every_s: float, batch_size: int = 8, chunk: int = 32
) -> tuple[DetectionResult, ActorTap]:
    bundle = load_detector(setup.detector)
    reader = VideoReader(setup.video)
    try:
        tap = ActorTap(
            str(setup.video), reader.index, (WIDTH, HEIGHT), bundle, _persons(setup, kind, batch_size),
            every_s=every_s, batch_size=batch_size, chunk=chunk,
        )  # fmt: skip
        decode_once(reader, tap.taps)
    finally:
        reader.close()
    assert tap.result is not None
    return tap.result, tap


def _assert_same_actors(got: DetectionResult, expected: DetectionResult) -> None:
    assert [kf.time_s for kf in got.keyframes] == [kf.time_s for kf in expected.keyframes]
    for a, b in zip(got.keyframes, expected.keyframes):
        assert len(a.actors) == len(b.actors)
        for x, y in zip(a.actors, b.actors):
            assert x.track_id == y.track_id
            np.testing.assert_allclose(x.box, y.box, rtol=0, atol=1e-5)
            assert abs(x.score - y.score) <= 1e-5
            np.testing.assert_allclose(x.probs, y.probs, rtol=0, atol=1e-5)


@pytest.mark.parametrize(
    "kind, batch_size, chunk",
    [("proposals", 8, 32), ("proposals", 3, 5), ("detector", 8, 32), ("detector", 3, 5)],  # 5: batches end at chunks
)
def test_the_tap_finds_what_detect_actions_finds(setup: Setup, kind: str, batch_size: int, chunk: int) -> None:
    every_s = 0.3  # clips (0.6 s) overlap and share frames
    got, _ = _tap_result(setup, kind, every_s, batch_size, chunk)
    expected = detect_actions(
        setup.video, load_detector(setup.detector), _persons(setup, kind, batch_size), every_s=every_s,
        batch_size=batch_size, chunk=chunk,
    )  # fmt: skip
    assert len(expected.keyframes) == 14  # 0, 0.3, ... 3.9
    counts = [len(kf.actors) for kf in expected.keyframes]
    if kind == "proposals":
        assert counts == [2, 2, 2, 2, 2, 0, 2, 2, 0, 0, 2, 2, 2, 2]
        assert len({a.track_id for kf in expected.keyframes for a in kf.actors}) > 2  # ids really assigned
    else:
        assert min(counts) > 0  # score 0: the random detector's boxes everywhere
    _assert_same_actors(got, expected)
    assert got.video_id == VIDEO_ID and got.model == expected.model and got.persons == expected.persons


def _clip_rows(every_s: float) -> list[list[int]]:
    """Each keyframe's clip frames, computed here: times t + (j - 2) * 0.2 s at 10 fps, clamped to the video."""
    n = int(DURATION_S * FPS)
    times = [k * every_s for k in range(int(np.ceil(DURATION_S / every_s - 1e-9)))]
    return [
        [min(n - 1, max(0, int(np.floor((t + (j - NUM_FRAMES // 2) * INTERVAL / FPS) * FPS + 1e-6)))) for j in range(4)]
        for t in times
    ]


def test_only_the_frames_of_open_clips_are_held(setup: Setup) -> None:
    every_s = 0.3
    _, tap = _tap_result(setup, "proposals", every_s)
    no_boxes = {5, 8, 9}  # keyframes 1.5, 2.4 and 2.7 s: no rows in the proposals file, so no clip
    rows = [row for k, row in enumerate(_clip_rows(every_s)) if k not in no_boxes]
    # after frame i is fed: the frames up to i of every clip that started and had not ended before i
    needed = [
        len({f for row in rows if min(row) <= i <= max(row) for f in row if f <= i})
        for i in sorted({f for row in rows for f in row})
    ]
    # e.g. at frame 8: clip 0.6 s's frames 2, 4, 6, 8 (it ends there), 0.9 s's 5, 7 and 1.2 s's 8
    assert tap.peak_frames_held == max(needed) == 6
    assert tap.peak_frames_held < len({f for row in rows for f in row})  # not the whole video
    assert tap.frame_size == (53, 32)  # the detector's reader: short side 32, aspect kept (80 × 48 → 53 × 32)


def test_one_decode_pass_with_a_person_detector_and_actors(
    kit: Kit, setup: Setup, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = AnalyzeSettings(
        shots=ShotSettings("content"),
        recognition=RecognitionSettings(str(kit.backbone), window_s=0.8, stride_s=0.4),
        actors=ActorSettings(
            detector=str(setup.detector),
            person_detector=str(setup.persons_run),
            every_s=1.0,
            min_prob=0.0,
            min_person_score=0.0,
        ),  # fmt: skip
        report=False,
        device="cpu",
    )
    models = load_models(settings)
    with monkeypatch.context() as mp:
        counted = count_decodes(mp)
        analyze_video(models, setup.video, tmp_path)
    frames = int(DURATION_S * FPS)
    assert counted.opens == Counter({"reader": 1, "probe": 1})  # no reader of the action or person detector's own
    assert counted.passes == [(str(setup.video), frames, frames)]  # one pass; every frame out of the decoder once
    doc = read_structure(tmp_path / VIDEO_ID).document
    assert doc["windows"] and doc["timings"]["actors"] > 0 and "persons" not in doc["timings"]
    # the document's actors: detect_actions' (boxes to 6 decimals, probabilities to 4)
    assert models.actors is not None
    expected = detect_actions(setup.video, models.actors.detector, models.actors.persons, every_s=1.0)
    records = [(kf.time_s, a) for kf in expected.keyframes for a in kf.actors]
    assert len(doc["actors"]) == len(records) > 0
    for got, (time_s, a) in zip(doc["actors"], records):
        assert got["time_s"] == time_s and got["track_id"] == a.track_id
        np.testing.assert_allclose(got["box"], a.box, rtol=0, atol=1e-5)
        probs = {x["label"]: x["prob"] for x in got["actions"]}
        want = {x["label"]: x["prob"] for x in expected.actions(a, 0.0)}
        assert probs.keys() == want.keys()
        assert all(abs(probs[k] - want[k]) <= 1e-4 + 1e-9 for k in want)


def test_a_proposals_file_needs_no_frame_of_its_own(setup: Setup) -> None:
    bundle = load_detector(setup.detector)
    reader = VideoReader(setup.video)
    try:
        tap = ActorTap(str(setup.video), reader.index, (WIDTH, HEIGHT), bundle, _persons(setup, "proposals"))
        assert tap.taps == [tap]  # no person tap: boxes come from the file
        rows = _clip_rows(1.0)  # keyframes 0, 1, 2, 3 s: the file has boxes at 0 and 3 s only
        assert tap.indices().tolist() == sorted(set(rows[0]) | set(rows[3])) == [0, 2, 26, 28, 30, 32]
    finally:
        reader.close()
