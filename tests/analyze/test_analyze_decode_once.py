"""Each video is decoded once: one reader, one forward decode pass, every frame out of the decoder once, however
many stages (shots, recognition windows, the localizer's own snippets, thumbnails) take frames from it."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from analyzekit import Kit, count_decodes

from vidstruct.io import VideoReader
from vidstruct.pipeline.analyze import (
    AnalyzeSettings,
    LocalizationSettings,
    RecognitionSettings,
    ShotSettings,
    ThumbnailSettings,
    analyze_video,
    load_models,
)
from vidstruct.structure import read_structure

# the modules (``vidstruct.io.probe`` is also the name of the function the package exports)


def test_every_stage_is_fed_from_one_decode_pass(kit: Kit, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = AnalyzeSettings(
        shots=ShotSettings("content"),
        # 0.8 s windows: not the localizer's 1.0 s snippets, so the backbone runs on two sets of windows
        recognition=RecognitionSettings(str(kit.backbone), window_s=0.8, stride_s=0.4),
        localization=LocalizationSettings(str(kit.localizer)),
        report=False,
        device="cpu",
    )
    models = load_models(settings)
    assert models.localizer_backbone is not None  # a second window stage really exists

    counted = count_decodes(monkeypatch)

    analyze_video(models, kit.video, tmp_path)
    doc = read_structure(tmp_path / "two_shots").document
    frames = doc["video"]["num_frames"]
    assert frames == 60
    # one container for the analysis (probe reads the header and the first frame, before)
    assert counted.opens == Counter({"reader": 1, "probe": 1})
    # one decode pass that produced each of the 60 frames exactly once (the shot detector needs them all)
    assert counted.passes == [(str(kit.video), frames, frames)]
    # and every stage got its frames from it
    assert doc["shots"] and doc["windows"] and doc["segments"] and doc["thumbnails"]
    assert len(doc["windows"]) == 15  # 0.8 s windows every 0.4 s over 6 s: starts 0 ... 5.6
    assert doc["models"]["localizer_backbone"]["settings"]["window_s"] == 1.0
    assert {"recognition", "snippets"} <= set(doc["timings"])


def test_without_shot_detection_only_the_frames_the_windows_need_are_decoded(kit: Kit, tmp_path: Path) -> None:
    settings = AnalyzeSettings(
        shots=ShotSettings("none"),
        recognition=RecognitionSettings(str(kit.backbone), window_s=1.0, stride_s=2.0),
        thumbnails=ThumbnailSettings(fps=0.5),
        report=False,
        device="cpu",
    )
    converted: list[int] = []
    real_decoded, real_to_rgb = VideoReader.iter_decoded, VideoReader.to_rgb
    current: list[int] = []

    def decoded(self: VideoReader, indices: Any) -> Iterator[Any]:
        for index, frame in real_decoded(self, indices):
            current[:] = [index]
            yield index, frame

    def to_rgb(self: VideoReader, frame: Any, size: Any = None) -> Any:
        converted.append(current[0])
        return real_to_rgb(self, frame, size)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(VideoReader, "iter_decoded", decoded)
        mp.setattr(VideoReader, "to_rgb", to_rgb)
        analyze_video(load_models(settings), kit.video, tmp_path)
    # windows at 0, 2, 4 s hold 4 samples 0.25 s apart (10 fps: frames 0, 2, 5, 7 + 20 ...); thumbnails every 2 s
    expected = sorted({w + f for w in (0, 20, 40) for f in (0, 2, 5, 7)} | {0, 20, 40})
    assert converted == expected
    doc = read_structure(tmp_path / "two_shots").document
    assert doc["shots"] == [] and "shots" not in doc["models"] and len(doc["windows"]) == 3
