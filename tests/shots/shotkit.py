"""Helpers of the shot-detection tests (decoding a test video, feeding a detector in chunks)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vidstruct.data.synth.montage import Montage
from vidstruct.pipeline.shots import ShotDetector, ShotResult, iter_detector_frames


def decoded(path: Path, frame_size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """All frames of ``path`` at ``frame_size`` (uint8 [N, h, w, 3]) and their times (seconds)."""
    chunks = list(iter_detector_frames(path, frame_size))
    return np.concatenate([f for f, _ in chunks]), np.concatenate([t for _, t in chunks])


def cut_frames(m: Montage) -> list[int]:
    """First frame of the incoming clip of every hard cut."""
    return [t.start for t in m.transitions if t.kind == "cut"]


def push_in_chunks(
    detector: ShotDetector, frames: np.ndarray, times: np.ndarray, chunk: int, end_s: float | None = None
) -> ShotResult:
    """Feed ``frames`` in chunks of ``chunk`` frames, then close."""
    for i in range(0, len(frames), chunk):
        detector.push(frames[i : i + chunk], times[i : i + chunk])
    return detector.close(end_s=end_s)
