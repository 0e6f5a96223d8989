"""On-disk snippet-feature store, format ``vidstruct.features/1`` (numpy only).

Layout of a feature directory ``DIR``::

    DIR/manifest.json
    DIR/manifest.journal.jsonl  videos recorded since manifest.json was last written (see below)
    DIR/<video_id>.npy          float32 [num_snippets, feature_dim]   (time-major)
    DIR/<video_id>.probs.npy    float32 [num_snippets, num_classes]   (softmax probabilities; optional)

``manifest.json``::

    {
      "format": "vidstruct.features/1",
      "backbone": {"checkpoint": "/abs/path.pt", "sha256": "...", "model": "r2plus1d_tiny"},
      "config_hash": "...",          # compute_config_hash(backbone sha, window_s, stride_s, input spec)
      "window_s": 1.0, "stride_s": 0.5, "feature_dim": 64,
      "classes": ["a", "b"] | null,   # class names of the backbone's classifier (probs columns)
      "videos": {"<video_id>": {"features": "<video_id>.npy", "probs": "<video_id>.probs.npy" | null,
                                "num_snippets": 15, "duration_s": 8.0, "video_fps": 25.0}},
      "failed": {"<video_id>": "error message"}
    }

Snippet ``i`` covers ``[i * stride_s, i * stride_s + window_s]`` seconds of the video (clipped to the
duration); its centre is ``min(i * stride_s + window_s / 2, duration_s)``.

A run that adds videos one at a time records each in the journal beside ``manifest.json`` (one JSON line,
fsynced) and folds it into ``manifest.json`` now and then; readers see both (:func:`read_manifest`). The
manifest and its journal live in :mod:`vidstruct.data.feature_manifest`; their names are re-exported here.

Readers use :class:`FeatureStore`; writers (``vidstruct.pipeline.features``) use :func:`new_manifest`,
:func:`compact_manifest`, :class:`ManifestJournal` (or :func:`write_manifest` for a whole manifest) and
:func:`save_array_atomic`, feature files first and their record after, so that an interrupted run never
leaves a manifest entry pointing at a half-written file.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vidstruct.atomic import write_bytes_atomic
from vidstruct.data.feature_manifest import (
    FORMAT,
    JOURNAL_NAME,
    MANIFEST_NAME,
    FeatureStoreError,
    ManifestJournal,
    compact_manifest,
    new_manifest,
    read_manifest,
    validate_manifest,
    write_manifest,
)

__all__ = [
    "FORMAT",
    "JOURNAL_NAME",
    "MANIFEST_NAME",
    "FeatureStore",
    "FeatureStoreError",
    "ManifestJournal",
    "VideoFeatures",
    "compact_manifest",
    "compute_config_hash",
    "new_manifest",
    "num_snippets_for",
    "read_manifest",
    "rescale_features",
    "save_array_atomic",
    "snippet_bounds_s",
    "snippet_centers_s",
    "validate_manifest",
    "write_manifest",
]


@dataclass(frozen=True)
class VideoFeatures:
    """Snippet features of one video.

    Attributes:
        features: float32 ``[N, C]`` — one backbone feature vector per snippet, time-major.
        probs: float32 ``[N, K]`` softmax class probabilities per snippet, or None (no classifier).
        centers_s: float64 ``[N]`` — snippet centres in seconds (see :func:`snippet_centers_s`).
        duration_s: video duration in seconds.
        stride_s: seconds between consecutive snippet starts.
        window_s: snippet length in seconds.
    """

    features: np.ndarray
    probs: np.ndarray | None
    centers_s: np.ndarray
    duration_s: float
    stride_s: float
    window_s: float

    @property
    def num_snippets(self) -> int:
        return int(self.features.shape[0])


# ----------------------------------------------------------------------------------------------- geometry


def num_snippets_for(duration_s: float, window_s: float, stride_s: float) -> int:
    """Number of snippets of a video: one per start ``0, stride, 2*stride, ...`` strictly before the end
    (``ceil(duration / stride)``, at least 1), the rule of :func:`vidstruct.io.iter_windows`. Trailing snippets
    that run past the end are clipped (their frames repeat the last frame of the video)."""
    del window_s  # every start before the end makes a snippet, whatever the window length
    return max(1, int(math.ceil(duration_s / stride_s - 1e-9)))


def snippet_bounds_s(i: int | np.ndarray, window_s: float, stride_s: float, duration_s: float) -> tuple[Any, Any]:
    """Start / end seconds of snippet(s) ``i``: ``[i*stride, i*stride + window]`` clipped to ``[0, duration]``."""
    start = np.minimum(np.asarray(i, dtype=np.float64) * stride_s, duration_s)
    end = np.minimum(start + window_s, duration_s)
    if np.ndim(start) == 0:
        return float(start), float(end)
    return start, end


def snippet_centers_s(i: int | np.ndarray, window_s: float, stride_s: float, duration_s: float) -> Any:
    """Centre(s) of snippet(s) ``i`` in seconds: ``min(i * stride_s + window_s / 2, duration_s)``."""
    c = np.minimum(np.asarray(i, dtype=np.float64) * stride_s + window_s / 2.0, duration_s)
    return float(c) if np.ndim(c) == 0 else c


# ----------------------------------------------------------------------------------------------- rescale


def rescale_features(feats: np.ndarray, centers_s: np.ndarray, duration_s: float, T: int) -> np.ndarray:
    """Linearly interpolate snippet features onto ``T`` evenly spaced positions (BMN's fixed temporal scale).

    Args:
        feats: ``[N, C]`` snippet features (time-major).
        centers_s: ``[N]`` increasing snippet centres in seconds.
        duration_s: video duration in seconds (> 0).
        T: number of output positions; position ``t`` has centre ``(t + 0.5) * duration_s / T``.

    Returns:
        float32 ``[T, C]``. Positions before the first / after the last centre take the first / last
        snippet's feature (no extrapolation); with ``N == 1`` every position is that snippet's feature.
    """
    feats = np.asarray(feats)
    centers = np.asarray(centers_s, dtype=np.float64)
    if feats.ndim != 2:
        raise FeatureStoreError(f"rescale_features: feats must be [N, C], got shape {tuple(feats.shape)}")
    n = feats.shape[0]
    if n == 0:
        raise FeatureStoreError("rescale_features: feats has no snippets (N == 0)")
    if centers.shape != (n,):
        raise FeatureStoreError(f"rescale_features: centers_s must have shape ({n},), got {tuple(centers.shape)}")
    if T < 1:
        raise FeatureStoreError(f"rescale_features: T must be >= 1, got {T}")
    if not duration_s > 0:
        raise FeatureStoreError(f"rescale_features: duration_s must be > 0, got {duration_s}")
    if n > 1 and np.any(np.diff(centers) < 0):
        raise FeatureStoreError("rescale_features: centers_s must be non-decreasing")
    f = feats.astype(np.float64, copy=False)
    if n == 1:
        return np.repeat(f, T, axis=0).astype(np.float32)
    pos = (np.arange(T, dtype=np.float64) + 0.5) * (duration_s / T)
    # index of the right neighbour: first centre >= pos (side="left"), clamped to [1, n-1]
    right = np.clip(np.searchsorted(centers, pos, side="left"), 1, n - 1)
    left = right - 1
    c0, c1 = centers[left], centers[right]
    span = c1 - c0
    with np.errstate(divide="ignore", invalid="ignore"):
        w = np.where(span > 0, (pos - c0) / np.where(span > 0, span, 1.0), 0.0)
    w = np.clip(w, 0.0, 1.0)[:, None]
    out = f[left] * (1.0 - w) + f[right] * w
    return out.astype(np.float32)


# ----------------------------------------------------------------------------------------------- writing


def compute_config_hash(backbone_sha256: str, window_s: float, stride_s: float, input_spec: dict[str, Any]) -> str:
    """Stable short hash (16 hex chars) of what determines the features: backbone weights, window, stride and
    the backbone's input spec (a JSON-serializable dict: frames, sampling rate / fps, crop size, mean / std...)."""
    payload = {
        "backbone_sha256": backbone_sha256,
        "window_s": round(float(window_s), 9),
        "stride_s": round(float(stride_s), 9),
        "input_spec": input_spec,
    }
    blob = json.dumps(payload, sort_keys=True, default=str, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def save_array_atomic(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write ``array`` as float32 ``.npy`` at ``path`` atomically (:mod:`vidstruct.atomic`: never half-written)."""
    arr = np.ascontiguousarray(array, dtype=np.float32)
    write_bytes_atomic(path, lambda fh: np.save(fh, arr, allow_pickle=False))


# ----------------------------------------------------------------------------------------------- reading


class FeatureStore:
    """Read access to a feature directory written by ``vidstruct extract-features``.

    ``FeatureStore(path)`` reads and validates the manifest (``manifest.json`` and its journal) immediately;
    :meth:`load` validates each feature file (shape, dtype, snippet count) when it is read. The store is a
    snapshot: videos recorded after it was opened are not seen.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.meta: dict[str, Any] = read_manifest(self.path)

    @property
    def video_ids(self) -> list[str]:
        """IDs of the successfully extracted videos, sorted."""
        return sorted(self.meta["videos"])

    @property
    def failed(self) -> dict[str, str]:
        """``{video_id: error message}`` of videos the extraction could not process."""
        return dict(self.meta.get("failed", {}))

    @property
    def classes(self) -> list[str] | None:
        """Class names of the backbone's classifier (columns of ``probs``), or None."""
        return self.meta["classes"]

    @property
    def feature_dim(self) -> int:
        return int(self.meta["feature_dim"])

    @property
    def window_s(self) -> float:
        return float(self.meta["window_s"])

    @property
    def stride_s(self) -> float:
        return float(self.meta["stride_s"])

    @property
    def config_hash(self) -> str:
        return self.meta["config_hash"]

    def __contains__(self, video_id: object) -> bool:
        return video_id in self.meta["videos"]

    def __len__(self) -> int:
        return len(self.meta["videos"])

    def entry(self, video_id: str) -> dict[str, Any]:
        """The manifest entry of ``video_id`` (raises :class:`FeatureStoreError` naming close IDs if unknown)."""
        try:
            return self.meta["videos"][video_id]
        except KeyError:
            msg = f"{self.path / MANIFEST_NAME}: no features for video {video_id!r}"
            if video_id in self.meta.get("failed", {}):
                msg += f" (extraction failed: {self.meta['failed'][video_id]})"
            raise FeatureStoreError(msg) from None

    def _load_array(self, name: str, field: str, video_id: str) -> np.ndarray:
        path = self.path / name
        if not path.is_file():
            raise FeatureStoreError(f"{path}: missing (listed as videos.{video_id}.{field} in the manifest)")
        try:
            arr = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise FeatureStoreError(f"{path}: not a readable .npy file ({exc})") from None
        if arr.ndim != 2:
            raise FeatureStoreError(f"{path}: expected a 2-D array, got shape {tuple(arr.shape)}")
        return arr.astype(np.float32, copy=False)

    def load(self, video_id: str) -> VideoFeatures:
        """Features (and probabilities) of one video; see :class:`VideoFeatures` for layouts."""
        entry = self.entry(video_id)
        n = int(entry["num_snippets"])
        feats = self._load_array(entry["features"], "features", video_id)
        if feats.shape != (n, self.feature_dim):
            raise FeatureStoreError(
                f"{self.path / entry['features']}: expected shape ({n}, {self.feature_dim}) "
                f"(num_snippets, feature_dim), got {tuple(feats.shape)}"
            )
        probs = None
        if entry.get("probs"):
            probs = self._load_array(entry["probs"], "probs", video_id)
            k = len(self.classes) if self.classes is not None else probs.shape[1]
            if probs.shape != (n, k):
                raise FeatureStoreError(
                    f"{self.path / entry['probs']}: expected shape ({n}, {k}) (num_snippets, num_classes), "
                    f"got {tuple(probs.shape)}"
                )
        duration = float(entry["duration_s"])
        centers = snippet_centers_s(np.arange(n), self.window_s, self.stride_s, duration)
        return VideoFeatures(
            features=feats,
            probs=probs,
            centers_s=np.asarray(centers, dtype=np.float64),
            duration_s=duration,
            stride_s=self.stride_s,
            window_s=self.window_s,
        )

    def load_rescaled(self, video_id: str, T: int) -> np.ndarray:
        """``rescale_features`` of one video's features: float32 ``[T, C]``."""
        vf = self.load(video_id)
        return rescale_features(vf.features, vf.centers_s, vf.duration_s, T)
