"""AVA frame-mAP speed: vectorized vidstruct vs. a plain per-keyframe, per-class implementation of the official tool.

The plain implementation (:func:`plain_evaluate`) follows ActivityNet's
``get_ava_performance.py`` step by step, as straightforwardly as possible:
the ``csv`` module and a ``heapq`` per keyframe (50 detections kept), then for
every keyframe and class a Python loop over the detections in score order,
each matched to its highest-IoU ground-truth box, then ``np.argsort`` per
class and a VOC AP loop. ``tests/eval_ava`` uses it as the independent
reference (random files with many ties, equal to 1e-9).

Synthetic AVA-v2.2-validation-sized data: 64 videos x 360 keyframes (23,040
keyframes), 60 classes (ids 1..80 with gaps, like the ActivityNet label map),
1-4 persons per keyframe with 1-3 actions each; detections: each person box
jittered plus one false box, 20 classes per box with scores, so about 61
detection rows per keyframe (1.4M rows) and the 50 cap binds on most
keyframes. vidstruct's time is split into reading the files (ground truth,
detections, label map, exclusions) and evaluating; the plain implementation's
time includes its reading too.

Usage: ``python benchmarks/ava_eval.py [--quick]``
"""

from __future__ import annotations

import argparse
import csv
import heapq
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from vidstruct.data.formats.ava import read_ava_excluded, read_ava_label_map
from vidstruct.eval.spatiotemporal import (
    DETECTION_BOX_TOLERANCE,
    evaluate_ava_boxes,
    read_detection_boxes,
    read_ground_truth_boxes,
)

# 60 evaluated classes out of ids 1..80, as the ActivityNet AVA label map picks them
CLASS_IDS = [i for i in range(1, 81) if i % 4 != 3][:60]


def write_label_map(path: Path) -> None:
    blocks = [f'label {{\n  name: "action {i}"\n  label_id: {i}\n}}\n' for i in CLASS_IDS]
    path.write_text("".join(blocks), encoding="utf-8")


def make_files(
    folder: Path,
    *,
    n_videos: int,
    keyframes_per_video: int,
    classes_per_box: int = 20,
    score_decimals: int = 6,
    seed: int = 0,
) -> tuple[Path, Path, Path, Path]:
    """Write ``gt.csv``, ``det.csv``, ``labels.pbtxt``, ``excluded.csv`` into ``folder``; return their paths."""
    rng = np.random.default_rng(seed)
    gt_lines: list[str] = []
    det_lines: list[str] = []
    excluded: list[str] = []
    classes = np.array(CLASS_IDS)
    for v in range(n_videos):
        vid = f"vid{v:05d}_{seed}"
        for k in range(keyframes_per_video):
            ts = f"{902 + k:04d}"
            if rng.random() < 0.01:
                excluded.append(f"{vid},{ts}")
            persons = rng.integers(1, 5)
            boxes, actions = [], []
            for p in range(persons):
                x1, y1 = rng.random(2) * 0.6
                w, h = 0.1 + rng.random(2) * 0.3
                box = np.round([x1, y1, x1 + w, y1 + h], 3)
                boxes.append(box)
                actions.append(set(rng.choice(classes, size=rng.integers(1, 4), replace=False).tolist()))
                for a in sorted(actions[-1]):
                    gt_lines.append(f"{vid},{ts},{box[0]:.3f},{box[1]:.3f},{box[2]:.3f},{box[3]:.3f},{a},{p}")
            x1, y1 = rng.random(2) * 0.6
            boxes.append(np.round([x1, y1, x1 + 0.2, y1 + 0.3], 3))  # a false box
            actions.append(set())
            for box, true_actions in zip(boxes, actions):
                jit = np.clip(box + rng.normal(0, 0.03, 4), 0, 1)
                if jit[2] <= jit[0] or jit[3] <= jit[1]:
                    jit = box
                others = [a for a in rng.choice(classes, size=classes_per_box, replace=False) if a not in true_actions]
                for a in [*true_actions, *others][:classes_per_box]:
                    # a true action usually scores higher: a detector that is right about half the time
                    s = round(float(rng.random() ** (0.3 if a in true_actions else 2.0)), score_decimals)
                    det_lines.append(
                        f"{vid},{ts},{jit[0]:.4f},{jit[1]:.4f},{jit[2]:.4f},{jit[3]:.4f},{a},{s:.{score_decimals}f}"
                    )
            if rng.random() < 0.02:  # detections on a keyframe without ground truth
                det_lines.append(f"{vid},{int(ts) + 5000:04d},0.1,0.1,0.4,0.6,{classes[0]},0.5")
    order = rng.permutation(len(det_lines))  # detection files need not be sorted
    paths = (folder / "gt.csv", folder / "det.csv", folder / "labels.pbtxt", folder / "excluded.csv")
    paths[0].write_text("\n".join(gt_lines) + "\n", encoding="utf-8")
    paths[1].write_text("\n".join(det_lines[i] for i in order) + "\n", encoding="utf-8")
    write_label_map(paths[2])
    paths[3].write_text("\n".join(excluded) + "\n", encoding="utf-8")
    return paths


# ---------------------------------------------------------------------------------------------------------------------
# The plain implementation of the official algorithm (independent of vidstruct's code)


def _plain_read(path: Path, class_ids: set[int], capacity: int) -> dict[tuple[str, float], list[tuple]]:
    """Per keyframe, the kept ``(score, action, y1, x1, y2, x2)`` rows in the official order."""
    heaps: dict[tuple[str, float], list[tuple]] = defaultdict(list)
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.reader(f):
            if len(row) < 7:
                continue
            action = int(row[6])
            if action not in class_ids:
                continue
            x1, y1, x2, y2 = (float(v) for v in row[2:6])
            score = float(row[7]) if len(row) == 8 else 1.0
            heap = heaps[(row[0], float(row[1]))]
            item = (score, action, y1, x1, y2, x2)
            if capacity < 1 or len(heap) < capacity:
                heapq.heappush(heap, item)
            elif score > heap[0][0]:
                heapq.heapreplace(heap, item)
    return {key: sorted(heap, key=lambda t: -t[0]) for key, heap in heaps.items()}


