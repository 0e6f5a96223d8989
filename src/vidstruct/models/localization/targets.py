"""BMN training targets on the ``T``-snippet grid from ground-truth segments in seconds.

The video (its features rescaled to ``T`` snippets, ActivityNet style) spans
normalized time ``[0, 1]``; snippet ``i`` covers ``[i / T, (i + 1) / T]``.
Ground truth ``[start_s, end_s]`` becomes ``[start_s / duration_s, end_s /
duration_s]`` clipped to ``[0, 1]``.

- **boundary labels** (BMN's ``match_score_start / end``): a boundary region of
  width ``boundary_width / T`` (default 3 snippets, the reference's
  ``3 * temporal_gap``) is centred on every GT start (end). The start label of
  snippet ``i`` is the largest, over GTs, intersection-over-anchor of the
  start anchor ``[(i - ½) / T, (i + ½) / T]`` (centred on ``i / T``, the time
  a proposal starting at snippet ``i`` starts) with a start region; the end
  label uses the end anchor ``[(i + ½) / T, (i + 3/2) / T]`` (centred on
  ``(i + 1) / T``, where a proposal whose last snippet is ``i`` ends). The
  reference centres both anchors on ``i / T``; centring the end anchor on the
  snippet's right edge makes the end index of map cell ``(d, t)`` exactly
  ``t + d`` (see :mod:`~vidstruct.models.localization.bm_layer`).
- **IoU map** ``[D, T]``: cell ``(d, t)`` is the proposal ``[t / T,
  (t + d + 1) / T]``; its value is the largest tIoU with any GT, and 0 on
  invalid cells (``t + d ≥ T``).

Everything is vectorized over snippets, cells and GTs.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from vidstruct.data.tiou import pairwise_tiou
from vidstruct.errors import InputError, ShapeError

__all__ = [
    "BMNTargets",
    "bmn_targets",
    "bmn_targets_batch",
    "cell_segments",
    "normalize_segments",
]

SegmentsLike = torch.Tensor | np.ndarray | Sequence[Sequence[float]] | Iterable[Any]


@dataclass
class BMNTargets:
    """One video's targets: ``start``, ``end`` ``[T]``, ``iou_map [D, T]``, ``segments [G, 2]`` (normalized)."""

    start: torch.Tensor
    end: torch.Tensor
    iou_map: torch.Tensor
    segments: torch.Tensor


def normalize_segments(segments: SegmentsLike, duration_s: float) -> torch.Tensor:
    """Segments in seconds → ``[G, 2]`` float64 in ``[0, 1]`` of the video.

    ``segments``: a ``[G, 2]`` tensor / array / nested list of ``(start_s, end_s)``, or objects with
    ``start_s`` / ``end_s`` attributes (e.g. :class:`vidstruct.data.records.Segment`).
    """
    try:
        duration = float(duration_s)
    except (TypeError, ValueError):
        duration = float("nan")
    if not (math.isfinite(duration) and duration > 0):
        raise InputError(f"duration_s: expected a positive number of seconds, got {duration_s!r}")
    if isinstance(segments, torch.Tensor):
        seg = segments.detach().to("cpu", torch.float64)
    elif isinstance(segments, np.ndarray):
        seg = torch.from_numpy(segments.astype(np.float64))
    else:
        rows = [(s.start_s, s.end_s) if hasattr(s, "start_s") else tuple(s) for s in segments]
        seg = torch.tensor(rows, dtype=torch.float64).reshape(-1, 2) if rows else torch.zeros(0, 2, dtype=torch.float64)
    if seg.ndim != 2 or seg.shape[1] != 2:
        raise ShapeError(f"segments: expected [G, 2] (start_s, end_s), got shape {tuple(seg.shape)}")
    if not torch.isfinite(seg).all():
        raise InputError("segments: start_s / end_s must be finite")
    if (seg[:, 1] < seg[:, 0]).any():
        i = int((seg[:, 1] < seg[:, 0]).nonzero()[0])
        raise InputError(f"segments[{i}]: end_s {seg[i, 1].item()} is before start_s {seg[i, 0].item()}")
    return (seg / duration).clamp(0.0, 1.0)


