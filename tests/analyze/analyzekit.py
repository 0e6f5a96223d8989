"""Tiny models and videos for the ``vidstruct analyze`` tests (random or constructed weights, nothing downloaded).

- :func:`save_backbone`: an ``r2plus1d_tiny`` recognition checkpoint (feature dim 8, 4 classes); with
  ``constant=c`` its classifier ignores the clip (zero weights) and its bias makes class ``c`` the top class
  everywhere with probability :data:`CONSTANT_PROB` (softmax of ``[2, 0, 0, 0]``), a golden value by construction;
- :func:`save_bmn`: a random-weight tiny BMN localizer whose metadata points at a backbone;
- :func:`two_shot_video`: a 64 px video whose background colour changes at ``cut_s`` (one hard cut) with a
  square moving over it;
- :class:`Kit`: the paths of the session ``kit`` fixture (``conftest.py``); test modules import it from here, never
  from ``conftest`` (every test folder's conftest is a module named ``conftest``).
"""

from __future__ import annotations

import importlib
import math
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from vidstruct.io import VideoReader, write_video
from vidstruct.models import MODELS
from vidstruct.models.checkpoint import save_model_checkpoint, sha256_file
from vidstruct.models.localization.checkpoint import save_localizer
from vidstruct.models.spec import InputSpec

CLASSES = ["left", "right", "up", "down"]
LOC_CLASSES = ["up", "left", "right"]
SPEC = InputSpec(num_frames=4, frame_interval=2, crop_size=48, short_side=56, target_fps=10.0)
SNIPPET_WINDOW_S, SNIPPET_STRIDE_S, T = 1.0, 0.5, 16
#: probability of the top class of a constant backbone: softmax([2, 0, 0, 0])[0]
CONSTANT_PROB = math.exp(2) / (math.exp(2) + 3)


@dataclass(frozen=True)
class Kit:
    """The files of the session ``kit`` fixture: tiny checkpoints and 64 px videos under ``root``."""

    root: Path
    backbone: Path  # random weights
    constant: Path  # class 0 ("left") on top everywhere, probability CONSTANT_PROB
    localizer: Path  # BMN on `backbone`'s snippets (1.0 s every 0.5 s)
    video: Path  # 6 s, 10 fps, one cut at 3.0 s
    one_shot: Path  # 2 s, no cut


def save_backbone(path: Path, seed: int = 0, *, constant: int | None = None) -> Path:
    torch.manual_seed(seed)
    kwargs = {"widths": [4, 4, 4, 8]}
    model = MODELS.build("r2plus1d_tiny", num_classes=len(CLASSES), **kwargs)
    model.input_spec = SPEC
    if constant is not None:
        with torch.no_grad():
            model.head.fc.weight.zero_()
            model.head.fc.bias.zero_()
            model.head.fc.bias[constant] = 2.0
    return save_model_checkpoint(path, model.eval(), model_name="r2plus1d_tiny", model_kwargs=kwargs, classes=CLASSES)


def save_bmn(path: Path, backbone: Path, seed: int = 0) -> Path:
    torch.manual_seed(seed)
    kwargs = {
        "feat_dim": 8, "temporal_scale": T, "max_duration": 8, "num_sample": 4, "num_sample_perbin": 1,
        "hidden_dim_1d": 8, "hidden_dim_2d": 8, "hidden_dim_3d": 16,
    }  # fmt: skip
    meta = {
        "backbone_checkpoint": str(backbone.resolve()),
        "backbone_sha256": sha256_file(backbone),
        "backbone_model": "r2plus1d_tiny",
        "backbone_classes": CLASSES,
        "config_hash": "test",
        "window_s": SNIPPET_WINDOW_S,
        "stride_s": SNIPPET_STRIDE_S,
        "feature_dim": 8,
        "temporal_scale": T,
        "mode": "rescale",
        "window_stride": None,
    }
    post = {"fusion": "snippet", "fusion_top_k": 2, "max_segments": 30}
    model = MODELS.build("bmn", **kwargs)
    return save_localizer(
        path, model, model_name="bmn", model_kwargs=kwargs, classes=LOC_CLASSES, features=meta, postprocess=post
    )


def two_shot_video(
    path: Path, seconds: float = 6.0, *, cut_s: float | None = 3.0, fps: float = 10.0, size: int = 64, seed: int = 0
) -> Path:
    """H.264, ``size`` px square: a dark blue background until ``cut_s``, then a light orange one (None: no cut),
    a grey square moving left to right, a little noise."""
    rng = np.random.default_rng(seed)
    n = int(round(seconds * fps))
    frames = np.empty((n, size, size, 3), dtype=np.uint8)
    for i in range(n):
        before = cut_s is None or i < round(cut_s * fps)
        frames[i] = (20, 30, 120) if before else (230, 160, 60)
        x = int(i * (size - 16) / max(1, n - 1))
        frames[i, 24:40, x : x + 16] = 128
    noise = rng.integers(-6, 7, frames.shape)
    return write_video(path, np.clip(frames.astype(np.int16) + noise, 0, 255).astype(np.uint8), fps)


@dataclass
class DecodeCounter:
    """What a run opened and decoded: containers opened (``reader``: a VideoReader, ``probe``: the probe) and one
    ``(path, frames yielded, frames decoded by that reader so far)`` per decode pass."""

    opens: Counter[str] = field(default_factory=Counter)
    passes: list[tuple[str, int, int]] = field(default_factory=list)


def count_decodes(mp: pytest.MonkeyPatch) -> DecodeCounter:
    """Patch (through ``mp``, undone with it) the container opens and the reader's decode loop to count them."""
    probe_module = importlib.import_module("vidstruct.io.probe")
    reader_module = importlib.import_module("vidstruct.io.reader")
    counter = DecodeCounter()
    real_reader_open, real_probe_open = reader_module.open_video, probe_module.open_video
    real_decode = VideoReader._decode_targets

    def reader_open(path: Any, **kwargs: Any) -> Any:
        counter.opens["reader"] += 1
        return real_reader_open(path, **kwargs)

    def probe_open(path: Any, **kwargs: Any) -> Any:
        counter.opens["probe"] += 1
        return real_probe_open(path, **kwargs)

    def counting_decode(self: VideoReader, targets: Any) -> Iterator[Any]:
        count = 0
        for item in real_decode(self, targets):
            count += 1
            yield item
        counter.passes.append((self.path, count, self.stats.decoded))

    mp.setattr(reader_module, "open_video", reader_open)
    mp.setattr(probe_module, "open_video", probe_open)
    mp.setattr(VideoReader, "_decode_targets", counting_decode)
    return counter
