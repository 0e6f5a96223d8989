"""ActivityNet detection mAP: hand-computed goldens and a cross-check against a loop-based reference."""

from __future__ import annotations

import numpy as np
import pytest
from anet_reference import detection_ap

from vidstruct.errors import AnnotationError
from vidstruct.eval.temporal import (
    ANET_TIOU,
    average_precision_per_class,
    evaluate_detection,
    interpolated_average_precision,
    load_ground_truth,
    load_submission,
)


def _det(seg, score, label):
    return {"segment": list(seg), "score": score, "label": label}


def _eval(gt, sub, **kw):
    return evaluate_detection(load_ground_truth(gt), load_submission(sub, require_label=True), **kw)


# Two validation videos, two classes, one training video (filtered out by subset).
GT = {
    "version": "VERSION 1.3",
    "database": {
        "v1": {
            "subset": "validation",
            "duration": 40.0,
            "annotations": [{"segment": [0, 10], "label": "A"}, {"segment": [20, 30], "label": "B"}],
        },
        "v2": {"subset": "validation", "duration": 20.0, "annotations": [{"segment": [5, 15], "label": "A"}]},
        "v3": {"subset": "training", "duration": 20.0, "annotations": [{"segment": [0, 5], "label": "A"}]},
    },
}
SUB = {
    "version": "VERSION 1.3",
    "external_data": {},
    "results": {
        "v1": [_det([0, 10], 0.9, "A"), _det([0, 9], 0.85, "A"), _det([20, 25], 0.5, "B")],
        "v2": [_det([5, 10], 0.8, "A"), _det([0, 1], 0.4, "B")],
        "v9": [_det([0, 5], 0.6, "A")],  # a video that is not in the ground truth
    },
}


def test_golden_two_videos_two_classes():
    # Class A (npos = 2: v1 [0,10], v2 [5,15]; v3 is training), ranked by score:
    #   0.9  v1 [0,10]  tIoU 1.0 with v1's A         -> TP at every threshold
    #   0.85 v1 [0,9]   tIoU 0.9, but that GT is taken -> FP (duplicate)
    #   0.8  v2 [5,10]  tIoU 5/10 = 0.5               -> TP at 0.5 only
    #   0.6  v9 [0,5]   video not in the ground truth -> FP
    # tIoU 0.5:  tp 1,0,1,0 -> precision 1, 1/2, 2/3, 2/4; recall .5, .5, 1, 1
    #            interpolated: .5 * 1 + .5 * max(2/3, 1/2) = 5/6
    # tIoU >= 0.55: tp 1,0,0,0 -> recall .5 at precision 1 -> AP = .5
    # Class B (npos = 1: v1 [20,30]):
    #   0.5  v1 [20,25] tIoU 5/10 = 0.5 -> TP at 0.5;  0.4 v2 [0,1]: no B in v2 -> FP
    #   tIoU 0.5: precision 1, 1/2; recall 1, 1 -> AP 1;  tIoU >= 0.55: AP 0
    # mAP: 0.5 -> (5/6 + 1)/2 = 11/12; others (.5 + 0)/2 = .25; average (11/12 + 9 * .25)/10 = 19/60
    res = _eval(GT, SUB)
    assert res.class_names == ("A", "B")
    expected_a = [5 / 6] + [0.5] * 9
    expected_b = [1.0] + [0.0] * 9
    np.testing.assert_allclose(res.ap[:, 0], expected_a, atol=1e-12)
    np.testing.assert_allclose(res.ap[:, 1], expected_b, atol=1e-12)
    np.testing.assert_allclose(res.mAP, [11 / 12] + [0.25] * 9, atol=1e-12)
    assert res.average_mAP == pytest.approx(19 / 60, abs=1e-12)
    d = res.to_dict()
    assert d["tiou"] == [0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95]
    assert d["per_class_AP"]["B"] == pytest.approx(expected_b, abs=1e-12)
    assert d["num_predictions_outside_ground_truth"] == 1
    assert d["num_ground_truth"] == 3


