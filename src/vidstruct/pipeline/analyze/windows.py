"""Sliding windows of a recognition backbone, fed by the single decode pass.

Windows follow :func:`vidstruct.io.iter_windows` / :meth:`Recognizer.predict_windows` exactly: window ``j``
starts at ``j × stride_s`` (while the start lies inside the video) and holds ``num_frames`` samples
``start + m × window_s / num_frames`` (seconds); sample ``m`` is the frame displayed at that time (by pts);
samples past the end repeat the last frame. Windows are run ``batch_size`` at a time: when a batch of windows is
complete, every frame fed since the last batch is transformed once by the model's eval transform (short side,
centre crop, normalization; frame by frame, so the same as transforming each window's clip) in one call of its
kernels (:class:`EvalFrames`: the same torchvision kernels as
:func:`~vidstruct.data.transforms.build_eval_transform`, without its per-call wrapping), the windows are written
straight into the batch (``float32 [B, C, T, H, W]``) and the batch goes through the backbone, giving per
window the pooled feature (``forward_features``, the embedding) and the softmax probabilities.

Memory: the frames of the windows overlapping one instant (at most ``ceil(window_s / stride_s)`` windows of
``num_frames`` frames) and of the complete windows waiting for their batch (fewer than ``batch_size``), one
batch of clips, and the results (``dim + classes`` floats per window).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import torch
from torchvision.transforms.v2 import functional as TF

from vidstruct.data.transforms.spatial import spatial_crop
from vidstruct.io import FrameIndex
from vidstruct.models.spec import InputSpec
from vidstruct.pipeline.analyze.runners import Runner, torch_runner
from vidstruct.pipeline.recognizer import Recognizer

__all__ = ["EvalFrames", "WindowOutputs", "WindowPlan", "WindowTap", "plan_windows"]

_EPS = 1e-9


@dataclass(frozen=True)
class WindowPlan:
    """Where the windows are: ``starts_s`` float64 ``[W]`` (seconds), ``frame_indices`` int64 ``[W, T]``
    (source frame of each sample), ``num_valid`` int64 ``[W]`` (samples inside the video)."""

    window_s: float
    stride_s: float
    starts_s: np.ndarray
    frame_indices: np.ndarray
    num_valid: np.ndarray

    @property
    def num_windows(self) -> int:
        return int(self.starts_s.shape[0])


def plan_windows(
    index: FrameIndex, window_s: float, stride_s: float, num_frames: int, *, min_span_s: float = 0.0
) -> WindowPlan:
    """The windows of a video (see the module doc); the same rule as :class:`vidstruct.io.WindowStream`, except
    that a window starting less than ``min_span_s`` seconds before the end is left out."""
    if not (window_s > 0 and stride_s > 0 and num_frames >= 1):
        raise ValueError(f"window_s, stride_s must be > 0, num_frames >= 1; got {window_s}, {stride_s}, {num_frames}")
    stop = index.duration_s
    offsets = np.arange(num_frames, dtype=np.float64) * (window_s / num_frames)
    last_valid = int(index.index_at(max(stop - 1e-6, 0.0))[0])
    starts, rows, valid_counts = [], [], []
    j = 0
    while True:
        start = j * stride_s
        if start >= stop - max(_EPS, min_span_s):
            break
        times = start + offsets
        valid = times < stop - _EPS
        idx = np.full(times.shape, last_valid, dtype=np.int64)
        if valid.any():
            idx[valid] = index.index_at(times[valid])
        starts.append(start)
        rows.append(idx)
        valid_counts.append(int(valid.sum()))
        j += 1
    return WindowPlan(
        window_s=float(window_s),
        stride_s=float(stride_s),
        starts_s=np.asarray(starts, dtype=np.float64),
        frame_indices=np.stack(rows) if rows else np.zeros((0, num_frames), np.int64),
        num_valid=np.asarray(valid_counts, dtype=np.int64),
    )


class EvalFrames:
    """The eval transform of ``spec`` on uint8 ``[n, H, W, 3]`` frames → ``float32 [n, C, crop, crop]``: short side
    ``spec.short_side`` (antialiased bilinear), the centre ``crop_size`` crop, ``(x / 255 - mean) / std``.

    Equal, value for value, to :func:`~vidstruct.data.transforms.build_eval_transform`'s clip (``num_crops=1``,
    ``C`` and ``n`` swapped): the same torchvision kernels called directly, the crop made contiguous before the
    elementwise steps (they cost twice as much on the channels-last view) and the normalization's constants built
    once instead of per call.
    """

    def __init__(self, spec: InputSpec) -> None:
        self.short_side, self.crop_size = int(spec.short_side), int(spec.crop_size)
        self.mean = torch.tensor([float(m) for m in spec.mean], dtype=torch.float32).view(-1, 1, 1)
        self.std = torch.tensor([float(v) for v in spec.std], dtype=torch.float32).view(-1, 1, 1)

    def __call__(self, frames: torch.Tensor) -> torch.Tensor:
        x = TF.resize_image(frames.permute(0, 3, 1, 2), [self.short_side], antialias=True)
        x = TF.to_dtype_image(spatial_crop(x, self.crop_size, 1).contiguous(), torch.float32, scale=True)
        return x.sub_(self.mean).div_(self.std)


@dataclass(frozen=True)
class WindowOutputs:
    """What the backbone gave for every window: ``features`` float32 ``[W, D]`` (pooled features),
    ``probs`` float32 ``[W, K]`` (softmax) or None when the model has no single classifier."""

    plan: WindowPlan
    features: np.ndarray
    probs: np.ndarray | None


class WindowTap:
    """A :class:`~vidstruct.pipeline.analyze.taps.FrameTap` running ``recognizer``'s backbone on ``plan``'s windows."""

    def __init__(
        self, name: str, recognizer: Recognizer, plan: WindowPlan, *, batch_size: int = 8, runner: Runner | None = None
    ) -> None:
        """``runner``: how the backbone runs on a batch (default: eager PyTorch, :func:`.runners.torch_runner`)."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.name = name
        self.seconds = 0.0
        self.frame_size: tuple[int, int] | None = None  # the decode size
        self.recognizer = recognizer
        self.plan = plan
        self.batch_size = batch_size
        self.runner = runner or torch_runner(recognizer)
        spec = recognizer.spec
        self._transform = EvalFrames(spec)
        self._batch = torch.empty(
            (batch_size, 3, plan.frame_indices.shape[1], int(spec.crop_size), int(spec.crop_size)), dtype=torch.float32
        )  # the next batch of clips, filled window by window
        self._slots: dict[int, list[tuple[int, int]]] = defaultdict(list)  # frame index -> (window, sample)
        for w, row in enumerate(plan.frame_indices.tolist()):
            for m, i in enumerate(row):
                self._slots[i].append((w, m))
        self._uses: dict[int, int] = {}  # frame index -> samples of windows not built yet that show it
        self._raw: dict[int, torch.Tensor] = {}  # frames fed, not transformed yet (uint8 [H, W, 3])
        self._done: dict[int, torch.Tensor] = {}  # transformed frames (float32 [C, crop, crop])
        self._missing = [plan.frame_indices.shape[1]] * plan.num_windows
        self._ready = 0  # windows whose frames have all been fed
        self._built = 0  # windows run through the backbone
        self._features: list[np.ndarray] = []
        self._probs: list[np.ndarray] = []
        self._has_probs = True
        #: the most frames held at once (fed, waiting for the windows that show them to run)
        self.peak_frames_held = 0

    def indices(self) -> np.ndarray:
        return np.fromiter(self._slots, dtype=np.int64) if self._slots else np.zeros(0, np.int64)

    def feed(self, index: int, frame: torch.Tensor) -> None:
        slots = self._slots.pop(index, ())
        if slots:
            self._raw[index] = frame
            self._uses[index] = len(slots)
            self.peak_frames_held = max(self.peak_frames_held, len(self._raw) + len(self._done))
        for w, _ in slots:
            self._missing[w] -= 1
        while self._ready < self.plan.num_windows and self._missing[self._ready] == 0:
            self._ready += 1
            if self._ready - self._built == self.batch_size:
                self._flush()

    def _transform_fed(self) -> None:
        """Transform the frames fed since the last call in one call of the eval transform (it works frame by
        frame: resize, crop, normalize): each frame once, not once per window that shows it (~2.5 with 1.28 s
        windows every 0.5 s), and many at a time (its cost per frame falls with the frames per call: ~40 µs for
        one, ~15 for 5, ~10 for 40 at 96 px)."""
        if self._raw:
            frames = self._transform(torch.stack(list(self._raw.values())))  # float32 [n, C, crop, crop]
            for k, i in enumerate(self._raw):
                self._done[i] = frames[k]
            self._raw.clear()

    def finish(self) -> None:
        if self._ready != self.plan.num_windows:
            missing = self.plan.num_windows - self._ready
            raise RuntimeError(f"{self.name}: {missing} windows never received their frames")
        if self._ready > self._built:
            self._flush()

    def _flush(self) -> None:
        """Build the complete windows not run yet into the batch (``float32 [B, C, T, H, W]``) and run the
        backbone on it; their frames no later window shows are let go."""
        self._transform_fed()
        count = self._ready - self._built
        for slot, row in enumerate(self.plan.frame_indices[self._built : self._ready].tolist()):
            torch.stack([self._done[i] for i in row], dim=1, out=self._batch[slot])  # [C, T, crop, crop]
            for i in row:
                self._uses[i] -= 1
                if self._uses[i] == 0:
                    del self._uses[i], self._done[i]
        self._built = self._ready
        feats, probs = self.runner(self._batch[:count])
        self._features.append(feats)
        if probs is None:
            self._has_probs = False
        else:
            self._probs.append(probs)

    def outputs(self) -> WindowOutputs:
        """The features and probabilities of every window (after :meth:`finish`)."""
        dim = int(getattr(self.recognizer.model, "feature_dim", 0) or 0)
        feats = np.concatenate(self._features) if self._features else np.zeros((0, dim), np.float32)
        probs = None
        if self._has_probs:
            k = len(self.recognizer.classes)
            probs = np.concatenate(self._probs) if self._probs else np.zeros((0, k), np.float32)
        return WindowOutputs(self.plan, feats.astype(np.float32, copy=False), probs)
