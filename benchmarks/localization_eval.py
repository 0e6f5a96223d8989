"""Temporal localization evaluation and Soft-NMS speed: vectorized vidstruct vs. per-item Python loops.

Synthetic ActivityNet-1.3-validation-sized data (4,728 videos, 200 classes,
1-3 ground-truth segments per video, 100 proposals / detections per video):

- ``anet-detection`` / ``anet-proposal``: :mod:`vidstruct.eval.temporal` on
  the full set (JSON loading timed separately) against a loop in the style of
  the official toolkit (one prediction / one video at a time, numpy tIoU per
  item), measured on a subset of videos (it is far slower) and checked to
  give the same numbers there;
- ``soft-nms``: :func:`vidstruct.eval.postprocess.soft_nms` (BMN setting,
  top 100) against a BMN-style Python-list loop on the same candidates.

Usage: ``python benchmarks/localization_eval.py [--quick]``
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from vidstruct.eval.postprocess import soft_nms
from vidstruct.eval.temporal import (
    ANET_TIOU,
    evaluate_detection,
    evaluate_proposals,
    interpolated_average_precision,
    load_ground_truth,
    load_submission,
)


def make_data(n_videos: int, n_classes: int, per_video: int, seed: int = 0) -> tuple[dict, dict, dict]:
    """(ground truth, detection submission, proposal submission) as parsed JSON objects."""
    rng = np.random.default_rng(seed)
    classes = [f"class_{i:03d}" for i in range(n_classes)]
    database, detections, proposals = {}, {}, {}
    for v in range(n_videos):
        vid = f"vid{v:05d}"
        duration = float(rng.uniform(10, 240))
        label = classes[int(rng.integers(n_classes))]
        anns = []
        for _ in range(int(rng.integers(1, 4))):
            s = float(rng.uniform(0, duration * 0.8))
            anns.append({"segment": [s, float(min(duration, s + rng.uniform(2, duration / 2)))], "label": label})
        database[vid] = {"subset": "validation", "duration": duration, "annotations": anns}
        n_prop = per_video // 2
        gt = np.array([a["segment"] for a in anns])
        pick = gt[rng.integers(len(anns), size=n_prop)]
        jitter = rng.normal(0, 0.1 * duration, size=(n_prop, 2)) * (rng.random((n_prop, 1)) < 0.6)
        starts = rng.uniform(0, duration, n_prop)
        rand = np.stack([starts, np.minimum(duration, starts + rng.uniform(1, duration / 2, n_prop))], 1)
        use_gt = rng.random(n_prop) < 0.5
        seg = np.where(use_gt[:, None], pick + jitter, rand)
        seg = np.sort(seg.clip(0, duration), axis=1)
        score = rng.random(n_prop)
        other = classes[int(rng.integers(n_classes))]
        top2 = [(label, 0.7), (other, 0.2)] if rng.random() < 0.8 else [(other, 0.6), (label, 0.3)]
        detections[vid] = [
            {"label": c, "score": float(score[i] * p), "segment": [float(seg[i, 0]), float(seg[i, 1])]}
            for i in range(n_prop)
            for c, p in top2
        ]
        seg2 = np.concatenate([seg, seg + rng.normal(0, 1.0, seg.shape)])[:per_video]
        seg2 = np.sort(seg2, axis=1)
        proposals[vid] = [
            {"score": float(s), "segment": [float(a), float(b)]} for s, (a, b) in zip(rng.random(len(seg2)), seg2)
        ]
    return (
        {"version": "VERSION 1.3", "database": database},
        {"version": "VERSION 1.3", "results": detections, "external_data": {}},
        {"version": "VERSION 1.3", "results": proposals, "external_data": {}},
    )


def _tiou_one(pred: np.ndarray, gts: np.ndarray) -> np.ndarray:
    inter = (np.minimum(pred[1], gts[:, 1]) - np.maximum(pred[0], gts[:, 0])).clip(0)
    union = (gts[:, 1] - gts[:, 0]) + (pred[1] - pred[0]) - inter
    return inter / union


def loop_detection(gt: dict, sub: dict, thresholds: np.ndarray) -> np.ndarray:
    """Toolkit-style detection AP [T, C]: per class, per prediction, per threshold loops."""
    rows: dict[str, list] = {}
    classes: list[str] = []
    for vid, v in gt["database"].items():
        for a in v["annotations"]:
            if a["label"] not in rows:
                rows[a["label"]] = []
                classes.append(a["label"])
            rows[a["label"]].append((vid, a["segment"]))
    preds: dict[str, list] = {c: [] for c in classes}
    for vid, dets in sub["results"].items():
        for d in dets:
            preds[d["label"]].append((vid, d["segment"], d["score"]))
    ap = np.zeros((len(thresholds), len(classes)))
    for c, name in enumerate(classes):
        by_video: dict[str, list] = {}
        for k, (vid, seg) in enumerate(rows[name]):
            by_video.setdefault(vid, []).append((k, seg))
        p = sorted(preds[name], key=lambda r: -r[2])
        if not p:
            continue
        lock = -np.ones((len(thresholds), len(rows[name])))
        tp = np.zeros((len(thresholds), len(p)))
        for i, (vid, seg, _) in enumerate(p):
            if vid not in by_video:
                continue
            ids = [k for k, _ in by_video[vid]]
            tiou = _tiou_one(np.asarray(seg, float), np.asarray([s for _, s in by_video[vid]], float))
            order = np.argsort(-tiou, kind="stable")
            for t, thr in enumerate(thresholds):
                for j in order:
                    if tiou[j] < thr:
                        break
                    if lock[t, ids[j]] >= 0:
                        continue
                    tp[t, i] = 1
                    lock[t, ids[j]] = i
                    break
        tpc = np.cumsum(tp, axis=1)
        fpc = np.cumsum(1 - tp, axis=1)
        ap[:, c] = interpolated_average_precision(tpc / (tpc + fpc), tpc / len(rows[name]))
    return ap


def loop_proposal_auc(gt: dict, sub: dict, thresholds: np.ndarray, max_avg: float) -> float:
    """Toolkit-style AR-AN AUC (percent): per video, per threshold, per grid point loops."""
    gts = {vid: np.asarray([a["segment"] for a in v["annotations"]], float) for vid, v in gt["database"].items()}
    gts = {k: v for k, v in gts.items() if len(v)}
    n_prop = sum(len(d) for d in sub["results"].values())
    ratio = max_avg * float(len(gts)) / n_prop
    scores, total = [], 0
    for vid, g in gts.items():
        props = sub["results"].get(vid, [])
        if not props:
            scores.append(np.zeros((len(g), 1)))
            continue
        seg = np.asarray([p["segment"] for p in props], float)[np.argsort([-p["score"] for p in props], kind="stable")]
        nr = min(int(len(props) * ratio), len(props))
        total += nr
        scores.append(np.stack([_tiou_one(s, g) for s in seg[:nr]], axis=1) if nr else np.zeros((len(g), 0)))
    pcn = np.arange(1, 101) / 100.0 * (max_avg * float(len(gts)) / total)
    recall = np.zeros((len(thresholds), 100))
    for t, thr in enumerate(thresholds):
        matches = np.zeros(100)
        for s in scores:
            hit = s >= thr
            for j in range(100):
                n = min(int(s.shape[1] * pcn[j]), s.shape[1])
                matches[j] += np.count_nonzero(hit[:, :n].sum(axis=1))
        recall[t] = matches / sum(len(g) for g in gts.values())
    an = pcn * (float(total) / len(gts))
    return float(100.0 * np.trapezoid(recall.mean(0), an) / an[-1])


def loop_soft_nms(segments: np.ndarray, scores: np.ndarray, sigma: float, low: float, high: float, top_k: int):
    """BMN's reference Soft-NMS: Python lists, one remaining segment at a time (normalized times)."""
    order = np.argsort(-scores, kind="stable")
    start, end, score = list(segments[order, 0]), list(segments[order, 1]), list(scores[order])
    kept = []
    while score and len(kept) < top_k:
        m = score.index(max(score))
        width = end[m] - start[m]
        for j in range(len(score)):
            if j == m:
                continue
            inter = max(0.0, min(end[j], end[m]) - max(start[j], start[m]))
            u = inter / ((end[j] - start[j]) - inter + width)
            if u > low + (high - low) * width:
                score[j] *= math.exp(-(u * u) / sigma)
        kept.append(score[m])
        start.pop(m), end.pop(m), score.pop(m)
    return np.asarray(kept)