def test_golden_interpolation_non_monotonic_precision():
    # One class, 3 GT ([0,10] in va, vb, vc). Ranked predictions and their tIoU:
    #   .9 va [0,10] 1.0 | .8 vb [50,60] 0 | .7 vb [1,10] 0.9 | .6 va [0,10] dup | .5 vd (no GT) | .4 vc [0,8] 0.8
    # tIoU 0.5: TP FP TP FP FP TP: precision 1, 1/2, 2/3, 1/2, 2/5, 1/2; recall 1/3, 1/3, 2/3, 2/3, 2/3, 1
    #   running max from the right: 1, 2/3, 2/3, 1/2, 1/2, 1/2 -> AP = (1 + 2/3 + 1/2)/3 = 13/18
    # tIoU 0.85: vc's 0.8 is now FP: TP FP TP FP FP FP -> AP = (1 + 2/3)/3 = 5/9
    # tIoU 0.95: only va's 1.0: TP FP FP FP FP FP -> AP = 1/3
    gt = {"database": {v: {"subset": "validation", "annotations": [{"segment": [0, 10], "label": "X"}]} for v in "abc"}}
    sub = {
        "results": {
            "a": [_det([0, 10], 0.9, "X"), _det([0, 10], 0.6, "X")],
            "b": [_det([50, 60], 0.8, "X"), _det([1, 10], 0.7, "X")],
            "d": [_det([0, 10], 0.5, "X")],
            "c": [_det([0, 8], 0.4, "X")],
        }
    }
    res = _eval(gt, sub, tiou_thresholds=[0.5, 0.85, 0.95])
    np.testing.assert_allclose(res.ap[:, 0], [13 / 18, 5 / 9, 1 / 3], atol=1e-12)


def test_interpolated_ap_by_hand():
    prec = [1, 1 / 2, 2 / 3, 1 / 2, 2 / 5, 1 / 2]
    rec = [1 / 3, 1 / 3, 2 / 3, 2 / 3, 2 / 3, 1]
    assert float(interpolated_average_precision(prec, rec)) == pytest.approx(13 / 18, abs=1e-12)
    # recall never reaches 1: the tail (recall -> 1) contributes precision 0: .5 * 1 = .5
    assert float(interpolated_average_precision([1.0, 0.5], [0.5, 0.5])) == pytest.approx(0.5)


def test_ties_are_broken_by_input_order():
    # Equal scores: the FP listed first ranks first -> precision 0, 1/2; recall 0, 1 -> AP 1/2
    # (the reverse order would give 1.0 -- what the official toolkit returns here: numpy's default argsort
    # keeps small tied arrays in input order and the toolkit then reverses it).
    gt = {"database": {"v": {"subset": "validation", "annotations": [{"segment": [0, 10], "label": "X"}]}}}
    first_fp = {"results": {"v": [_det([20, 30], 0.5, "X"), _det([0, 10], 0.5, "X")]}}
    first_tp = {"results": {"v": [_det([0, 10], 0.5, "X"), _det([20, 30], 0.5, "X")]}}
    assert _eval(gt, first_fp).ap[0, 0] == pytest.approx(0.5)
    assert _eval(gt, first_tp).ap[0, 0] == pytest.approx(1.0)


def test_class_without_predictions_and_unknown_labels():
    # class B has no predictions -> AP 0; v2 has no predictions, so A's npos is still 2: one TP at
    # precision 1 reaches recall 1/2 -> AP 1/2. An unknown label is an error naming file, video and label.
    sub = {"results": {"v1": [_det([0, 10], 0.9, "A")]}}
    res = _eval(GT, sub)
    assert res.ap[:, 1].tolist() == [0.0] * 10
    np.testing.assert_allclose(res.ap[:, 0], 0.5, atol=1e-12)
    bad = {"results": {"v1": [_det([0, 10], 0.9, "A"), _det([0, 10], 0.8, "Bee")]}}
    with pytest.raises(AnnotationError, match=r"results\['v1'\]\[1\], field 'label': 'Bee'.*did you mean 'B'"):
        _eval(GT, bad)
    ignored = _eval(GT, bad, unknown_labels="ignore")
    np.testing.assert_allclose(ignored.ap, res.ap)
    assert ignored.num_predictions == 1


def test_blocked_videos_leave_both_sides():
    # blocking v2 removes its GT (class A npos 2 -> 1) and its predictions; class A then:
    #   .9 v1 TP, .85 v1 dup FP, .6 v9 FP -> precision 1, ... recall 1 at the first -> AP 1 at every tIoU
    gt = load_ground_truth(GT, blocked={"v2"})
    sub = load_submission(SUB, require_label=True, blocked={"v2"})
    res = evaluate_detection(gt, sub)
    np.testing.assert_allclose(res.ap[:, 0], 1.0)


