"""Untrimmed video classification (ActivityNet / HACS style) from a snippet-feature store.

For each video of a store written by ``vidstruct extract-features`` with a classification backbone, the
backbone's per-snippet softmax probabilities (``ID.probs.npy``, ``[N, K]``) are pooled over the video
(:func:`vidstruct.eval.video_pooling.video_class_probs`: ``mean`` by default, ``max`` or ``top-k-mean``; the
same function the localization chain's ``fusion: video`` uses) into the video's class probabilities, and its
most probable classes go into ActivityNet's classification submission::

    {"version": "VERSION 1.3",
     "results": {video_id: [{"label": name, "score": probability}, ...]},   # by decreasing score
     "external_data": {"used": <as told>, "details": "<backbone, pooling>"},
     "backbone": {"checkpoint", "sha256", "model"},                        # from the store's manifest
     "pooling": {"pool": "mean", "top_k": null}}

read by ``vidstruct eval anet-classification`` (and by the official ``eval_classification.py``, which ignores the
two extra keys). With ``classes`` (the ground truth's class names) the probabilities are restricted to those
classes (backbone columns by name) and renormalized, so every label is one the evaluation knows.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vidstruct.atomic import write_json_atomic
from vidstruct.data.features import MANIFEST_NAME, FeatureStore, FeatureStoreError
from vidstruct.errors import InputError
from vidstruct.eval.video_pooling import POOLS, video_class_probs

log = logging.getLogger(__name__)

__all__ = ["VideoClassification", "classify_store", "submission_document", "write_classification_submission"]


@dataclass(frozen=True)
class VideoClassification:
    """The classification of a store's videos: ``results`` (``{video_id: [{label, score}]}``, best first),
    ``missing`` (requested videos the store has no features for), the backbone record and the pooling."""

    results: dict[str, list[dict[str, Any]]]
    missing: list[str]
    backbone: dict[str, str]
    pool: str
    top_k: int | None


def _columns(store: FeatureStore, classes: Sequence[str] | None) -> tuple[list[str], np.ndarray]:
    """Output class names and their columns in the store's probabilities."""
    where = store.path / MANIFEST_NAME
    if store.classes is None:
        raise FeatureStoreError(
            f"{where}: the features have no class probabilities (backbone {store.meta['backbone']['model']!r} has "
            "no classifier); extract them with a classification checkpoint"
        )
    if classes is None:
        return list(store.classes), np.arange(len(store.classes))
    index = {c: i for i, c in enumerate(store.classes)}
    missing = [c for c in classes if c not in index]
    if missing:
        raise InputError(
            f"{where}: classes {missing[:3]} of the labels are not classes of the backbone "
            f"({len(store.classes)} classes); classify with a backbone trained on these classes"
        )
    return list(classes), np.asarray([index[c] for c in classes], dtype=np.int64)


def classify_store(
    features: str | Path | FeatureStore,
    *,
    pool: str = "mean",
    top_k: int = 1,
    classes: Sequence[str] | None = None,
    video_ids: Sequence[str] | None = None,
    max_labels: int | None = None,
) -> VideoClassification:
    """Classify the videos of a feature store (module doc).

    Args:
        features: a feature directory (or an open :class:`FeatureStore`).
        pool: ``mean`` | ``max`` | ``top-k-mean`` over each video's snippets.
        top_k: the ``k`` of ``top-k-mean`` (snippets per class, clipped to the video's snippet count).
        classes: keep only these class names (renormalized over them); default: every backbone class.
        video_ids: classify these videos (those without features are listed in ``missing``); default: all.
        max_labels: labels per video (default: every kept class, so each class is ranked over every video).
    """
    if pool not in POOLS:
        raise InputError(f"--pool: expected one of {', '.join(POOLS)}, got {pool!r}")
    if top_k < 1:
        raise InputError(f"--top-k: expected an integer >= 1, got {top_k}")
    if max_labels is not None and max_labels < 1:
        raise InputError(f"--max-labels: expected an integer >= 1, got {max_labels}")
    store = features if isinstance(features, FeatureStore) else FeatureStore(features)
    names, cols = _columns(store, classes)
    wanted = store.video_ids if video_ids is None else list(dict.fromkeys(video_ids))
    missing = [v for v in wanted if v not in store]
    if not wanted or len(missing) == len(wanted):
        raise InputError(f"{store.path}: no features for any of the {len(wanted)} requested videos")
    keep = len(names) if max_labels is None else min(max_labels, len(names))
    results: dict[str, list[dict[str, Any]]] = {}
    for vid in wanted:
        if vid not in store:
            continue
        vf = store.load(vid)
        if vf.probs is None:
            raise FeatureStoreError(
                f"{store.path / MANIFEST_NAME}: video {vid!r} has no class probabilities (videos.{vid}.probs is "
                "null); extract the features with a classification checkpoint"
            )
        p = video_class_probs(vf.probs[:, cols], pool, top_k)
        order = np.argsort(-p, kind="stable")[:keep]  # ties: lower class index first
        results[vid] = [{"label": names[i], "score": float(p[i])} for i in order]
    if missing:
        log.warning("%d of %d videos have no features in %s (first: %s)", len(missing), len(wanted), store.path,
                    missing[0])  # fmt: skip
    backbone = {k: str(store.meta["backbone"][k]) for k in ("checkpoint", "sha256", "model")}
    return VideoClassification(results, missing, backbone, pool, top_k if pool == "top-k-mean" else None)


def submission_document(result: VideoClassification, *, external_data: bool = False) -> dict[str, Any]:
    """ActivityNet's classification submission (module doc) of ``result``; ``external_data``: whether the backbone
    was trained on data beyond the benchmark's training set (the submission's ``external_data.used``; only the
    user knows)."""
    b = result.backbone
    pooling = result.pool + (f" (k={result.top_k})" if result.top_k is not None else "")
    return {
        "version": "VERSION 1.3",
        "results": result.results,
        "external_data": {
            "used": bool(external_data),
            "details": f"backbone {b['model']} {b['checkpoint']} (sha256 {b['sha256']}); "
            f"snippet probabilities pooled by {pooling}",
        },
        "backbone": dict(b),
        "pooling": {"pool": result.pool, "top_k": result.top_k},
    }


def write_classification_submission(
    out: str | Path, result: VideoClassification, *, external_data: bool = False
) -> Path:
    """Write :func:`submission_document` of ``result`` to ``out`` atomically; returns the path."""
    return write_json_atomic(out, submission_document(result, external_data=external_data))
