"""The localization post-processing chain on one item's model outputs: proposals → Soft-NMS → class fusion.

The single definition of how a localizer's outputs become scored segments;
training-time validation (:mod:`vidstruct.engine.localization.evaluate`) and
``vidstruct localize`` (:mod:`vidstruct.pipeline.localization_chain`, which
runs the model over a video's features or windows) both call it.

Per item (a whole video rescaled to ``T`` positions, or one window of ``T``
snippets spanning ``span_s`` seconds from ``offset_s``), :func:`decode_item`:

1. proposals ``(start, end, score)`` in the item's seconds: BMN candidates
   (:func:`~.decode.bmn_proposals`), the relation head's refined top
   proposals (:func:`~.decode.relation_proposals`), or the weak model's CAS
   segments (:func:`~.decode.decode_cas`, class-agnostic);
2. Soft-NMS (:func:`vidstruct.eval.postprocess.soft_nms`; BMN's ActivityNet
   setting by default: Gaussian, σ = 0.4, width-adaptive threshold 0.5 → 0.9),
   keeping ``max_proposals``;
3. class fusion into detections ``(start, end, score, class)``
   (:func:`vidstruct.eval.postprocess.fuse_classification`):

   - ``"snippet"``: each proposal takes the backbone's per-snippet class
     probabilities averaged over the positions inside it (restricted to the
     localization classes, renormalized); its ``fusion_top_k`` best classes
     give detections scored ``proposal score × class probability``;
   - ``"video"``: the same with the video-level probabilities (the mean over
     all positions, renormalized: :func:`vidstruct.eval.video_pooling.video_class_probs`,
     shared with ``vidstruct classify-videos``), i.e. top-k video classes × proposal score;
   - ``"cas"``: the weak model's own classes (its CAS segments);
   - ``"none"``: proposals only.

Then times move to the video (``+ offset_s``, clipped to the duration). Windows
of one video are merged by :func:`merge_items` (Soft-NMS again over the union,
per class for detections) and cut to ``max_segments`` detections.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from vidstruct.errors import InputError
from vidstruct.eval.localization.decode import bmn_proposals, decode_cas, relation_proposals
from vidstruct.eval.postprocess import fuse_classification, soft_nms
from vidstruct.eval.video_pooling import normalize_probs, video_class_probs
from vidstruct.models.localization.spec import PostprocessSettings
from vidstruct.models.localization.weak import WeakCAS

__all__ = ["Localization", "decode_item", "merge_items"]


@dataclass
class Localization:
    """One video (or window): ``proposals [P, 3]`` (start_s, end_s, score) and ``detections [M, 4]``
    (start_s, end_s, score, class index), both in seconds of the video, sorted by decreasing score."""

    proposals: np.ndarray
    detections: np.ndarray


def _soft_nms(
    rows: np.ndarray, post: PostprocessSettings, duration: float, top_k: int, labels: Any = None
) -> np.ndarray:
    """Soft-NMS of ``rows [N, ≥3]`` (start, end, score, ...) with ``post``'s settings; rows keep their extra columns."""
    if rows.shape[0] == 0:
        return rows
    adaptive = post.low_threshold is not None and post.high_threshold is not None
    _, scores, idx = soft_nms(
        rows[:, :2],
        rows[:, 2],
        method=post.nms,
        sigma=post.sigma,
        iou_threshold=post.iou_threshold,
        low_threshold=post.low_threshold if adaptive else None,
        high_threshold=post.high_threshold if adaptive else None,
        duration=duration if adaptive else None,
        top_k=top_k,
        labels=labels,
    )
    out = rows[idx].copy()
    out[:, 2] = scores
    return out


def _mean_probs_inside(props: np.ndarray, probs: np.ndarray, span_s: float) -> np.ndarray:
    """Class probabilities ``[P, K]`` averaged over the grid positions whose centres lie in each proposal
    (the nearest position when none does); ``probs [T, K]``."""
    T = probs.shape[0]
    csum = np.concatenate([np.zeros((1, probs.shape[1])), np.cumsum(probs, axis=0, dtype=np.float64)])
    u0, u1 = props[:, 0] / span_s * T - 0.5, props[:, 1] / span_s * T - 0.5
    lo = np.clip(np.ceil(u0 - 1e-9), 0, T - 1).astype(np.int64)
    hi = np.clip(np.floor(u1 + 1e-9), 0, T - 1).astype(np.int64)
    empty = hi < lo
    mid = np.clip(np.rint((u0 + u1) / 2), 0, T - 1).astype(np.int64)
    lo, hi = np.where(empty, mid, lo), np.where(empty, mid, hi)
    return (csum[hi + 1] - csum[lo]) / (hi - lo + 1)[:, None]


