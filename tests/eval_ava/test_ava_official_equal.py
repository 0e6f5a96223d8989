"""``vidstruct eval ava`` equals the official AVA evaluation code (PyPI ``pyslowfast==1.0``) to 1e-9 (issue #14).

The official side is the TF Object Detection API's ``PascalDetectionEvaluator``
driven by ActivityNet's flow (``run_evaluation``) as the installed package ships
them (see ``official_ava.py`` for how they are loaded and the two things that
are not the package's). The random files are tie-heavy: scores on a grid of 8
values, boxes from a small grid (duplicates, equal IoUs), keyframes with more
than 50 detections, excluded keyframes, detections of classes outside the label
map, detections on keyframes without ground truth, a label-map class with ground
truth and no detection (AP 0) and one without ground truth (left out of the mAP),
unsorted detection files. vidstruct runs in its default ``official`` tie order.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from official_ava import official_evaluate

from vidstruct.cli.main import main
from vidstruct.eval.spatiotemporal import evaluate_ava_files

DETECTED = [1, 2, 4, 5]  # label-map classes with ground truth and detections
NEVER_DETECTED = 7  # in the label map, with ground truth, no detection row
NO_GROUND_TRUTH = 9  # in the label map, detected, never in the ground truth
OUTSIDE = [3, 6]  # detection rows of ids outside the label map
GRID = [0.0, 0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 1.0]


def _tricky_files(folder: Path, seed: int) -> tuple[Path, Path, Path, Path]:
    rng = np.random.default_rng(seed)

    def box() -> tuple[float, ...]:
        x1, x2 = sorted(rng.choice(len(GRID), 2, replace=False))
        y1, y2 = sorted(rng.choice(len(GRID), 2, replace=False))
        return GRID[x1], GRID[y1], GRID[x2], GRID[y2]

    def score() -> str:
        return f"{rng.integers(0, 8) / 8 + 0.0625:.4f}"  # 8 distinct values: ties everywhere

    gt_rows, det_rows, excluded = [], [], []
    for v in range(3):
        for k in range(10):
            ts = 902 + k
            key = f"vid_{v},{ts:04d}"
            if rng.random() < 0.15:
                excluded.append(key)
            boxes = [box() for _ in range(rng.integers(1, 4))]
            has_gt = rng.random() < 0.75  # otherwise: detections on a keyframe without ground truth
            if has_gt:
                for p, b in enumerate(boxes):
                    for a in rng.choice([*DETECTED, NEVER_DETECTED], size=rng.integers(1, 3), replace=False):
                        gt_rows.append(f"{key},{b[0]},{b[1]},{b[2]},{b[3]},{a},{p}")
                if rng.random() < 0.4:  # two boxes with exactly equal IoU (dyadic) to a detection between them
                    x, y = (float(c) for c in rng.choice(GRID[:5], 2))
                    a = int(rng.choice(DETECTED))
                    pair = [(x, y, x + 0.375, y + 0.375), (x + 0.125, y, x + 0.5, y + 0.375)]
                    for p, b in enumerate(pair[:: int(rng.choice([-1, 1]))]):
                        gt_rows.append(f"{key},{b[0]},{b[1]},{b[2]},{b[3]},{a},{7 + p}")
                    for b in [(x + 0.0625, y, x + 0.4375, y + 0.375), *pair]:
                        det_rows.append(f"{key},{b[0]},{b[1]},{b[2]},{b[3]},{a},{score()}")
            for _ in range(int(rng.choice([4, 20, 55, 90]))):  # often past the 50 cap
                b = boxes[rng.integers(len(boxes))] if rng.random() < 0.7 else box()
                a = int(rng.choice([*DETECTED, *DETECTED, NO_GROUND_TRUTH, *OUTSIDE]))
                det_rows.append(f"{key},{b[0]},{b[1]},{b[2]},{b[3]},{a},{score()}")
    order = rng.permutation(len(det_rows))
    gt, det, labelmap, excl = (folder / n for n in ("gt.csv", "det.csv", "labels.pbtxt", "excluded.csv"))
    gt.write_text("\n".join(gt_rows) + "\n")
    det.write_text("\n".join(det_rows[i] for i in order) + "\n")
    ids = sorted([*DETECTED, NEVER_DETECTED, NO_GROUND_TRUTH])
    labelmap.write_text("".join(f'item {{\n  name: "action {i}"\n  id: {i}\n}}\n' for i in ids))
    excl.write_text("\n".join(excluded) + "\n")
    return gt, det, labelmap, excl


@pytest.mark.parametrize("seed", range(8))
def test_library_and_cli_equal_the_official_code(tmp_path: Path, seed: int, capsys: pytest.CaptureFixture) -> None:
    gt, det, labelmap, excl = _tricky_files(tmp_path, seed)
    official_map, official_ap = official_evaluate(gt, det, labelmap, excl)
    capsys.readouterr()  # the official run_evaluation pprints its metrics

    ours = evaluate_ava_files(gt, det, labelmap, excl)
    assert ours.tie_order == "official"
    assert ours.mAP == pytest.approx(official_map, abs=1e-9)
    assert ours.per_class_AP.keys() == official_ap.keys()
    for name, ap in official_ap.items():
        assert ours.per_class_AP[name] == pytest.approx(ap, abs=1e-9), name
    # the case is as tricky as intended, and not degenerate
    assert 0.0 < official_map < 1.0
    assert official_ap[f"action {NEVER_DETECTED}"] == 0.0
    assert ours.classes_without_ground_truth == [f"action {NO_GROUND_TRUTH}"]
    assert ours.num_detections_over_cap > 0 and ours.num_detections_ignored > 0

    rc = main(["eval", "ava", str(gt), str(det), "--labelmap", str(labelmap), "--exclusions", str(excl), "--json"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert out["mAP"] == pytest.approx(official_map, abs=1e-9)
    assert out["per_class_AP"] == {name: pytest.approx(ap, abs=1e-9) for name, ap in official_ap.items()}


def test_detections_on_keyframes_without_ground_truth_are_false_positives(tmp_path: Path) -> None:
    """One class, one hit at 0.9; a keyframe without ground truth adds a detection at 0.95 (official: FP first)."""
    gt, det, labelmap = tmp_path / "gt.csv", tmp_path / "det.csv", tmp_path / "labels.pbtxt"
    gt.write_text("v,0902,0.1,0.1,0.5,0.5,1,0\nv,0902,0.6,0.6,0.9,0.9,1,1\n")
    det.write_text("v,0902,0.1,0.1,0.5,0.5,1,0.9\nv,0903,0.1,0.1,0.5,0.5,1,0.95\n")
    labelmap.write_text('item {\n  name: "walk"\n  id: 1\n}\n')
    official_map, official_ap = official_evaluate(gt, det, labelmap, None)
    # ranked: FP (0.95), TP (0.9): precision 1/2 at recall 1/2 -> AP 0.25, by hand
    assert official_map == pytest.approx(0.25, abs=1e-12)
    assert official_ap == {"walk": pytest.approx(0.25, abs=1e-12)}
    assert evaluate_ava_files(gt, det, labelmap).mAP == pytest.approx(official_map, abs=1e-9)
