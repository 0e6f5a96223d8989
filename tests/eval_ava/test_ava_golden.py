"""AVA frame-mAP@0.5 on hand-computed cases (the official get_ava_performance.py protocol).

Boxes are ``[x1, y1, x2, y2]``. ``A`` and ``FAR`` do not overlap, so a
detection on ``A`` is a hit for a ground-truth ``A`` and one on ``FAR`` a miss.
AP is VOC 2010+: precision made non-increasing from the right, summed over the
recall steps.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vidstruct.data.records import BoxAnnotation
from vidstruct.eval.spatiotemporal import evaluate_ava, evaluate_ava_files, voc_average_precision

A = (0.1, 0.1, 0.5, 0.5)
FAR = (0.6, 0.1, 0.9, 0.4)
LABELS = {1: "stand", 2: "sit", 3: "walk"}


def gt(ts: float, box: tuple, action: int, video: str = "v") -> BoxAnnotation:
    return BoxAnnotation(video, ts, box, action, 0)


def det(ts: float, box: tuple, action: int, score: float, video: str = "v") -> BoxAnnotation:
    return BoxAnnotation(video, ts, box, action, -1, score)


def test_voc_ap_of_a_known_ranking() -> None:
    # TP FP TP FP, 3 ground truth: precision 1, 1/2, 2/3, 1/2; recall 1/3, 1/3, 2/3, 2/3
    # envelope at the recall steps: 1 (0 -> 1/3), 2/3 (1/3 -> 2/3); AP = 1/3 + 2/9 = 5/9
    assert voc_average_precision(np.array([True, False, True, False]), 3) == pytest.approx(5 / 9, abs=1e-15)
    assert voc_average_precision(np.array([], dtype=bool), 4) == 0.0


def test_one_class_known_pr_curve_with_a_missed_box() -> None:
    truth = [gt(902, A, 1), gt(903, A, 1), gt(904, A, 1)]  # the one at 904 is never found
    dets = [det(902, A, 1, 0.9), det(903, FAR, 1, 0.8), det(903, A, 1, 0.7), det(904, FAR, 1, 0.6)]
    r = evaluate_ava(truth, dets, LABELS)
    # ranking TP FP TP FP over 3 ground truth: AP = 5/9 (see test_voc_ap_of_a_known_ranking)
    assert r.per_class_AP == {"stand": pytest.approx(5 / 9, abs=1e-12)}
    assert r.mAP == pytest.approx(5 / 9, abs=1e-12)
    assert r.classes_without_ground_truth == ["sit", "walk"]
    assert (r.num_keyframes, r.num_ground_truth, r.num_detections) == (3, 3, 4)


def test_double_detection_of_one_box_is_a_false_positive() -> None:
    truth = [gt(902, A, 1), gt(903, A, 1)]
    dets = [det(902, A, 1, 0.9), det(902, A, 1, 0.8), det(903, A, 1, 0.7)]
    # TP, FP (box already taken), TP: precision 1, 1/2, 2/3; recall 1/2, 1/2, 1
    # AP = 1/2 * 1 + 1/2 * 2/3 = 5/6
    assert evaluate_ava(truth, dets, LABELS).mAP == pytest.approx(5 / 6, abs=1e-12)


def test_no_fall_back_to_the_second_best_box() -> None:
    a2 = (0.15, 0.1, 0.55, 0.5)  # IoU(A, a2) = 0.14 / 0.18
    d2 = (0.12, 0.1, 0.52, 0.5)  # IoU with A = 0.152 / 0.168 = 0.905, with a2 = 0.148 / 0.172 = 0.860
    truth = [gt(902, A, 1), gt(902, a2, 1)]
    dets = [det(902, A, 1, 0.9), det(902, d2, 1, 0.8)]
    # d2 looks only at its best box, A, already matched: FP (a2 stays unmatched although IoU 0.86 >= 0.5)
    # TP, FP over 2 ground truth: AP = 1/2 * 1 = 0.5 (it would be 1.0 with a fall-back)
    assert evaluate_ava(truth, dets, LABELS).mAP == pytest.approx(0.5, abs=1e-12)


def test_at_most_50_detections_per_keyframe() -> None:
    truth = [gt(902, A, 1)]
    others = [det(902, FAR, 2, 0.51 + i / 100) for i in range(50)]  # scores 0.51 .. 1.00, class "sit"
    # the class-"stand" hit scores 0.505, the 51st highest of the keyframe: dropped, so "stand" has no
    # detection and AP 0 (it has ground truth, so it counts in the mean; "sit" has none and does not)
    r = evaluate_ava(truth, [*others, det(902, A, 1, 0.505)], LABELS)
    assert r.per_class_AP == {"stand": 0.0} and r.mAP == 0.0
    assert (r.num_detections, r.num_detections_over_cap) == (50, 1)
    # 49 others: the hit is the 50th and stays (AP 1); a row of a class outside the label map takes no slot
    r = evaluate_ava(truth, [*others[1:], det(902, FAR, 99, 0.99), det(902, A, 1, 0.505)], LABELS)
    assert r.mAP == 1.0 and r.num_detections_ignored == 1 and r.num_detections_over_cap == 0


def test_equal_scores_at_the_cap_follow_the_official_heap() -> None:
    truth = [gt(902, A, 1)]
    fifty = [det(902, FAR, 2, 0.5) for _ in range(50)]
    # heap full at min 0.5; a later 0.5 is not strictly greater: the hit listed last is dropped -> AP 0
    assert evaluate_ava(truth, [*fifty, det(902, A, 1, 0.5)], LABELS).mAP == 0.0
    # listed first, it enters the heap; the 51st row (0.5, not > 0.5) is the one left out -> AP 1
    assert evaluate_ava(truth, [det(902, A, 1, 0.5), *fifty], LABELS).mAP == 1.0
    # then a higher score arrives: it evicts the smallest (score, action_id, y1, x1, ...) tuple, i.e. the
    # 0.5 row of action 1 < action 2 -> the hit is gone again, AP 0
    assert evaluate_ava(truth, [det(902, A, 1, 0.5), *fifty[:49], det(902, FAR, 2, 0.9)], LABELS).mAP == 0.0


def test_excluded_keyframes_leave_both_files() -> None:
    truth = [gt(902, A, 1), gt(903, A, 1)]
    dets = [det(902, A, 1, 0.9), det(903, FAR, 1, 0.95)]
    # all in: FP (0.95), TP (0.9) over 2 ground truth: precision 0, 1/2; recall 0, 1/2 -> AP = 1/2 * 1/2
    assert evaluate_ava(truth, dets, LABELS).mAP == pytest.approx(0.25, abs=1e-12)
    # 903 excluded: its ground truth and its detection are gone: one TP over one ground truth -> 1
    r = evaluate_ava(truth, dets, LABELS, excluded={("v", 903.0)})
    assert r.mAP == 1.0 and r.num_ground_truth == 1 and r.num_keyframes == 1


def test_detection_on_a_keyframe_without_ground_truth_is_a_false_positive() -> None:
    truth = [gt(902, A, 1)]
    dets = [det(902, A, 1, 0.8), det(950, A, 1, 0.9), det(902, A, 1, 0.7, video="other")]
    # the official evaluator scores keyframes absent from the ground truth against an empty ground truth:
    # FP (0.9), TP (0.8), FP (0.7) over 1 ground truth: precision 0, 1/2, 1/3; recall 0, 1, 1 -> AP = 1/2
    assert evaluate_ava(truth, dets, LABELS).mAP == pytest.approx(0.5, abs=1e-12)


def test_label_map_class_without_ground_truth_and_class_without_detections() -> None:
    truth = [gt(902, A, 1), gt(902, FAR, 2)]
    dets = [det(902, A, 1, 0.9), det(902, A, 3, 0.8)]  # "walk" has detections but no ground truth
    r = evaluate_ava(truth, dets, LABELS)
    # stand 1.0; sit has ground truth and no detection: 0, counted; walk: no ground truth, left out
    assert r.per_class_AP == {"stand": 1.0, "sit": 0.0}
    assert r.classes_without_ground_truth == ["walk"]
    assert r.mAP == 0.5


def test_equal_scores_are_ranked_as_numpy_argsort_ranks_them() -> None:
    truth = [gt(902, A, 1), gt(903, A, 1)]
    hit_902, miss_903, hit_903 = det(902, A, 1, 0.5), det(903, FAR, 1, 0.5), det(903, A, 1, 0.4)
    # official: per class, scores laid out keyframe by keyframe (in order of each keyframe's first detection
    # row), ranked by np.argsort(scores)[::-1]. The two 0.5 rows (a TP and a FP) tie:
    #   FP first: precision 0, 1/2, 2/3, recall 0, 1/2, 1 -> AP = 1/2 * 2/3 + 1/2 * 2/3 = 2/3
    #   TP first: precision 1, 1/2, 2/3, recall 1/2, 1/2, 1 -> AP = 1/2 * 1 + 1/2 * 2/3 = 5/6
    for dets, layout in (
        ([hit_902, miss_903, hit_903], [(0.5, "tp"), (0.5, "fp"), (0.4, "tp")]),
        ([miss_903, hit_903, hit_902], [(0.5, "fp"), (0.4, "tp"), (0.5, "tp")]),
    ):
        ranked = np.argsort(np.array([s for s, _ in layout]))[::-1]
        first_tie = layout[ranked[0]][1]  # which of the tied rows numpy puts first
        expected = 2 / 3 if first_tie == "fp" else 5 / 6
        assert evaluate_ava(truth, dets, LABELS).mAP == pytest.approx(expected, abs=1e-12)
    # numpy's introsort keeps short arrays in input order, so reversed, the later-listed tie ranks first
    # (on CPUs where numpy dispatches argsort to x86-simd-sort the order may differ; the rule is numpy's)


def test_equal_ious_pick_the_first_box_in_the_official_ground_truth_order() -> None:
    # dyadic coordinates: both IoUs are exactly 0.1171875 / 0.1640625
    g1 = (0.125, 0.125, 0.5, 0.5)
    g2 = (0.25, 0.125, 0.625, 0.5)
    d1 = (0.1875, 0.125, 0.5625, 0.5)
    # the official reader heap-orders ground truth by (1.0, action_id, y1, x1, ...): g1 (x1 0.125) comes
    # before g2 (x1 0.25) whatever the file order. d1 (0.9) ties on both and claims g1; the exact copy of g1
    # (0.8) then finds its best box taken: FP. TP, FP over 2 ground truth: AP = 1/2.
    # (Taking g2 first, as file order would here, gives TP, TP: AP 1.)
    truth = [gt(902, g2, 1), gt(902, g1, 1)]
    dets = [det(902, d1, 1, 0.9), det(902, g1, 1, 0.8)]
    assert evaluate_ava(truth, dets, LABELS).mAP == pytest.approx(0.5, abs=1e-12)
    # the official reader takes the 8th column (person_id) of a ground-truth row as its score and sorts a
    # keyframe's boxes by it, descending: with person 1 on g2 and 0 on g1, g2 comes first, d1 claims it and
    # the copy of g1 takes g1: TP, TP -> AP 1
    truth = [BoxAnnotation("v", 902, g1, 1, 0), BoxAnnotation("v", 902, g2, 1, 1)]
    assert evaluate_ava(truth, dets, LABELS).mAP == 1.0


def test_files_give_the_in_memory_numbers(tmp_path: Path) -> None:
    (tmp_path / "gt.csv").write_text(
        "v,0902,0.1,0.1,0.5,0.5,1,0\nv,0903,0.1,0.1,0.5,0.5,1,0\nv,0904,0.1,0.1,0.5,0.5,1,0\n"
    )
    (tmp_path / "det.csv").write_text(
        "v,0902,0.1,0.1,0.5,0.5,1,0.9\nv,0903,0.6,0.1,0.9,0.4,1,0.8\n"
        "v,0903,0.1,0.1,0.5,0.5,1,0.7\nv,0904,0.6,0.1,0.9,0.4,1,0.6\nv,0905,0.1,0.1,0.5,0.5,1,0.3\n"
    )
    (tmp_path / "map.pbtxt").write_text('item {\n  name: "stand"\n  id: 1\n}\nitem {\n  name: "sit"\n  id: 2\n}\n')
    (tmp_path / "excl.csv").write_text("v,0905\n")
    r = evaluate_ava_files(tmp_path / "gt.csv", tmp_path / "det.csv", tmp_path / "map.pbtxt", tmp_path / "excl.csv")
    # the PR curve of test_one_class_known_pr_curve_with_a_missed_box (0905 is excluded): AP 5/9
    assert r.per_class_AP == {"stand": pytest.approx(5 / 9, abs=1e-12)} and r.classes_without_ground_truth == ["sit"]


def test_stable_tie_order_ranks_equal_scores_first_listed_first() -> None:
    truth = [gt(902, A, 1), gt(903, A, 1)]
    hit_902, miss_903, hit_903 = det(902, A, 1, 0.5), det(903, FAR, 1, 0.5), det(903, A, 1, 0.4)
    # layout (keyframes by first detection row): 902 first -> [TP 0.5, FP 0.5, TP 0.4]: TP first, AP 5/6
    assert evaluate_ava(truth, [hit_902, miss_903, hit_903], LABELS, tie_order="stable").mAP == pytest.approx(5 / 6)
    # 903 first -> [FP 0.5, TP 0.4, TP 0.5]: the FP is listed before the tied TP, AP 2/3
    r = evaluate_ava(truth, [miss_903, hit_903, hit_902], LABELS, tie_order="stable")
    assert r.mAP == pytest.approx(2 / 3) and r.to_dict()["tie_order"] == "stable"
