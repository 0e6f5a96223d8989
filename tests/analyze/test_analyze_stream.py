"""Streaming: the window stage holds only the windows overlapping one instant, whatever the video's length, and a
video shorter than one window still gets its (padded) window and a warning."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from analyzekit import Kit, two_shot_video

from vidstruct.io import VideoReader
from vidstruct.pipeline.analyze import AnalyzeSettings, RecognitionSettings, ShotSettings, analyze_video, load_models
from vidstruct.pipeline.analyze import video as video_module
from vidstruct.pipeline.analyze.taps import decode_once
from vidstruct.pipeline.analyze.thumbnails import ThumbnailTap
from vidstruct.pipeline.analyze.windows import WindowTap, plan_windows
from vidstruct.pipeline.recognizer import Recognizer
from vidstruct.structure import read_structure


def test_window_buffers_stay_bounded(kit: Kit) -> None:
    recognizer = Recognizer.from_checkpoint(kit.backbone, device="cpu")
    reader = VideoReader(kit.video, short_side=56)
    window_s, stride_s, frames = 1.0, 0.25, recognizer.spec.num_frames
    plan = plan_windows(reader.index, window_s, stride_s, frames)
    tap = WindowTap("recognition", recognizer, plan, batch_size=3)
    decode_once(reader, [tap])
    outputs = tap.outputs()
    assert plan.num_windows == 24 and outputs.features.shape == (24, 8) and outputs.probs is not None
    # at most the windows overlapping one instant (ceil(window / stride) = 4) are being filled at once, and
    # fewer than a batch (3) of complete windows wait for their batch
    assert 0 < tap.peak_frames_held <= (math.ceil(window_s / stride_s) + 3 - 1) * frames
    assert tap.peak_frames_held < plan.num_windows * frames


def test_a_video_shorter_than_a_window(kit: Kit, tmp_path: Path) -> None:
    video = two_shot_video(tmp_path / "short.mp4", 0.5, cut_s=None)
    settings = AnalyzeSettings(
        shots=ShotSettings("content"),
        recognition=RecognitionSettings(str(kit.backbone), window_s=1.0, stride_s=0.5),
        report=False,
        device="cpu",
    )
    analyze_video(load_models(settings), video, tmp_path / "out")
    doc = read_structure(tmp_path / "out" / "short").document
    assert [(w["start_s"], w["end_s"]) for w in doc["windows"]] == [(0.0, 0.5)]
    assert doc["embeddings"]["rows"] == 1
    assert len(doc["warnings"]) == 1 and "shorter than one recognition window (1 s)" in doc["warnings"][0]


def test_onnxruntime_gives_the_probabilities_of_pytorch(kit: Kit, tmp_path: Path) -> None:
    def windows(engine: str) -> tuple[list, np.ndarray]:
        settings = AnalyzeSettings(
            shots=ShotSettings("none"),
            recognition=RecognitionSettings(str(kit.backbone), window_s=1.0, stride_s=0.5, top_k=0),
            report=False,
            engine=engine,
            device="cpu",
        )
        models = load_models(settings)
        assert models.recognizer is not None and models.recognizer.engine == engine
        analyze_video(models, kit.one_shot, tmp_path / engine)
        structure = read_structure(tmp_path / engine / "one_shot")
        assert structure.document["models"]["recognizer"]["settings"]["engine"] == engine
        return structure.document["windows"], np.asarray(structure.embeddings)

    eager, eager_emb = windows("torch")
    onnx, onnx_emb = windows("onnxruntime")
    assert len(eager) == len(onnx) == 4
    for a, b in zip(eager, onnx):
        probs = {t["label"]: t["prob"] for t in b["top"]}
        assert probs == pytest.approx({t["label"]: t["prob"] for t in a["top"]}, abs=1e-3)
    np.testing.assert_allclose(onnx_emb, eager_emb, atol=1e-4)


def test_a_video_that_fails_mid_stream_leaves_the_models_ready_for_the_next(
    kit: Kit, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    models = load_models(AnalyzeSettings(shots=ShotSettings("content"), report=False, device="cpu"))

    class EagerShotTap(video_module.ShotTap):  # pushes every frame to the detector at once
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, chunk_frames=1)

    failures = []
    real_feed = ThumbnailTap.feed

    def failing_feed(self: ThumbnailTap, index: int, frame: object) -> None:
        if index == 30 and not failures:
            failures.append(index)
            raise RuntimeError("decoder crashed")
        real_feed(self, index, frame)  # type: ignore[arg-type]

    monkeypatch.setattr(video_module, "ShotTap", EagerShotTap)
    monkeypatch.setattr(ThumbnailTap, "feed", failing_feed)
    with pytest.raises(RuntimeError, match="decoder crashed"):
        analyze_video(models, kit.video, tmp_path)
    analyze_video(models, kit.video, tmp_path)  # the detector forgot the 31 frames of the failed run
    shots = read_structure(tmp_path / "two_shots").document["shots"]
    assert [(s["start_s"], s["end_s"]) for s in shots] == [(0.0, 3.0), (3.0, 6.0)]