def cell_segments(
    temporal_scale: int, max_duration: int | None = None, dtype: torch.dtype = torch.float64
) -> torch.Tensor:
    """Normalized ``[start, end]`` of every BM-map cell: ``[D, T, 2]`` with cell ``(d, t)`` = ``[t/T, (t+d+1)/T]``."""
    T = temporal_scale
    D = T if max_duration is None else max_duration
    t = torch.arange(T, dtype=dtype).view(1, T).expand(D, T)
    d = torch.arange(D, dtype=dtype).view(D, 1).expand(D, T)
    return torch.stack([t / T, (t + d + 1) / T], dim=-1)


def _ioa(anchor_lo: torch.Tensor, anchor_hi: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:
    """Intersection over anchor length: anchors ``[A]`` × regions ``[G]`` → ``[A, G]``."""
    inter = (torch.minimum(anchor_hi[:, None], hi[None, :]) - torch.maximum(anchor_lo[:, None], lo[None, :])).clamp(
        min=0
    )
    return inter / (anchor_hi - anchor_lo)[:, None]


def bmn_targets(
    segments: SegmentsLike,
    duration_s: float,
    *,
    temporal_scale: int = 100,
    max_duration: int | None = None,
    boundary_width: float = 3.0,
) -> BMNTargets:
    """Start / end labels ``[T]``, IoU map ``[D, T]`` (float32) of one video (see module doc).

    ``boundary_width``: width of the start / end regions, in snippets (``3`` in BMN).
    """
    T = temporal_scale
    D = T if max_duration is None else max_duration
    if T < 1 or not 1 <= D <= T:
        raise InputError(f"temporal_scale / max_duration: expected 1 ≤ D ≤ T, got T={T}, D={D}")
    gt = normalize_segments(segments, duration_s)
    if gt.shape[0] == 0:
        zeros = torch.zeros(T, dtype=torch.float32)
        return BMNTargets(zeros, zeros.clone(), torch.zeros(D, T, dtype=torch.float32), gt.float())
    half = boundary_width / T / 2.0
    i = torch.arange(T, dtype=torch.float64)
    start_lo, start_hi = (i - 0.5) / T, (i + 0.5) / T
    end_lo, end_hi = (i + 0.5) / T, (i + 1.5) / T
    start = _ioa(start_lo, start_hi, gt[:, 0] - half, gt[:, 0] + half).amax(dim=1)
    end = _ioa(end_lo, end_hi, gt[:, 1] - half, gt[:, 1] + half).amax(dim=1)
    cells = cell_segments(T, D)  # [D, T, 2]
    iou = pairwise_tiou(cells.view(-1, 2), gt).amax(dim=1).view(D, T)
    t = torch.arange(T).view(1, T)
    d = torch.arange(D).view(D, 1)
    iou = iou * ((t + d) < T)
    return BMNTargets(start.float(), end.float(), iou.float(), gt.float())


def bmn_targets_batch(
    videos: Sequence[tuple[SegmentsLike, float]],
    *,
    temporal_scale: int = 100,
    max_duration: int | None = None,
    boundary_width: float = 3.0,
) -> dict[str, torch.Tensor]:
    """Targets of a batch of ``(segments, duration_s)`` pairs, stacked for :func:`~.losses.bmn_loss`.

    Returns ``{"start": [B, T], "end": [B, T], "iou_map": [B, D, T], "segments": [B, G, 2]
    (normalized, zero-padded to the longest list), "segment_mask": [B, G] bool}``.
    """
    items = [
        bmn_targets(s, dur, temporal_scale=temporal_scale, max_duration=max_duration, boundary_width=boundary_width)
        for s, dur in videos
    ]
    if not items:
        raise ValueError("bmn_targets_batch: expected at least one video")
    g = max(1, max(it.segments.shape[0] for it in items))
    segs = torch.zeros(len(items), g, 2)
    mask = torch.zeros(len(items), g, dtype=torch.bool)
    for b, it in enumerate(items):
        n = it.segments.shape[0]
        segs[b, :n] = it.segments
        mask[b, :n] = True
    return {
        "start": torch.stack([it.start for it in items]),
        "end": torch.stack([it.end for it in items]),
        "iou_map": torch.stack([it.iou_map for it in items]),
        "segments": segs,
        "segment_mask": mask,
    }