def _fuse(props: np.ndarray, probs: np.ndarray | None, post: PostprocessSettings, span_s: float) -> np.ndarray:
    """Detections ``[M, 4]`` (item seconds) from proposals ``[P, 3]`` and mapped class probabilities ``[T, K]``."""
    if post.fusion == "none" or props.shape[0] == 0:
        return np.zeros((0, 4))
    if probs is None:
        raise InputError(f"fusion {post.fusion!r}: backbone class probabilities are required (probs=None)")
    per = (
        video_class_probs(probs, "mean")  # the pooling of `vidstruct classify-videos`, on this grid
        if post.fusion == "video"
        else normalize_probs(_mean_probs_inside(props, probs, span_s))
    )
    seg, scores, labels = fuse_classification(props[:, :2], props[:, 2], per, top_k=post.fusion_top_k)
    out = np.concatenate([seg, scores[:, None], labels[:, None].astype(np.float64)], axis=1)
    return out[np.argsort(-out[:, 2], kind="stable")]


def decode_item(
    kind: str,
    outputs: dict[str, torch.Tensor],
    index: int,
    *,
    span_s: float,
    post: PostprocessSettings,
    offset_s: float = 0.0,
    video_duration_s: float | None = None,
    probs: np.ndarray | torch.Tensor | None = None,
    use_relation: bool = True,
) -> Localization:
    """Proposals and detections of item ``index`` of a batch of model ``outputs`` (see module doc).

    ``kind``: ``"bmn"`` or ``"weak_cas"``; ``span_s``: seconds the item's ``T`` positions span;
    ``probs``: ``[T, K]`` backbone probabilities of the localization classes on the item's grid (for
    ``snippet`` / ``video`` fusion). Results are in seconds of the video (``+ offset_s``, clipped to
    ``video_duration_s``).
    """
    b = index
    if kind == "bmn":
        if use_relation and "rel_cls_logit" in outputs:
            cand = relation_proposals(outputs, b, duration_s=span_s).double().numpy()
        else:
            cand = (
                bmn_proposals(
                    outputs["start"][b],
                    outputs["end"][b],
                    outputs["confidence"][b],
                    duration_s=span_s,
                    peak_ratio=post.peak_ratio,
                )
                .double()
                .numpy()
            )
        props = _soft_nms(cand, post, span_s, post.max_proposals)
        p = None if probs is None else np.asarray(probs, dtype=np.float64)
        dets = _fuse(props, p, post, span_s)
    elif kind == "weak_cas":
        cas, video = WeakCAS.probabilities({k: v[b : b + 1] for k, v in outputs.items()})
        dets = (
            decode_cas(
                cas[0],
                video[0],
                duration_s=span_s,
                thresholds=post.cas_thresholds,
                class_threshold=post.class_threshold,
                video_weight=post.video_weight,
                nms_iou=post.cas_nms_iou,
            )
            .double()
            .numpy()
        )
        props = _soft_nms(dets[:, :3].copy(), post, span_s, post.max_proposals)
    else:
        raise ValueError(f"localizer kind: expected 'bmn' or 'weak_cas', got {kind!r}")
    props, dets = props.copy(), dets.copy()
    for rows in (props, dets):
        rows[:, :2] += offset_s
        if video_duration_s is not None:
            rows[:, :2] = rows[:, :2].clip(0.0, video_duration_s)
    props = props[props[:, 1] > props[:, 0]]
    dets = dets[dets[:, 1] > dets[:, 0]]
    return Localization(props, dets[: post.max_segments])


def merge_items(parts: list[Localization], post: PostprocessSettings, duration_s: float) -> Localization:
    """One video's localization from its windows: Soft-NMS over the union (per class for detections)."""
    if len(parts) == 1:
        return parts[0]
    props = np.concatenate([p.proposals for p in parts]) if parts else np.zeros((0, 3))
    dets = np.concatenate([p.detections for p in parts]) if parts else np.zeros((0, 4))
    props = _soft_nms(props, post, duration_s, post.max_proposals)
    dets = _soft_nms(
        dets, post, duration_s, post.max_segments, labels=dets[:, 3].astype(np.int64) if len(dets) else None
    )
    return Localization(props, dets)