def _random_case(rng: np.random.Generator) -> tuple[dict, dict]:
    classes = [f"c{i}" for i in range(int(rng.integers(1, 5)))]
    database, results = {}, {}
    n_videos = int(rng.integers(1, 7))
    gt_segments: dict[str, list] = {}
    for v in range(n_videos):
        duration = float(rng.uniform(20, 100))
        anns = []
        for _ in range(int(rng.integers(0, 5))):
            s = float(rng.uniform(0, duration - 5))
            e = float(min(duration, s + rng.uniform(1, 30)))
            anns.append({"segment": [s, e], "label": str(rng.choice(classes))})
        if anns and rng.random() < 0.2:
            anns.append(dict(anns[0]))  # an exact duplicate GT segment
        subset = "validation" if rng.random() < 0.85 else "training"
        database[f"v{v}"] = {"subset": subset, "duration": duration, "annotations": anns}
        gt_segments[f"v{v}"] = anns
    present = sorted({a["label"] for v in database.values() if v["subset"] == "validation" for a in v["annotations"]})
    if not present:
        database["v0"] = {"subset": "validation", "duration": 50.0, "annotations": [{"segment": [1, 9], "label": "c0"}]}
        gt_segments["v0"] = database["v0"]["annotations"]
        present = ["c0"]
    n_pred = int(rng.integers(0, 40))
    scores = rng.permutation(n_pred) + rng.uniform(0, 0.5, n_pred)  # distinct
    vids = [*database, "extra1", "extra2"]
    for i in range(n_pred):
        vid = str(rng.choice(vids))
        anns = gt_segments.get(vid, [])
        if anns and rng.random() < 0.7:  # jitter a GT segment
            a = anns[int(rng.integers(len(anns)))]
            s = a["segment"][0] + rng.normal(0, 2)
            e = max(s, a["segment"][1] + rng.normal(0, 2))
            label = a["label"] if a["label"] in present and rng.random() < 0.8 else str(rng.choice(present))
        else:
            s = float(rng.uniform(0, 80))
            e = s + float(rng.uniform(0.5, 25))
            label = str(rng.choice(present))
        results.setdefault(vid, []).append({"segment": [float(s), float(e)], "score": float(scores[i]), "label": label})
        if rng.random() < 0.1:  # duplicate with a lower, still distinct, score
            results[vid].append({"segment": [float(s), float(e)], "score": float(scores[i] - 0.25), "label": label})
    return {"database": database}, {"results": results}


def test_matches_loop_reference_on_random_cases():
    rng = np.random.default_rng(0)
    thresholds = list(ANET_TIOU)
    checked = 0
    for _ in range(300):
        gt, sub = _random_case(rng)
        expected = detection_ap(gt, sub, "validation", thresholds)
        got = _eval(gt, sub, tiou_thresholds=thresholds)
        np.testing.assert_allclose(got.ap, expected, rtol=0, atol=1e-12)
        checked += int((expected > 0).any())
    assert checked > 150  # the cases exercise real matches, not only zeros


def test_flat_array_api_and_nan_for_classes_without_gt():
    # class 1 has a prediction but no ground truth -> NaN; class 0: one TP -> AP 1
    ap = average_precision_per_class(
        gt_video=[0],
        gt_segments=[[0, 10]],
        gt_labels=[0],
        pred_video=[0, 0],
        pred_segments=[[0, 10], [0, 10]],
        pred_scores=[0.9, 0.8],
        pred_labels=[0, 1],
        num_classes=2,
        tiou_thresholds=[0.5],
    )
    assert ap[0, 0] == 1.0 and np.isnan(ap[0, 1])


def test_large_group_many_predictions_one_video():
    # 30 predictions of one class in one video with 3 GT: the step loop runs 30 ranks deep
    rng = np.random.default_rng(1)
    gt = {
        "database": {
            "v": {
                "subset": "validation",
                "annotations": [{"segment": [10 * k, 10 * k + 8], "label": "X"} for k in range(3)]
                + [{"segment": [5, 30], "label": "Y"}],
            }
        }
    }
    dets = []
    for i in range(30):
        s = float(rng.uniform(0, 30))
        dets.append(_det([s, s + float(rng.uniform(2, 10))], float(1 - i / 31 + rng.uniform(0, 0.01)), "X"))
    sub = {"results": {"v": dets}}
    np.testing.assert_allclose(_eval(gt, sub).ap, detection_ap(gt, sub, "validation", list(ANET_TIOU)), atol=1e-12)
