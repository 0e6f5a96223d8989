"""Helpers of the feature-extraction tests: a tiny recognition checkpoint and short 64 px videos."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch

from vidstruct.io import write_video
from vidstruct.models import MODELS
from vidstruct.models.checkpoint import save_model_checkpoint

CLASSES = ["left", "right", "up"]
FPS = 10
#: 4 frames per clip at 8 fps -> the default window is 4 * 2 / 8 = 1 s
SPEC = {"num_frames": 4, "frame_interval": 2, "crop_size": 48, "short_side": 48, "target_fps": 8.0}


def tiny_checkpoint(path: Path, seed: int = 0) -> Path:
    """A random-weight r2plus1d_tiny (widths 4) whose input spec is 4 frames at 48 px."""
    torch.manual_seed(seed)
    kwargs = {"widths": [4, 4, 4, 4]}
    model = MODELS.build("r2plus1d_tiny", num_classes=len(CLASSES), **kwargs)
    model.input_spec = dataclasses.replace(model.input_spec, **SPEC)
    return save_model_checkpoint(path, model.eval(), model_name="r2plus1d_tiny", model_kwargs=kwargs, classes=CLASSES)


def moving_video(path: Path, seconds: float, seed: int, fps: int = FPS, size: int = 64) -> Path:
    """A square moving over a noisy background: ``seconds * fps`` frames, uint8 RGB, H.264."""
    rng = np.random.default_rng(seed)
    n = int(round(seconds * fps))
    base = rng.integers(0, 80, (size, size, 3), dtype=np.uint8)
    color = rng.integers(120, 255, 3, dtype=np.uint8)
    frames = np.repeat(base[None], n, axis=0)
    for t in range(n):
        x = int((size - 16) * t / max(1, n - 1))
        frames[t, 20:36, x : x + 16] = color
    return write_video(path, frames, fps)