def _time(fn, repeat: int = 1):
    best, out = math.inf, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def _subset(doc: dict, key: str, videos: set[str]) -> dict:
    return {**doc, key: {k: v for k, v in doc[key].items() if k in videos}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller loop-baseline subsets and NMS batch")
    args = parser.parse_args(argv)
    n_videos, n_classes, per_video = 4728, 200, 100
    loop_videos = 150 if args.quick else 1000
    nms_videos = 5 if args.quick else 30

    t0 = time.perf_counter()
    gt, det, prop = make_data(n_videos, n_classes, per_video)
    print(f"(synthetic data: {time.perf_counter() - t0:.1f} s)")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        paths = {}
        for name, doc in (("gt", gt), ("det", det), ("prop", prop)):
            paths[name] = Path(tmp) / f"{name}.json"
            paths[name].write_text(json.dumps(doc))
        t_parse_det, _ = _time(lambda: json.loads(paths["det"].read_text()))
        t_load_gt, g = _time(lambda: load_ground_truth(paths["gt"]))
        t_load_det, d = _time(lambda: load_submission(paths["det"], require_label=True))
        t_load_prop, p = _time(lambda: load_submission(paths["prop"], require_label=False))
    t_det, det_res = _time(lambda: evaluate_detection(g, d), repeat=2)
    t_prop, prop_res = _time(lambda: evaluate_proposals(g, p, max_avg_nr_proposals=100), repeat=2)
    n_det, n_prop = d.scores.size, p.scores.size
    print(
        f"full set: {n_videos} videos, {n_classes} classes, {g.video.size} GT segments, {n_det} detections, "
        f"{n_prop} proposals"
    )
    print(
        f"load + validate: GT {t_load_gt:.2f} s, detections {t_load_det:.2f} s (of which stdlib json parsing "
        f"{t_parse_det:.2f} s), proposals {t_load_prop:.2f} s"
    )
    print(f"average mAP {100 * det_res.average_mAP:.2f} %, AUC {prop_res.auc:.2f} %\n")

    # loop baselines on a subset of videos (same numbers required)
    keep = set(sorted(gt["database"])[:loop_videos])
    gt_s, det_s, prop_s = _subset(gt, "database", keep), _subset(det, "results", keep), _subset(prop, "results", keep)
    labels = {a["label"] for v in gt_s["database"].values() for a in v["annotations"]}
    det_s["results"] = {k: [x for x in v if x["label"] in labels] for k, v in det_s["results"].items()}
    g_s = load_ground_truth(gt_s)
    d_s = load_submission(det_s, require_label=True)
    p_s = load_submission(prop_s, require_label=False)
    t_det_fast, fast_ap = _time(lambda: evaluate_detection(g_s, d_s).ap, repeat=3)
    t_det_loop, loop_ap = _time(lambda: loop_detection(gt_s, det_s, ANET_TIOU))
    assert np.allclose(fast_ap, loop_ap, atol=1e-12), "detection AP differs from the loop baseline"
    t_prop_fast, fast_auc = _time(lambda: evaluate_proposals(g_s, p_s, max_avg_nr_proposals=100).auc, repeat=3)
    t_prop_loop, loop_auc = _time(lambda: loop_proposal_auc(gt_s, prop_s, ANET_TIOU, 100.0))
    assert abs(fast_auc - loop_auc) < 1e-9, "proposal AUC differs from the loop baseline"
    rows.append(("anet-detection (full set)", f"{n_videos} videos, {n_det} dets", t_det, None))
    rows.append(("anet-proposal (full set)", f"{n_videos} videos, {n_prop} props", t_prop, None))
    n_sub_det = d_s.scores.size
    rows.append(("anet-detection vs loop", f"{loop_videos} videos, {n_sub_det} dets", t_det_fast, t_det_loop))
    rows.append(("anet-proposal vs loop", f"{loop_videos} videos, {p_s.scores.size} props", t_prop_fast, t_prop_loop))

    # Soft-NMS: BMN setting (normalized times, sigma .4, thresholds .5/.9, top 100) on 2,000 candidates per video
    rng = np.random.default_rng(1)
    cands = []
    for _ in range(nms_videos):
        s = rng.uniform(0, 1, 2000)
        cands.append((np.stack([s, np.minimum(1, s + rng.uniform(0.01, 0.5, 2000))], 1), rng.random(2000)))
    kw = {"sigma": 0.4, "low_threshold": 0.5, "high_threshold": 0.9, "duration": 1.0, "top_k": 100}
    t_nms, fast = _time(lambda: [soft_nms(a, b, **kw)[1] for a, b in cands], repeat=3)
    t_nms_loop, slow = _time(lambda: [loop_soft_nms(a, b, 0.4, 0.5, 0.9, 100) for a, b in cands])
    assert all(np.allclose(x, y, rtol=1e-12) for x, y in zip(fast, slow)), "Soft-NMS differs from the loop"
    rows.append(("soft-nms (BMN, top 100)", f"{nms_videos} videos x 2000 candidates", t_nms, t_nms_loop))

    print("| task | size | vidstruct (s) | Python loop (s) | speed-up |")
    print("|---|---|---:|---:|---:|")
    for task, size, fast_s, loop_s in rows:
        ratio = f"{loop_s / fast_s:.0f}x" if loop_s else "-"
        loop_txt = f"{loop_s:.3f}" if loop_s else "-"
        print(f"| {task} | {size} | {fast_s:.3f} | {loop_txt} | {ratio} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
