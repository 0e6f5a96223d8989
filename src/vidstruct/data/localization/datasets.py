"""Localization datasets over a feature store (see :mod:`vidstruct.data.features`) and annotations.

Every item is a dict:

- ``"features"``: float32 ``[C, T]`` snippet features on the item's grid of
  ``T`` positions; position ``j`` covers ``[offset_s + j·span_s / T,
  offset_s + (j + 1)·span_s / T]``;
- ``"probs"``: float32 ``[K, T]`` backbone softmax probabilities on the same
  grid (only when the store has them);
- ``"segments"``: float32 ``[M, 2]`` ground truth normalized to ``[0, 1]`` of
  the item's span; ``"labels"``: int64 ``[M]`` class indices;
- ``"video_labels"``: float32 ``[num_classes]`` multi-hot video-level labels
  (of the item's segments; weak supervision);
- ``"video_id"``, ``"duration_s"`` (the span, seconds), ``"offset_s"`` (start
  of the span in the video) and ``"video_duration_s"``; ``"mask"``: bool
  ``[T]``, False on padding.

:class:`RescaledFeatureDataset` (ActivityNet / HACS, BMN style): a whole
video rescaled to ``T`` positions (:func:`~vidstruct.data.features.rescale_features`),
span ``[0, duration_s]``.

:class:`WindowedFeatureDataset` (THUMOS14 / EPIC-Kitchens-100): windows of
``T`` consecutive snippets every ``window_stride`` snippets
(:func:`window_starts`). A window starting at snippet ``s`` spans ``offset_s
= s·stride_s + window_s/2 - stride_s/2`` to ``offset_s + T·stride_s`` (snippet
``s + j`` is centred on position ``j``; :func:`window_span`, which
``vidstruct localize`` uses too); a video shorter than ``T`` snippets
is one window padded with zeros. Segments are clipped to the window (kept
when the clipped part is at least ``min_segment_overlap`` of the segment and
longer than 0). In training, windows without any segment are dropped; in
evaluation every window is kept (map predictions back with ``offset_s``).

Videos without features, or listed as failed in the store's manifest, are
skipped with a warning and counted in ``dataset.skipped``
(``{"missing": [...], "failed": [...]}``); they never shift the indices of
other videos.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from vidstruct.data.features import FeatureStore, rescale_features
from vidstruct.data.records import UntrimmedVideo
from vidstruct.errors import InputError

__all__ = [
    "RescaledFeatureDataset",
    "WindowedFeatureDataset",
    "collate_localization",
    "join_features",
    "open_feature_store",
    "window_span",
    "window_starts",
]

log = logging.getLogger(__name__)


def open_feature_store(store: Any) -> Any:
    """A :class:`~vidstruct.data.features.FeatureStore` from a directory path (or the store itself)."""
    if isinstance(store, (str, Path)):
        return FeatureStore(store)
    return store


def _failed_ids(store: Any) -> set[str]:
    failed = getattr(store, "failed", None)
    if failed is None:
        manifest = getattr(store, "manifest", None)
        failed = manifest.get("failed", {}) if isinstance(manifest, dict) else {}
    return set(failed or ())


def join_features(
    videos: Sequence[UntrimmedVideo], store: Any, *, where: str = ""
) -> tuple[list[UntrimmedVideo], dict[str, list[str]]]:
    """The videos that have features (durations ≤ 0 filled from the store) and the skipped ids per reason."""
    have = set(store.video_ids)
    failed = _failed_ids(store)
    kept: list[UntrimmedVideo] = []
    skipped: dict[str, list[str]] = {"missing": [], "failed": []}
    for v in videos:
        if v.video_id in failed and v.video_id not in have:
            skipped["failed"].append(v.video_id)
        elif v.video_id not in have:
            skipped["missing"].append(v.video_id)
        else:
            kept.append(v)
    for reason, ids in skipped.items():
        if ids:
            log.warning(
                "%s: skipping %d of %d annotated videos whose features are %s (e.g. %s)",
                where or "localization data",
                len(ids),
                len(videos),
                reason,
                ", ".join(ids[:3]),
            )
    return kept, skipped


def _video_duration(video: UntrimmedVideo, feats: Any) -> float:
    d = float(video.duration_s)
    return d if d > 0 else float(feats.duration_s)


def _segments_in_span(
    video: UntrimmedVideo, offset_s: float, span_s: float, min_overlap: float
) -> tuple[np.ndarray, np.ndarray]:
    """Segments clipped to ``[offset_s, offset_s + span_s]``, normalized to it, and their labels."""
    rows, labels = [], []
    lo, hi = offset_s, offset_s + span_s
    for s in video.segments:
        a, b = max(s.start_s, lo), min(s.end_s, hi)
        length = s.end_s - s.start_s
        if b <= a or (length > 0 and (b - a) / length < min_overlap):
            continue
        rows.append(((a - lo) / span_s, (b - lo) / span_s))
        labels.append(s.label_index)
    seg = np.asarray(rows, dtype=np.float32).reshape(-1, 2).clip(0.0, 1.0)
    return seg, np.asarray(labels, dtype=np.int64)


def _item(
    video: UntrimmedVideo,
    features: np.ndarray,
    probs: np.ndarray | None,
    mask: np.ndarray,
    offset_s: float,
    span_s: float,
    video_duration_s: float,
    num_classes: int,
    min_overlap: float,
) -> dict[str, Any]:
    seg, lab = _segments_in_span(video, offset_s, span_s, min_overlap)
    multi_hot = np.zeros(num_classes, dtype=np.float32)
    multi_hot[lab] = 1.0
    item: dict[str, Any] = {
        "features": torch.from_numpy(np.ascontiguousarray(features.T, dtype=np.float32)),
        "segments": torch.from_numpy(seg),
        "labels": torch.from_numpy(lab),
        "video_labels": torch.from_numpy(multi_hot),
        "mask": torch.from_numpy(mask),
        "video_id": video.video_id,
        "duration_s": float(span_s),
        "offset_s": float(offset_s),
        "video_duration_s": float(video_duration_s),
    }
    if probs is not None:
        item["probs"] = torch.from_numpy(np.ascontiguousarray(probs.T, dtype=np.float32))
    return item


class RescaledFeatureDataset(Dataset):
    """Whole videos rescaled to ``temporal_scale`` positions (ActivityNet / HACS; see module doc).

    ``store``: a :class:`~vidstruct.data.features.FeatureStore` or its directory; ``classes``:
    class names (``Segment.label_index`` indexes them); ``cache``: keep rescaled items in memory.
    """

    def __init__(
        self,
        store: Any,
        videos: Sequence[UntrimmedVideo],
        classes: Sequence[str],
        *,
        temporal_scale: int = 100,
        cache: bool = True,
    ) -> None:
        if temporal_scale < 1:
            raise InputError(f"temporal_scale: expected a positive number of positions, got {temporal_scale}")
        self.store = open_feature_store(store)
        self.classes = list(classes)
        self.temporal_scale = temporal_scale
        self.videos, self.skipped = join_features(videos, self.store)
        self._cache: dict[int, dict[str, Any]] | None = {} if cache else None

    def __len__(self) -> int:
        return len(self.videos)

    def __getitem__(self, index: int) -> dict[str, Any]:
        if self._cache is not None and index in self._cache:
            return dict(self._cache[index])
        video = self.videos[index]
        vf = self.store.load(video.video_id)
        duration = _video_duration(video, vf)
        T = self.temporal_scale
        feats = np.asarray(rescale_features(vf.features, vf.centers_s, duration, T), dtype=np.float32)
        probs = None
        if vf.probs is not None:
            probs = np.asarray(rescale_features(vf.probs, vf.centers_s, duration, T), dtype=np.float32)
        item = _item(video, feats, probs, np.ones(T, dtype=bool), 0.0, duration, duration, len(self.classes), 0.0)
        item["index"] = index
        if self._cache is not None:
            self._cache[index] = item
        return dict(item)


def window_starts(num_snippets: int, window: int, stride: int) -> list[int]:
    """First snippet of every window: ``0, stride, 2·stride, ...`` while the window fits, plus one ending at the last
    snippet when the grid misses it; ``[0]`` for a video shorter than ``window``."""
    if window < 1 or stride < 1:
        raise InputError(f"window / stride: expected positive snippet counts, got {window}, {stride}")
    if num_snippets <= window:
        return [0]
    starts = list(range(0, num_snippets - window + 1, stride))
    if starts[-1] + window < num_snippets:
        starts.append(num_snippets - window)
    return starts


def window_span(start: int, window: int, stride_s: float, window_s: float) -> tuple[float, float]:
    """``(offset_s, span_s)`` in seconds of the video of the window of ``window`` snippets starting at snippet
    ``start``, for snippets of ``window_s`` seconds every ``stride_s`` seconds: position ``j`` of the window is
    centred on snippet ``start + j``'s centre, ``start_s + window_s / 2``, with ``start_s = (start + j)·stride_s``."""
    return start * stride_s + window_s / 2 - stride_s / 2, window * stride_s


