"""From localization model outputs to segments ``[M, 3] = (start_s, end_s, score)`` per video.

All times at the API are seconds: snippet features span the whole video
(``T`` positions, ActivityNet style), so normalized time ``u`` is
``u · duration_s``. Scores are probabilities (products of sigmoid / softmax
outputs); rows are sorted by decreasing score.

BMN (:func:`bmn_proposals`, the reference post-processing before Soft-NMS):

1. start candidates: snippet 0, local maxima of ``start`` (greater than both
   neighbours) and snippets with ``start > peak_ratio · max(start)``
   (``peak_ratio = 0.5``); end candidates likewise, with snippet ``T - 1``
   instead of 0;
2. every valid cell ``(d, t)`` whose start ``t`` and end ``t + d`` are both
   candidates is the proposal ``[t / T, (t + d + 1) / T] · duration_s`` with
   score ``start[t] · end[t+d] · reg[d, t] · cls[d, t]``.

Soft-NMS is left to :func:`vidstruct.eval.postprocess.soft_nms` (the chain,
:mod:`vidstruct.eval.localization.chain`). With the relation head,
:func:`relation_proposals` returns the refined top proposals (offsets applied)
scored ``start · end · sigmoid(cls_logit) · iou``.

Weakly supervised (:func:`group_segments`, :func:`decode_cas`): for each
threshold, runs of consecutive snippets whose class activation exceeds it
form segments; a segment's score is ``mean(inside) − mean(outside)`` over
``outer_ratio · length`` snippets on each side (outer-inner contrast, OIC)
or ``mean(inside)`` (``score="mean"``), plus ``video_weight ·`` the class's
video-level probability in :func:`decode_cas`; then hard NMS per class
(:func:`vidstruct.eval.postprocess.nms`).

Pure torch / numpy on model outputs; the models are in :mod:`vidstruct.models.localization`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import torch

from vidstruct.errors import InputError, ShapeError
from vidstruct.eval.postprocess import nms
from vidstruct.models.localization.relation import refine_segments

__all__ = [
    "bmn_proposals",
    "boundary_candidates",
    "decode_bmn",
    "decode_cas",
    "group_segments",
    "relation_proposals",
]


def _check_duration(duration_s: float) -> float:
    try:
        d = float(duration_s)
    except (TypeError, ValueError):
        d = float("nan")
    if not (math.isfinite(d) and d > 0):
        raise InputError(f"duration_s: expected a positive number of seconds, got {duration_s!r}")
    return d


def boundary_candidates(prob: torch.Tensor, *, keep: Literal["first", "last"], peak_ratio: float = 0.5) -> torch.Tensor:
    """``prob [T]`` → bool ``[T]``: local maxima, values over ``peak_ratio · max``, the ``first`` / ``last`` snippet."""
    if prob.ndim != 1:
        raise ShapeError(f"boundary probabilities: expected [T], got {tuple(prob.shape)}")
    out = prob > peak_ratio * prob.max()
    if prob.numel() >= 3:
        mid = (prob[1:-1] > prob[:-2]) & (prob[1:-1] > prob[2:])
        out[1:-1] |= mid
    out[0 if keep == "first" else -1] = True
    return out


def bmn_proposals(
    start: torch.Tensor, end: torch.Tensor, confidence: torch.Tensor, *, duration_s: float, peak_ratio: float = 0.5
) -> torch.Tensor:
    """One video: ``start / end [T]``, ``confidence [2, D, T]`` (reg, cls) → ``[M, 3]`` (start_s, end_s, score)."""
    duration = _check_duration(duration_s)
    if (
        confidence.ndim != 3
        or confidence.shape[0] != 2
        or start.shape != end.shape
        or start.shape != confidence.shape[2:3]
    ):
        raise ShapeError(
            f"BMN outputs: expected start / end [T] and confidence [2, D, T], got {tuple(start.shape)}, "
            f"{tuple(end.shape)}, {tuple(confidence.shape)}"
        )
    _, D, T = confidence.shape
    s_ok = boundary_candidates(start, keep="first", peak_ratio=peak_ratio)
    e_ok = boundary_candidates(end, keep="last", peak_ratio=peak_ratio)
    d = torch.arange(D, device=start.device).view(D, 1).expand(D, T)
    t = torch.arange(T, device=start.device).view(1, T).expand(D, T)
    e = t + d
    ok = (e < T) & s_ok[t] & e_ok[e.clamp(max=T - 1)]
    dd, tt, ee = d[ok], t[ok], e[ok]
    score = start[tt] * end[ee] * confidence[0, dd, tt] * confidence[1, dd, tt]
    tt64, ee64 = tt.to(torch.float64), ee.to(torch.float64)
    rows = torch.stack([tt64 / T * duration, (ee64 + 1) / T * duration, score.to(torch.float64)], dim=1)
    return rows[torch.argsort(score, descending=True, stable=True)].float()


def relation_proposals(outputs: dict[str, torch.Tensor], index: int, *, duration_s: float) -> torch.Tensor:
    """Refined proposals ``[P, 3]`` of video ``index`` from a BMN-with-relation output dict."""
    duration = _check_duration(duration_s)
    for key in ("proposal_cells", "proposal_segments", "proposal_mask", "rel_cls_logit", "rel_iou", "rel_offsets"):
        if key not in outputs:
            raise ValueError(f"relation outputs: missing {key!r} (was the model built with relation=True?)")
    b = index
    mask = outputs["proposal_mask"][b]
    d, t = outputs["proposal_cells"][b, :, 0], outputs["proposal_cells"][b, :, 1]
    seg = refine_segments(outputs["proposal_segments"][b], outputs["rel_offsets"][b])
    score = outputs["start"][b, t] * outputs["end"][b, t + d]
    score = score * torch.sigmoid(outputs["rel_cls_logit"][b]) * outputs["rel_iou"][b]
    seg, score = seg[mask], score[mask]
    rows = torch.cat([seg.to(torch.float64) * duration, score.to(torch.float64).unsqueeze(1)], dim=1)
    return rows[torch.argsort(score, descending=True, stable=True)].float()


@torch.no_grad()
def decode_bmn(
    outputs: dict[str, torch.Tensor],
    durations_s: Sequence[float],
    *,
    use_relation: bool = True,
    peak_ratio: float = 0.5,
) -> list[torch.Tensor]:
    """Batch decode: one ``[M, 3]`` tensor (start_s, end_s, score) per video, on the CPU.

    With relation outputs (and ``use_relation``) the refined top proposals are returned, else
    BMN's candidate proposals.
    """
    start = outputs["start"].detach().float().cpu()
    if len(durations_s) != start.shape[0]:
        raise ShapeError(f"durations_s: expected {start.shape[0]} durations (one per video), got {len(durations_s)}")
    if use_relation and "rel_cls_logit" in outputs:
        cpu = {k: v.detach().cpu() for k, v in outputs.items()}
        return [relation_proposals(cpu, b, duration_s=dur) for b, dur in enumerate(durations_s)]
    end = outputs["end"].detach().float().cpu()
    conf = outputs["confidence"].detach().float().cpu()
    return [
        bmn_proposals(start[b], end[b], conf[b], duration_s=dur, peak_ratio=peak_ratio)
        for b, dur in enumerate(durations_s)
    ]


def group_segments(
    activation: torch.Tensor,
    thresholds: Sequence[float],
    *,
    duration_s: float,
    score: Literal["oic", "mean"] = "oic",
    outer_ratio: float = 0.25,
) -> torch.Tensor:
    """Segments of one class activation sequence ``[T]`` at several thresholds → ``[M, 3]`` (start_s, end_s, score).

    Snippet ``i`` covers ``[i, i + 1] · duration_s / T``. Not sorted, not suppressed (see :func:`decode_cas`).
    """
    duration = _check_duration(duration_s)
    if activation.ndim != 1:
        raise ShapeError(f"activation: expected [T], got {tuple(activation.shape)}")
    act = activation.detach().to("cpu", torch.float64)
    T = act.numel()
    csum = torch.cat([act.new_zeros(1), act.cumsum(0)])
    rows = []
    for th in thresholds:
        above = torch.cat([torch.zeros(1, dtype=torch.bool), act > th, torch.zeros(1, dtype=torch.bool)])
        starts = ((above[1:-1]) & (~above[:-2])).nonzero().flatten()
        ends = ((above[1:-1]) & (~above[2:])).nonzero().flatten() + 1  # exclusive
        if starts.numel() == 0:
            continue
        length = (ends - starts).to(torch.float64)
        inner = (csum[ends] - csum[starts]) / length
        value = inner
        if score == "oic":
            pad = torch.ceil(length * outer_ratio).long()
            lo, hi = (starts - pad).clamp(min=0), (ends + pad).clamp(max=T)
            n_out = (starts - lo + hi - ends).to(torch.float64)
            outer_sum = (csum[starts] - csum[lo]) + (csum[hi] - csum[ends])
            value = inner - torch.where(n_out > 0, outer_sum / n_out.clamp(min=1), torch.zeros_like(inner))
        elif score != "mean":
            raise InputError(f"score: expected 'oic' or 'mean', got {score!r}")
        rows.append(
            torch.stack([starts.to(torch.float64) / T * duration, ends.to(torch.float64) / T * duration, value], dim=1)
        )
    if not rows:
        return torch.zeros(0, 3)
    return torch.cat(rows).float()


def decode_cas(
    cas: torch.Tensor,
    video_scores: torch.Tensor,
    *,
    duration_s: float,
    thresholds: Sequence[float] = tuple(0.025 * i for i in range(10)),
    class_threshold: float = 0.2,
    score: Literal["oic", "mean"] = "oic",
    outer_ratio: float = 0.25,
    video_weight: float = 0.2,
    nms_iou: float = 0.7,
    top_k: int | None = None,
) -> torch.Tensor:
    """One video: activations ``cas [T, C]``, ``video_scores [C]`` → ``[M, 4]`` (start_s, end_s, score, class).

    Classes whose video score reaches ``class_threshold`` (at least the best class) are grouped by
    :func:`group_segments`; each segment's score is ``s = contrast + video_weight · video_scores[c]``, mapped
    linearly onto ``[0, 1]`` as ``(s + 1) / (2 + video_weight)`` (the contrast of activations in ``[0, 1]`` lies
    in ``[-1, 1]``; the map keeps the ranking, so AP is unchanged); hard NMS per class at ``nms_iou``; the result
    is sorted by score (``top_k`` rows at most).
    """
    if cas.ndim != 2 or video_scores.shape != cas.shape[1:]:
        raise ShapeError(
            f"decode_cas: expected cas [T, C] and video_scores [C], got {tuple(cas.shape)}, {tuple(video_scores.shape)}"
        )
    vs = video_scores.detach().cpu().float()
    classes = (vs >= class_threshold).nonzero().flatten().tolist() or [int(vs.argmax())]
    out = []
    for c in classes:
        segs = group_segments(cas[:, c], thresholds, duration_s=duration_s, score=score, outer_ratio=outer_ratio)
        if segs.shape[0] == 0:
            continue
        segs[:, 2] = (segs[:, 2] + video_weight * vs[c] + 1.0) / (2.0 + video_weight)
        _, _, keep = nms(segs[:, :2], segs[:, 2], iou_threshold=nms_iou)
        segs = segs[torch.from_numpy(keep)]
        out.append(torch.cat([segs, torch.full((segs.shape[0], 1), float(c))], dim=1))
    if not out:
        return torch.zeros(0, 4)
    rows = torch.cat(out)
    rows = rows[torch.argsort(rows[:, 2], descending=True, stable=True)]
    return rows if top_k is None else rows[:top_k]
