"""Tiny models and videos for the ``vidstruct localize`` tests (random weights, nothing downloaded).

- :func:`save_backbone`: a random-weight ``r2plus1d_tiny`` recognition checkpoint (feature dim 8, the 4
  :data:`BACKBONE_CLASSES`, input spec :data:`SPEC`);
- :func:`save_bmn` / :func:`save_weak`: random-weight tiny BMN / weakly supervised CAS localizers (classes
  :data:`CLASSES`, snippets of :data:`WINDOW_S` s every :data:`STRIDE_S` s) whose metadata points at a backbone;
- :func:`moving_square_video`: a noisy 64 px H.264 video;
- :class:`Kit`: the files of the session ``kit`` fixture (``conftest.py``); test modules import it from here, never
  from ``conftest`` (every test folder's conftest is a module named ``conftest``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from vidstruct.io import write_video
from vidstruct.models import MODELS
from vidstruct.models.checkpoint import save_model_checkpoint, sha256_file
from vidstruct.models.localization.checkpoint import save_localizer
from vidstruct.models.spec import InputSpec

BACKBONE_CLASSES = ["left", "right", "up", "down"]
CLASSES = ["up", "left", "right"]  # a subset in another order: class fusion maps by name
WINDOW_S, STRIDE_S, T = 1.0, 0.5, 16
SPEC = InputSpec(num_frames=4, frame_interval=2, crop_size=48, short_side=56, target_fps=10.0)
BMN_KWARGS = {
    "feat_dim": 8, "temporal_scale": T, "max_duration": 8, "num_sample": 4, "num_sample_perbin": 1,
    "hidden_dim_1d": 8, "hidden_dim_2d": 8, "hidden_dim_3d": 16,
}  # fmt: skip


def save_backbone(path: Path, seed: int) -> Path:
    """A random-weight ``r2plus1d_tiny`` (feature dim 8) with a small input spec."""
    torch.manual_seed(seed)
    kwargs = {"widths": [4, 4, 4, 8]}
    model = MODELS.build("r2plus1d_tiny", num_classes=len(BACKBONE_CLASSES), **kwargs)
    model.input_spec = SPEC
    return save_model_checkpoint(
        path, model.eval(), model_name="r2plus1d_tiny", model_kwargs=kwargs, classes=BACKBONE_CLASSES
    )


def save_bmn(path: Path, backbone: Path, seed: int = 0, temporal_scale: int = T, **features: object) -> Path:
    """A random-weight tiny BMN localizer whose metadata points at ``backbone``."""
    torch.manual_seed(seed)
    kwargs = {**BMN_KWARGS, "temporal_scale": temporal_scale, "max_duration": min(8, temporal_scale)}
    model = MODELS.build("bmn", **kwargs)
    meta = {
        "backbone_checkpoint": str(backbone.resolve()),
        "backbone_sha256": sha256_file(backbone),
        "backbone_model": "r2plus1d_tiny",
        "backbone_classes": BACKBONE_CLASSES,
        "config_hash": "test",
        "window_s": WINDOW_S,
        "stride_s": STRIDE_S,
        "feature_dim": 8,
        "temporal_scale": temporal_scale,
        "mode": "rescale",
        "window_stride": None,
        **features,
    }
    post = {"fusion": "snippet", "fusion_top_k": 2, "max_segments": 30}
    return save_localizer(
        path, model, model_name="bmn", model_kwargs=kwargs, classes=CLASSES, features=meta, postprocess=post
    )


def save_weak(path: Path, backbone: Path, seed: int = 0) -> Path:
    """A random-weight weakly supervised CAS localizer (its own classes: fusion ``cas``)."""
    torch.manual_seed(seed)
    kwargs = {"feat_dim": 8, "num_classes": len(CLASSES), "hidden_dim": 16}
    model = MODELS.build("weak_cas", **kwargs)
    meta = {
        "backbone_checkpoint": str(backbone.resolve()),
        "backbone_sha256": sha256_file(backbone),
        "window_s": WINDOW_S,
        "stride_s": STRIDE_S,
        "feature_dim": 8,
        "temporal_scale": T,
    }
    return save_localizer(
        path, model, model_name="weak_cas", model_kwargs=kwargs, classes=CLASSES, features=meta,
        postprocess={"fusion": "cas"},
    )  # fmt: skip


def moving_square_video(path: Path, seconds: float, fps: float = 10.0, size: int = 64, seed: int = 0) -> Path:
    """A noisy 64 px video with a square that moves during the middle third (uint8 frames, H.264)."""
    rng = np.random.default_rng(seed)
    n = int(round(seconds * fps))
    frames = rng.integers(0, 40, (n, size, size, 3), dtype=np.uint8)
    for i in range(n):
        x = int(np.clip((i - n / 3) / (n / 3), 0, 1) * (size - 16))
        frames[i, 24:40, x : x + 16] = 220
    return write_video(path, frames, fps)


@dataclass(frozen=True)
class Kit:
    """The files of the session ``kit`` fixture, under ``root``."""

    root: Path
    backbone: Path
    other_backbone: Path  # same architecture and classes, other weights (another sha256)
    localizer: Path
    video: Path  # 5 s
    short_video: Path  # 4 s
