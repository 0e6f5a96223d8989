"""ActivityNet proposal metric: average recall vs. average number of proposals (AR@AN) and AUC.

Protocol (identical to the official toolkit, ``Evaluation/eval_proposal.py``,
``ANETproposal`` / ``average_recall_vs_avg_nr_proposals``; labels are ignored):

- the videos are those with at least one ground-truth segment (``V``);
  ``N`` is the number of submitted proposals, *including those for videos
  absent from the ground truth*; ``max_avg_nr_proposals`` (``A``, default
  ``N / V``) is the largest average number of proposals per video;
- every video keeps its first ``min(int(n_v · A·V / N), n_v)`` proposals by
  descending score (all of them when the submission has exactly ``A`` per
  video); ``total`` is the sum of those counts over videos with proposals;
- a grid of 100 budgets ``pcn_j = (j+1)/100 · A·V / total``
  (``j = 0..99``): at budget ``j`` a video uses its first
  ``min(int(k_v · pcn_j), k_v)`` kept proposals (``k_v`` kept; a video
  without any proposal counts as one column of tIoU 0, so it only adds ground
  truth); a ground-truth segment is recalled at threshold ``θ`` when one of
  those proposals has ``tIoU >= θ`` with it (a proposal may recall several);
- ``recall[θ, j]`` = recalled segments / all segments; ``avg_recall[j]`` its
  mean over thresholds; the x axis is ``AN_j = pcn_j · total / V`` (``≈ (j+1)
  A / 100``); ``AUC = 100 · trapz(avg_recall, AN) / AN[-1]`` (percent, as the
  toolkit prints it);
- ``AR@k`` is ``avg_recall`` at ``AN = k`` on that grid (for ``A = 100``:
  ``avg_recall[k - 1]``, as BMN / BSN report AR@1, AR@5, AR@10, AR@100).

Ties (``tie_order``, see :mod:`.ranking`): which of a video's proposals with
equal scores come first decides which are kept and which fit a budget.
``"stable"`` (default) ranks a video's proposals by descending score, equal
scores in file order (the first listed first); ``"official"`` ranks them as
the toolkit does, ``score.argsort()[::-1]`` on the video's proposals in file
order (numpy's default, unstable sort, reversed), which reproduces its numbers
with the same numpy on the same CPU. Without ties both equal the toolkit
(checked against a loop transcription of it on random cases). Degenerate
inputs the toolkit crashes on (no proposals at all, or none kept in any ground-truth
video) give recall 0 everywhere here, with ``AN_j = (j+1) A / 100``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from vidstruct.errors import AnnotationError, InputError, ShapeError
from vidstruct.eval.temporal.formats import TemporalGroundTruth, TemporalPredictions
from vidstruct.eval.temporal.protocols import ANET_TIOU, check_thresholds
from vidstruct.eval.temporal.ranking import TieOrder, check_tie_order, rank_by_score
from vidstruct.eval.temporal.tiou import paired_tiou

__all__ = ["ProposalResult", "average_recall_vs_avg_nr_proposals", "evaluate_proposals"]

log = logging.getLogger(__name__)
_GRID = 100


def average_recall_vs_avg_nr_proposals(
    gt_video: np.ndarray,
    gt_segments: np.ndarray,
    prop_video: np.ndarray,
    prop_segments: np.ndarray,
    prop_scores: np.ndarray,
    *,
    max_avg_nr_proposals: float | None = None,
    tiou_thresholds: Sequence[float] | np.ndarray = ANET_TIOU,
    tie_order: TieOrder = "stable",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(recall [T, 100], avg_recall [100], avg_nr_proposals [100])`` (flat-array API).

    ``gt_video`` ``[G]`` / ``prop_video`` ``[P]``: int video ids in one id space
    (proposals of ids without ground truth only count in ``N``);
    segments ``[*, 2]`` seconds; ``prop_scores`` ``[P]``; proposals in file
    order, which ``tie_order`` (module docstring) uses to break ties.
    """
    thr = check_thresholds(tiou_thresholds)
    tie_order = check_tie_order(tie_order)
    gt_video = np.asarray(gt_video, dtype=np.int64).reshape(-1)
    gt_segments = np.asarray(gt_segments, dtype=np.float64).reshape(-1, 2)
    prop_video = np.asarray(prop_video, dtype=np.int64).reshape(-1)
    prop_segments = np.asarray(prop_segments, dtype=np.float64).reshape(-1, 2)
    prop_scores = np.asarray(prop_scores, dtype=np.float64).reshape(-1)
    n_p = prop_video.shape[0]
    if gt_segments.shape[0] != gt_video.shape[0]:
        raise ShapeError(f"ground truth: {gt_video.shape[0]} video ids but {gt_segments.shape[0]} segments")
    if prop_segments.shape[0] != n_p or prop_scores.shape[0] != n_p:
        raise ShapeError(
            f"proposals: {n_p} video ids, {prop_segments.shape[0]} segments, {prop_scores.shape[0]} scores"
        )
    if gt_video.size == 0:
        raise InputError("no ground-truth segments: the proposal metric needs at least one")
    videos, gt_v = np.unique(gt_video, return_inverse=True)  # gt_v: local video index of each segment
    n_vid = videos.size
    if max_avg_nr_proposals is not None and max_avg_nr_proposals < 0:
        raise InputError(f"max_avg_nr_proposals must be positive, got {max_avg_nr_proposals}")
    if not max_avg_nr_proposals:
        max_avg_nr_proposals = float(n_p) / n_vid
    avg_max = float(max_avg_nr_proposals)

    # proposals of ground-truth videos, ranked per video by descending score (ties: tie_order)
    pos = np.minimum(np.searchsorted(videos, prop_video), n_vid - 1)
    in_gt = videos[pos] == prop_video
    p_v = pos[in_gt]
    n_per_video = np.bincount(p_v, minlength=n_vid)
    if n_p == 0:
        kept = np.zeros(n_vid, dtype=np.int64)
    else:
        ratio = avg_max * float(n_vid) / n_p
        kept = np.minimum((n_per_video * ratio).astype(np.int64), n_per_video)
    total = int(kept.sum())
    nominal = np.arange(1, _GRID + 1) / 100.0
    if total == 0:
        log.warning("no proposal is kept for any ground-truth video: recall is 0")
        return np.zeros((thr.size, _GRID)), np.zeros(_GRID), nominal * avg_max

    o = rank_by_score(prop_scores[in_gt], p_v, tie_order)
    seg_sorted = prop_segments[in_gt][o]
    v_sorted = p_v[o]
    start = np.searchsorted(v_sorted, np.arange(n_vid))  # first proposal of each video in seg_sorted

    # pairs (ground-truth segment, kept proposal of its video) -> first rank reaching each threshold
    per_gt = kept[gt_v]
    big = np.iinfo(np.int64).max
    first_hit = np.full((gt_video.size, thr.size), big, dtype=np.int64)
    has = per_gt > 0
    if has.any():
        g_ids = np.flatnonzero(has)
        counts = per_gt[g_ids]
        pair_g = np.repeat(g_ids, counts)
        offsets = np.cumsum(counts) - counts
        within = np.arange(pair_g.size) - np.repeat(offsets, counts)
        pair_p = start[gt_v[pair_g]] + within
        tiou = paired_tiou(seg_sorted[pair_p], gt_segments[pair_g])
        masked = np.where(tiou[:, None] >= thr[None, :], within[:, None], big)
        first_hit[g_ids] = np.minimum.reduceat(masked, offsets, axis=0)

    # budgets per video on the grid; videos without proposals count as one column (tIoU 0, never recalled)
    columns = np.where(n_per_video > 0, kept, 1)
    pcn = nominal * (avg_max * float(n_vid) / total)
    budget = np.minimum((columns[:, None] * pcn[None, :]).astype(np.int64), columns[:, None])  # [V, 100]
    gt_budget = budget[gt_v]  # [G, 100]
    recall = np.empty((thr.size, _GRID))
    for t in range(thr.size):
        recall[t] = (first_hit[:, t, None] < gt_budget).sum(axis=0) / float(gt_video.size)
    return recall, recall.mean(axis=0), pcn * (float(total) / n_vid)


