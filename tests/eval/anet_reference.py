"""Slow, loop-based re-statements of the ActivityNet toolkit algorithms (test oracles only).

Written from the published algorithm of ``Evaluation/eval_detection.py`` and
``Evaluation/eval_proposal.py`` (ActivityNet), one prediction / one video at a
time with plain Python lists. Ties follow ``tie_order``: ``"stable"`` is
vidstruct's documented rule (descending score, equal scores in file order; of
equal-tIoU ground truth the first listed), ``"official"`` transcribes the
toolkit's own lines (``prediction['score'].values.argsort()[::-1]`` per class,
``tiou_arr.argsort()[::-1]`` per prediction, ``proposals_videoid['score']
.argsort()[::-1]`` per video: numpy's default sort, reversed). Works on the
parsed JSON dicts directly so that subset filtering and the handling of extra
videos are checked too.
"""

from __future__ import annotations

import math

import numpy as np


def tiou(pred: tuple[float, float], gt: tuple[float, float]) -> float:
    inter = max(0.0, min(pred[1], gt[1]) - max(pred[0], gt[0]))
    union = (gt[1] - gt[0]) + (pred[1] - pred[0]) - inter
    return inter / union if union > 0 else 0.0


def interp_ap(prec: list[float], rec: list[float]) -> float:
    mprec = [0.0, *prec, 0.0]
    mrec = [0.0, *rec, 1.0]
    for i in range(len(mprec) - 2, -1, -1):
        mprec[i] = max(mprec[i], mprec[i + 1])
    return sum((mrec[i] - mrec[i - 1]) * mprec[i] for i in range(1, len(mrec)) if mrec[i] != mrec[i - 1])


def _gt_rows(gt: dict, subset: str) -> tuple[list[tuple[str, float, float, str]], list[str]]:
    rows, classes = [], []
    for vid, v in gt["database"].items():
        if v["subset"] != subset:
            continue
        for a in v["annotations"]:
            if a["label"] not in classes:
                classes.append(a["label"])
            rows.append((vid, float(a["segment"][0]), float(a["segment"][1]), a["label"]))
    return rows, classes


def _official_order(values: list[float]) -> list[int]:
    """The toolkit's ``values.argsort()[::-1]`` on a float64 array in list order."""
    return [int(i) for i in np.asarray(values, dtype=np.float64).argsort()[::-1]]


def detection_ap(gt: dict, sub: dict, subset: str, thresholds: list[float], tie_order: str = "stable") -> np.ndarray:
    """AP [T, C], classes in first-appearance order."""
    rows, classes = _gt_rows(gt, subset)
    preds = [
        (vid, float(d["segment"][0]), float(d["segment"][1]), d["label"], d["score"])
        for vid, dets in sub["results"].items()
        for d in dets
    ]
    ap = np.zeros((len(thresholds), len(classes)))
    for c, name in enumerate(classes):
        g = [r for r in rows if r[3] == name]
        p = [r for r in preds if r[3] == name]
        if not p:
            continue
        if tie_order == "official":
            p = [p[i] for i in _official_order([r[4] for r in p])]
        else:
            p = sorted(p, key=lambda r: -r[4])  # Python's sort is stable
        lock = [[-1] * len(g) for _ in thresholds]
        tp = [[0] * len(p) for _ in thresholds]
        fp = [[0] * len(p) for _ in thresholds]
        for i, (vid, s, e, _, _) in enumerate(p):
            same = [k for k in range(len(g)) if g[k][0] == vid]
            if not same:
                for t in range(len(thresholds)):
                    fp[t][i] = 1
                continue
            ious = {k: tiou((s, e), (g[k][1], g[k][2])) for k in same}
            if tie_order == "official":
                by_iou = [same[j] for j in _official_order([ious[k] for k in same])]
            else:
                by_iou = sorted(same, key=lambda k: -ious[k])
            for t, thr in enumerate(thresholds):
                for k in by_iou:
                    if ious[k] < thr:
                        break
                    if lock[t][k] >= 0:
                        continue
                    tp[t][i] = 1
                    lock[t][k] = i
                    break
                if not tp[t][i]:
                    fp[t][i] = 1
        for t in range(len(thresholds)):
            tpc = np.cumsum(tp[t]).astype(float)
            fpc = np.cumsum(fp[t]).astype(float)
            ap[t, c] = interp_ap(list(tpc / (tpc + fpc)), list(tpc / len(g)))
    return ap


def proposal_curve(
    gt: dict, sub: dict, subset: str, thresholds: list[float], max_avg: float | None, tie_order: str = "stable"
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """(recall [T, 100], avg_recall [100], avg_nr_proposals [100], AUC percent)."""
    rows, _ = _gt_rows(gt, subset)
    videos: list[str] = []
    for r in rows:
        if r[0] not in videos:
            videos.append(r[0])
    props = [
        (vid, float(d["segment"][0]), float(d["segment"][1]), d["score"])
        for vid, ds in sub["results"].items()
        for d in ds
    ]
    n_vid, n_prop = len(videos), len(props)
    if not max_avg:
        max_avg = float(n_prop) / n_vid
    ratio = max_avg * float(n_vid) / n_prop
    scores_per_video = []  # [n_gt][n_cols] tIoU per video
    total = 0
    for vid in videos:
        g = [(r[1], r[2]) for r in rows if r[0] == vid]
        p = [q for q in props if q[0] == vid]
        if tie_order == "official":
            p = [p[i] for i in _official_order([q[3] for q in p])]
        else:
            p = sorted(p, key=lambda q: -q[3])
        if not p:
            scores_per_video.append([[0.0] for _ in g])
            continue
        nr = min(int(len(p) * ratio), len(p))
        total += nr
        scores_per_video.append([[tiou((q[1], q[2]), gg) for q in p[:nr]] for gg in g])
    pcn = [(j + 1) / 100.0 * (max_avg * float(n_vid) / total) for j in range(100)]
    recall = np.zeros((len(thresholds), 100))
    for t, thr in enumerate(thresholds):
        positives = 0
        matches = [0] * 100
        for m in scores_per_video:
            positives += len(m)
            cols = len(m[0]) if m else 0
            for j in range(100):
                nr = min(int(cols * pcn[j]), cols)
                matches[j] += sum(1 for row in m if any(x >= thr for x in row[:nr]))
        recall[t] = [x / positives for x in matches]
    avg = recall.mean(axis=0)
    an = [x * (float(total) / n_vid) for x in pcn]
    area = sum((an[j + 1] - an[j]) * (avg[j + 1] + avg[j]) / 2.0 for j in range(99))
    return recall, avg, np.asarray(an), 100.0 * area / an[-1]


def soft_nms_loop(segments: list, scores: list, sigma: float, thr: float, top_k: int) -> tuple[list, list]:
    """Gaussian Soft-NMS as BMN's reference loop: Python lists, one score at a time."""
    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    idx = list(order)
    s = [scores[i] for i in order]
    kept, kept_scores = [], []
    while idx and len(kept) < top_k:
        m = s.index(max(s))
        a0, a1 = segments[idx[m]]
        for j in range(len(idx)):
            if j == m:
                continue
            b0, b1 = segments[idx[j]]
            inter = max(0.0, min(a1, b1) - max(a0, b0))
            union = (b1 - b0) - inter + (a1 - a0)
            u = inter / union if union > 0 else 0.0
            if u > thr:
                s[j] = s[j] * math.exp(-(u * u) / sigma)
        kept.append(idx.pop(m))
        kept_scores.append(s.pop(m))
    return kept, kept_scores