def _plain_iou(a: tuple, b: tuple) -> float:
    """IoU of two ``(.., .., y1, x1, y2, x2)`` rows, grouped like the official ``np_box_ops``."""
    h = max(0.0, min(a[4], b[4]) - max(a[2], b[2]))
    w = max(0.0, min(a[5], b[5]) - max(a[3], b[3]))
    inter = h * w
    area_a = (a[4] - a[2]) * (a[5] - a[3])
    area_b = (b[4] - b[2]) * (b[5] - b[3])
    return inter / (area_a + area_b - inter)


def _plain_ap(scores: list[float], labels: list[bool], num_gt: int) -> float:
    order = np.argsort(np.array(scores, dtype=float))[::-1]
    precision, recall, tp = [], [], 0
    for k, i in enumerate(order):
        tp += int(labels[i])
        precision.append(tp / (k + 1))
        recall.append(tp / num_gt)
    recall = [0.0] + recall + [1.0]
    precision = [0.0] + precision + [0.0]
    for i in range(len(precision) - 2, -1, -1):
        precision[i] = max(precision[i], precision[i + 1])
    return sum((recall[i] - recall[i - 1]) * precision[i] for i in range(1, len(recall)) if recall[i] != recall[i - 1])


def plain_evaluate(
    gt_csv: Path, det_csv: Path, labels: dict[int, str], excluded: set[tuple[str, float]]
) -> tuple[float, dict[str, float]]:
    """``(mAP, {class name: AP})`` computed one keyframe and one class at a time, as the official tool does."""
    ids = set(labels)
    gt = _plain_read(gt_csv, ids, 0)
    det = _plain_read(det_csv, ids, 50)
    num_gt: dict[int, int] = defaultdict(int)
    for key, rows in gt.items():
        if key not in excluded:
            for row in rows:
                num_gt[row[1]] += 1
    scores: dict[int, list[float]] = defaultdict(list)
    tps: dict[int, list[bool]] = defaultdict(list)
    for key, rows in det.items():
        if key in excluded:
            continue
        truth: dict[int, list[tuple]] = defaultdict(list)
        for r in gt.get(key, []):
            truth[r[1]].append(r)
        by_class: dict[int, list[tuple]] = defaultdict(list)
        for r in rows:
            by_class[r[1]].append(r)
        for c, dets_c in by_class.items():
            truth_c = truth[c]
            matched = [False] * len(truth_c)
            for d in dets_c:
                hit = False
                if truth_c:
                    ious = [_plain_iou(d, g) for g in truth_c]
                    j = int(np.argmax(ious))
                    if ious[j] >= 0.5 and not matched[j]:
                        matched[j] = hit = True
                scores[c].append(d[0])
                tps[c].append(hit)
    per_class = {labels[c]: _plain_ap(scores[c], tps[c], num_gt[c]) for c in sorted(ids) if num_gt[c] > 0}
    return float(np.mean(list(per_class.values()))), per_class


def _read_excluded(path: Path) -> set[tuple[str, float]]:
    with open(path, newline="", encoding="utf-8") as f:
        return {(r[0], float(r[1])) for r in csv.reader(f) if r}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes only")
    args = parser.parse_args(argv)
    sizes = [(4, 90), (16, 360)] if args.quick else [(4, 90), (16, 360), (64, 360)]
    labels = {i: f"action {i}" for i in CLASS_IDS}
    t = time.perf_counter()
    import pandas  # noqa: F401  (the CSV reader's; imported once per process, not per file)

    print(f"importing pandas (once per process, e.g. per CLI call): {time.perf_counter() - t:.2f} s")
    header = ("keyframes", "det rows", "gt rows", "read s", "eval s", "vidstruct s", "plain s", "ratio", "|dmAP|")
    print(" ".join(f"{h:>{w}}" for h, w in zip(header, (9, 9, 8, 6, 6, 11, 8, 6, 8))))
    with tempfile.TemporaryDirectory() as tmp:
        for n_videos, per_video in sizes:
            folder = Path(tmp) / f"{n_videos}x{per_video}"
            folder.mkdir()
            gt, det, lm, excl = make_files(folder, n_videos=n_videos, keyframes_per_video=per_video)
            n_det = sum(1 for _ in open(det, encoding="utf-8"))
            n_gt = sum(1 for _ in open(gt, encoding="utf-8"))
            t0 = time.perf_counter()  # what evaluate_ava_files does, timed in two parts
            label_map = read_ava_label_map(str(lm))
            gt_boxes = read_ground_truth_boxes(gt, label_map)
            det_boxes = read_detection_boxes(det, tolerance=DETECTION_BOX_TOLERANCE)
            excluded = read_ava_excluded(str(excl))
            t_read = time.perf_counter()
            ours = evaluate_ava_boxes(gt_boxes, det_boxes, label_map, excluded)
            t1 = time.perf_counter()
            plain_map, _ = plain_evaluate(gt, det, labels, _read_excluded(excl))
            t2 = time.perf_counter()
            print(
                f"{n_videos * per_video:>9} {n_det:>9} {n_gt:>8} {t_read - t0:>6.2f} {t1 - t_read:>6.2f} "
                f"{t1 - t0:>11.2f} {t2 - t1:>8.2f} "
                f"{(t2 - t1) / (t1 - t0):>5.1f}x {abs(ours.mAP - plain_map):>8.1e}",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