class WindowedFeatureDataset(Dataset):
    """Sliding windows of ``window_size`` snippets over long videos (THUMOS14 / EPIC; see module doc).

    ``window_stride``: snippets between window starts (default ``window_size // 2``); ``train``: drop
    windows without any (clipped) segment.
    """

    def __init__(
        self,
        store: Any,
        videos: Sequence[UntrimmedVideo],
        classes: Sequence[str],
        *,
        window_size: int = 128,
        window_stride: int | None = None,
        train: bool = True,
        min_segment_overlap: float = 0.0,
    ) -> None:
        self.store = open_feature_store(store)
        self.classes = list(classes)
        self.window_size = window_size
        self.window_stride = window_stride or max(1, window_size // 2)
        self.min_segment_overlap = min_segment_overlap
        self.train = train
        self.videos, self.skipped = join_features(videos, self.store)
        self.windows: list[tuple[int, int]] = []  # (video index, first snippet)
        self._meta: list[tuple[int, float, float, float]] = []  # per video: snippets, stride_s, window_s, duration
        for vi, video in enumerate(self.videos):
            vf = self.store.load(video.video_id)
            n = int(vf.features.shape[0])
            self._meta.append((n, float(vf.stride_s), float(vf.window_s), _video_duration(video, vf)))
            for s in window_starts(n, window_size, self.window_stride):
                if train:
                    offset, span = self.window_span(vi, s)
                    seg, _ = _segments_in_span(video, offset, span, min_segment_overlap)
                    if seg.shape[0] == 0:
                        continue
                self.windows.append((vi, s))
        self.dropped_empty = sum(len(window_starts(m[0], window_size, self.window_stride)) for m in self._meta) - len(
            self.windows
        )

    def window_span(self, video_index: int, start: int) -> tuple[float, float]:
        """``(offset_s, span_s)`` of the window starting at snippet ``start`` of video ``video_index``."""
        _, stride_s, window_s, _ = self._meta[video_index]
        return window_span(start, self.window_size, stride_s, window_s)

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, index: int) -> dict[str, Any]:
        vi, s = self.windows[index]
        video = self.videos[vi]
        vf = self.store.load(video.video_id)
        T = self.window_size
        feats = np.asarray(vf.features, dtype=np.float32)[s : s + T]
        probs = None if vf.probs is None else np.asarray(vf.probs, dtype=np.float32)[s : s + T]
        mask = np.zeros(T, dtype=bool)
        mask[: feats.shape[0]] = True
        if feats.shape[0] < T:
            feats = np.concatenate([feats, np.zeros((T - feats.shape[0], feats.shape[1]), np.float32)])
            if probs is not None:
                probs = np.concatenate([probs, np.zeros((T - probs.shape[0], probs.shape[1]), np.float32)])
        offset, span = self.window_span(vi, s)
        item = _item(
            video, feats, probs, mask, offset, span, self._meta[vi][3], len(self.classes), self.min_segment_overlap
        )
        item["index"] = index
        return item


def collate_localization(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Stack ``features`` ``[B, C, T]``, ``probs`` ``[B, K, T]`` (when every item has them), ``video_labels``,
    ``mask``, ``index``; times become float64 ``[B]`` tensors; ``segments`` / ``labels`` / ``video_id`` stay lists."""
    if not items:
        raise ValueError("collate_localization: empty batch")
    out: dict[str, Any] = {
        "features": torch.stack([it["features"] for it in items]),
        "video_labels": torch.stack([it["video_labels"] for it in items]),
        "mask": torch.stack([it["mask"] for it in items]),
        "segments": [it["segments"] for it in items],
        "labels": [it["labels"] for it in items],
        "video_id": [it["video_id"] for it in items],
        "index": torch.tensor([int(it.get("index", i)) for i, it in enumerate(items)]),
    }
    for key in ("duration_s", "offset_s", "video_duration_s"):
        out[key] = torch.tensor([float(it[key]) for it in items], dtype=torch.float64)
    if all("probs" in it for it in items):
        out["probs"] = torch.stack([it["probs"] for it in items])
    return out
