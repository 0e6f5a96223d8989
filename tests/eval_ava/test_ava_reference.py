"""vidstruct's vectorized AVA frame-mAP equals the plain per-keyframe, per-class implementation to 1e-9.

The reference is ``plain_evaluate`` of ``benchmarks/ava_eval.py``: the official
algorithm written out with ``csv``, ``heapq`` and Python loops. The random
files are built to be tricky: scores on a coarse grid (many ties, inside a
keyframe and class, at the 50 cap, across keyframes), boxes from a small grid
(duplicate boxes) and pairs of ground-truth boxes with exactly equal IoU to a
detection between them, keyframes with more than 50 rows, detections of
classes outside the label map, on keyframes without ground truth and on
excluded keyframes, unsorted detection files.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from vidstruct.data.formats.ava import read_ava, read_ava_proposals
from vidstruct.eval.spatiotemporal import evaluate_ava, evaluate_ava_files

_BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "ava_eval.py"
_spec = importlib.util.spec_from_file_location("ava_eval_benchmark_reference", _BENCH)
reference = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(reference)

LABEL_IDS = [1, 2, 4, 5, 7]  # 3 and 6 are outside the label map


def _tricky_files(folder: Path, seed: int) -> tuple[Path, Path, Path, Path]:
    rng = np.random.default_rng(seed)
    grid = [0.0, 0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 1.0]

    def box() -> tuple[float, float, float, float]:
        x1, x2 = sorted(rng.choice(len(grid), 2, replace=False))
        y1, y2 = sorted(rng.choice(len(grid), 2, replace=False))
        return grid[x1], grid[y1], grid[x2], grid[y2]

    gt_rows, det_rows, excluded = [], [], []
    for v in range(3):
        for k in range(12):
            ts = 902 + k
            if rng.random() < 0.1:
                excluded.append(f"v{v},{ts}")
            boxes = [box() for _ in range(rng.integers(1, 5))]
            if rng.random() < 0.8:
                for p, b in enumerate(boxes):
                    for a in rng.choice(LABEL_IDS, size=rng.integers(1, 3), replace=False):
                        gt_rows.append(f"v{v},{ts:04d},{b[0]},{b[1]},{b[2]},{b[3]},{a},{p}")
            if rng.random() < 0.3:  # two boxes with exactly equal IoU to a detection between them (dyadic)
                x, y = (float(c) for c in rng.choice([0.0, 0.125, 0.25, 0.375, 0.5], 2))
                a = int(rng.choice(LABEL_IDS))
                pair = [(x, y, x + 0.375, y + 0.375), (x + 0.125, y, x + 0.5, y + 0.375)]
                for p, b in enumerate(pair[:: int(rng.choice([-1, 1]))]):  # either file order
                    gt_rows.append(f"v{v},{ts:04d},{b[0]},{b[1]},{b[2]},{b[3]},{a},{9 + p}")
                for b in [(x + 0.0625, y, x + 0.4375, y + 0.375), pair[0], pair[1]]:
                    det_rows.append(f"v{v},{ts:04d},{b[0]},{b[1]},{b[2]},{b[3]},{a},{rng.integers(1, 9) / 8:.4f}")
            n_det = int(rng.choice([5, 30, 60, 80]))  # often past the 50 cap
            for _ in range(n_det):
                b = boxes[rng.integers(len(boxes))] if rng.random() < 0.7 else box()
                a = int(rng.choice([*LABEL_IDS, 3, 6]))
                score = round(float(rng.integers(0, 8)) / 8 + 0.0625, 4)  # 8 distinct scores: ties everywhere
                det_rows.append(f"v{v},{ts:04d},{b[0]},{b[1]},{b[2]},{b[3]},{a},{score}")
    order = rng.permutation(len(det_rows))
    paths = (folder / "gt.csv", folder / "det.csv", folder / "labels.pbtxt", folder / "excluded.csv")
    paths[0].write_text("\n".join(gt_rows) + "\n")
    paths[1].write_text("\n".join(det_rows[i] for i in order) + "\n")
    paths[2].write_text("".join(f'item {{\n  name: "class {i}"\n  id: {i}\n}}\n' for i in LABEL_IDS))
    paths[3].write_text("\n".join(excluded) + "\n")
    return paths


@pytest.mark.parametrize("seed", range(6))
def test_equal_to_the_plain_official_algorithm_on_tricky_files(tmp_path: Path, seed: int) -> None:
    gt, det, labelmap, excl = _tricky_files(tmp_path, seed)
    excluded = {(line.split(",")[0], float(line.split(",")[1])) for line in excl.read_text().split()}
    labels = {i: f"class {i}" for i in LABEL_IDS}
    ref_map, ref_per_class = reference.plain_evaluate(gt, det, labels, excluded)
    ours = evaluate_ava_files(gt, det, labelmap, excl)
    assert ours.mAP == pytest.approx(ref_map, abs=1e-9)
    assert ours.per_class_AP.keys() == ref_per_class.keys()
    for name, ap in ref_per_class.items():
        assert ours.per_class_AP[name] == pytest.approx(ap, abs=1e-9), name
    assert 0.0 < ours.mAP < 1.0  # a real mix of hits and misses, not a degenerate case
    assert ours.num_detections_over_cap > 0  # the cap did bind
    # the in-memory API on the same rows (file order) gives the same numbers
    in_memory = evaluate_ava(read_ava(str(gt), duplicates="keep"), read_ava_proposals(str(det)), labels, excluded)
    assert in_memory.mAP == pytest.approx(ours.mAP, abs=1e-12)


def test_equal_on_a_benchmark_sized_sample(tmp_path: Path) -> None:
    gt, det, labelmap, excl = reference.make_files(tmp_path, n_videos=2, keyframes_per_video=30, score_decimals=2)
    excluded = {(line.split(",")[0], float(line.split(",")[1])) for line in excl.read_text().split()}
    labels = {i: f"action {i}" for i in reference.CLASS_IDS}
    ref_map, _ = reference.plain_evaluate(gt, det, labels, excluded)
    assert evaluate_ava_files(gt, det, labelmap, excl).mAP == pytest.approx(ref_map, abs=1e-9)