@dataclass(frozen=True)
class ProposalResult:
    """Recall ``[T, 100]`` at ``tiou_thresholds`` over the AN grid ``avg_nr_proposals`` ``[100]``."""

    tiou_thresholds: np.ndarray
    recall: np.ndarray
    avg_recall: np.ndarray
    avg_nr_proposals: np.ndarray
    max_avg_nr_proposals: float
    num_videos: int
    num_ground_truth: int
    num_proposals: int
    tie_order: TieOrder = "stable"

    @property
    def auc(self) -> float:
        """Area under the AR-AN curve, in percent of the full square (the toolkit's printed number)."""
        if self.avg_nr_proposals[-1] <= 0:
            return 0.0
        return float(100.0 * np.trapezoid(self.avg_recall, self.avg_nr_proposals) / self.avg_nr_proposals[-1])

    def ar_at(self, an: float) -> float | None:
        """``avg_recall`` at average number of proposals ``an`` when the grid has that point, else None."""
        if self.max_avg_nr_proposals <= 0:
            return None
        j = an * _GRID / self.max_avg_nr_proposals
        k = round(j)
        if abs(j - k) > 1e-9 or not 1 <= k <= _GRID:
            return None
        return float(self.avg_recall[k - 1])

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``AUC`` (percent), ``AR@1/5/10/100`` (those on the grid), ``recall`` per tIoU at the
        largest AN, ``tiou``, the curve and counts."""
        out: dict[str, Any] = {"AUC": self.auc}
        for k in sorted({1, 5, 10, 100, self.max_avg_nr_proposals}):
            value = self.ar_at(k)
            if value is not None:
                out[f"AR@{k:g}"] = value
        out.update(
            {
                "recall": [float(x) for x in self.recall[:, -1]],
                "tiou": [round(float(t), 10) for t in self.tiou_thresholds],
                "max_avg_nr_proposals": self.max_avg_nr_proposals,
                "average_recall": [float(x) for x in self.avg_recall],
                "average_nr_proposals": [float(x) for x in self.avg_nr_proposals],
                "num_videos": self.num_videos,
                "num_ground_truth": self.num_ground_truth,
                "num_proposals": self.num_proposals,
                "tie_order": self.tie_order,
            }
        )
        return out


def evaluate_proposals(
    ground_truth: TemporalGroundTruth,
    proposals: TemporalPredictions,
    *,
    max_avg_nr_proposals: float | None = 100,
    tiou_thresholds: Sequence[float] | np.ndarray = ANET_TIOU,
    tie_order: TieOrder = "stable",
) -> ProposalResult:
    """AR@AN and AUC of ``proposals`` against ``ground_truth`` (see the module docstring).

    ``tie_order``: ``"stable"`` or ``"official"`` ranking of each video's equal-score proposals.
    """
    tie_order = check_tie_order(tie_order)
    if ground_truth.video.size == 0:
        raise AnnotationError(f"{ground_truth.source}: no ground-truth segments in subset {ground_truth.subset!r}")
    video_index = {v: i for i, v in enumerate(ground_truth.video_ids)}
    outside = len(ground_truth.video_ids)
    vmap = np.array([video_index.get(v, outside) for v in proposals.video_ids] + [outside], dtype=np.int64)
    prop_video = vmap[proposals.video]
    if proposals.video.size and not (prop_video < outside).any():
        log.warning(
            "%s: no proposal is for a video of the ground truth (%s): check the video ids (e.g. a 'v_' prefix)",
            proposals.source,
            ground_truth.source,
        )
    thr = check_thresholds(tiou_thresholds)
    recall, avg_recall, an = average_recall_vs_avg_nr_proposals(
        ground_truth.video,
        ground_truth.segments,
        prop_video,
        proposals.segments,
        proposals.scores,
        max_avg_nr_proposals=max_avg_nr_proposals,
        tiou_thresholds=thr,
        tie_order=tie_order,
    )
    n_vid = int(np.unique(ground_truth.video).size)
    return ProposalResult(
        tiou_thresholds=thr,
        recall=recall,
        avg_recall=avg_recall,
        avg_nr_proposals=an,
        max_avg_nr_proposals=float(max_avg_nr_proposals or proposals.video.size / n_vid),
        num_videos=n_vid,
        num_ground_truth=int(ground_truth.video.size),
        num_proposals=int(proposals.video.size),
        tie_order=tie_order,
    )
