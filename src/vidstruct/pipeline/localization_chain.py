"""A localizer over one video's snippet features: the model on the rescaled grid or on each window, then the
post-processing chain (:mod:`vidstruct.eval.localization.chain`) → scored segments in seconds of the video.

Two feature layouts, as in training (:mod:`vidstruct.data.localization.datasets`):

- ``mode: rescale`` (ActivityNet / HACS): the snippets are rescaled to the checkpoint's ``T`` positions
  (:func:`vidstruct.data.features.rescale_features`) spanning ``[0, duration_s]``;
- ``mode: window`` (THUMOS14 / EPIC): windows of ``T`` snippets every ``window_stride`` snippets
  (:func:`~vidstruct.data.localization.datasets.window_starts`), each spanning
  :func:`~vidstruct.data.localization.datasets.window_span` (the dataset's own formula), zero-padded past the
  last snippet; the windows' results are merged (:func:`~vidstruct.eval.localization.chain.merge_items`).

Validation during training runs the same chain on the dataset's items, so both paths give the same segments
(``tests/localization/test_loc_window_paths.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from vidstruct.data.features import VideoFeatures, rescale_features
from vidstruct.data.localization.datasets import window_span, window_starts
from vidstruct.errors import InputError, ShapeError
from vidstruct.eval.localization.chain import Localization, decode_item, merge_items
from vidstruct.models.localization.checkpoint import LocalizerBundle
from vidstruct.models.localization.run import run_model

__all__ = ["Segment", "localize_features", "localize_video"]


@dataclass(frozen=True)
class Segment:
    """One detected action: class name, start / end in seconds of the video, score (a probability product)."""

    label: str
    start_s: float
    end_s: float
    score: float

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "start_s": self.start_s, "end_s": self.end_s, "score": self.score}


def localize_video(
    bundle: LocalizerBundle,
    features: VideoFeatures | torch.Tensor | np.ndarray,
    duration_s: float | None = None,
    probs: np.ndarray | torch.Tensor | None = None,
) -> Localization:
    """Proposals and detections of one video (see :func:`localize_features` for the arguments)."""
    meta = bundle.features
    T = int(meta["temporal_scale"])
    cmap = bundle.class_map
    post = bundle.postprocess
    if isinstance(features, VideoFeatures):
        duration = float(duration_s or features.duration_s)
        raw = np.asarray(features.features, dtype=np.float32)
        raw_probs = None if features.probs is None else np.asarray(features.probs, dtype=np.float32)
        if raw.shape[1] != int(meta["feature_dim"]):
            raise InputError(f"features: expected feature_dim {meta['feature_dim']}, got {raw.shape[1]}")
        if meta.get("mode", "rescale") == "window":
            return _localize_windows(bundle, raw, raw_probs, features.stride_s, features.window_s, duration)
        grid = rescale_features(raw, features.centers_s, duration, T)
        grid_probs = None if raw_probs is None else rescale_features(raw_probs, features.centers_s, duration, T)
        feats = torch.from_numpy(grid.T.copy())
        probs = grid_probs
    else:
        feats = torch.as_tensor(features, dtype=torch.float32)
        if feats.ndim != 2 or feats.shape[0] != int(meta["feature_dim"]) or feats.shape[1] != T:
            raise ShapeError(
                f"features: expected [C, T] = [{meta['feature_dim']}, {T}] (rescaled snippet features) or "
                f"VideoFeatures, got {tuple(feats.shape)}"
            )
        if duration_s is None or not duration_s > 0:
            raise InputError(
                f"duration_s: expected a positive number of seconds with [C, T] features, got {duration_s}"
            )
        duration = float(duration_s)
        if probs is not None:
            probs = np.asarray(probs, dtype=np.float32)
            if probs.ndim != 2 or probs.shape[1] != T:
                raise ShapeError(f"probs: expected [K, T] on the features' grid (T = {T}), got {tuple(probs.shape)}")
            probs = probs.T
    mapped = None if probs is None or cmap is None else np.asarray(probs)[:, cmap]
    if cmap is not None and mapped is None:
        raise InputError(f"fusion {post.fusion!r}: this localizer needs the backbone's class probabilities (probs)")
    out = run_model(bundle.model, feats[None])
    return decode_item(bundle.kind, out, 0, span_s=duration, post=post, video_duration_s=duration, probs=mapped)


def _localize_windows(
    bundle: LocalizerBundle,
    raw: np.ndarray,
    raw_probs: np.ndarray | None,
    stride_s: float,
    window_s: float,
    duration: float,
) -> Localization:
    """Window-mode localizers: snippets ``raw [N, C]`` (probabilities ``raw_probs [N, K]``) cut into windows."""
    meta, post, cmap = bundle.features, bundle.postprocess, bundle.class_map
    T = int(meta["temporal_scale"])
    stride = int(meta.get("window_stride") or max(1, T // 2))
    if cmap is not None and raw_probs is None:
        raise InputError(f"fusion {post.fusion!r}: this localizer needs the backbone's class probabilities (probs)")
    parts = []
    for s in window_starts(raw.shape[0], T, stride):
        chunk = np.zeros((T, raw.shape[1]), np.float32)
        piece = raw[s : s + T]
        chunk[: piece.shape[0]] = piece
        mapped = None
        if cmap is not None:
            mapped = np.zeros((T, cmap.size))
            mapped[: piece.shape[0]] = raw_probs[s : s + T][:, cmap]  # type: ignore[index]
        out = run_model(bundle.model, torch.from_numpy(chunk.T.copy())[None])
        offset_s, span_s = window_span(s, T, stride_s, window_s)
        parts.append(
            decode_item(
                bundle.kind, out, 0, span_s=span_s, post=post, offset_s=offset_s, video_duration_s=duration,
                probs=mapped,
            )
        )  # fmt: skip
    return merge_items(parts, post, duration)


def localize_features(
    bundle: LocalizerBundle,
    features: VideoFeatures | torch.Tensor | np.ndarray,
    duration_s: float | None = None,
    probs: np.ndarray | torch.Tensor | None = None,
) -> list[Segment]:
    """Scored segments of one video, best first: the whole chain of the module doc.

    Args:
        bundle: :func:`~vidstruct.models.localization.checkpoint.load_localizer`'s result.
        features: a :class:`~vidstruct.data.features.VideoFeatures` (raw snippets: rescaled to the
            checkpoint's ``temporal_scale``, or cut into windows for window-mode localizers; its ``probs``
            are used), or a float tensor / array ``[C, T]`` already on the ``T``-position grid.
        duration_s: video duration in seconds (required with ``[C, T]`` features; default: the
            VideoFeatures' duration).
        probs: with ``[C, T]`` features, the backbone's softmax probabilities ``[K, T]`` on the same grid
            (``K`` = the backbone's classes; needed for ``snippet`` / ``video`` fusion).

    Returns:
        :class:`Segment` rows, at most ``postprocess.max_segments``; with fusion ``"none"`` the proposals,
        labelled ``"action"``.
    """
    loc = localize_video(bundle, features, duration_s, probs)
    if bundle.postprocess.fusion == "none":
        return [Segment("action", float(s), float(e), float(p)) for s, e, p in loc.proposals]
    return [Segment(bundle.classes[int(c)], float(s), float(e), float(p)) for s, e, p, c in loc.detections]
