"""ActivityNet AR@AN / AUC: hand-computed goldens and a cross-check against a loop-based reference."""

from __future__ import annotations

import numpy as np
import pytest
from anet_reference import proposal_curve

from vidstruct.eval.temporal import ANET_TIOU, evaluate_proposals, load_ground_truth, load_submission


def _prop(seg, score):
    return {"segment": list(seg), "score": score}


def _gt(videos: dict[str, list]) -> dict:
    return {
        "database": {
            v: {"subset": "validation", "annotations": [{"segment": s, "label": "X"} for s in segs]}
            for v, segs in videos.items()
        }
    }


def _eval(gt, sub, max_avg):
    return evaluate_proposals(
        load_ground_truth(gt), load_submission(sub, require_label=False), max_avg_nr_proposals=max_avg
    )


# g1 [0,10] and g2 [20,30] in v1, g3 [0,10] in v2. tIoUs (chosen away from the thresholds):
#   p1 [0,10]   vs g1: 1.0                      p4 [0,9.2] vs g3: 9.2/10 = 0.92
#   p2 [20,28.2] vs g2: 8.2/10 = 0.82           p3 [0,6.2] vs g3: 0.62
GT = _gt({"v1": [[0, 10], [20, 30]], "v2": [[0, 10]]})
PROPS = {
    "v1": [_prop([0, 10], 0.9), _prop([20, 28.2], 0.8)],
    "v2": [_prop([0, 6.2], 0.7), _prop([0, 9.2], 0.95)],
}
# Recalled (of 10 thresholds 0.5..0.95): g1 at 10, g2 (0.82) at 7 (<= 0.8), g3 via 0.92 at 9 (<= 0.9).
#   with each video's top-1 proposal (p1, p4): g1 10 + g3 9 = 19 of 30 (g x threshold) -> 19/30
#   with both: 10 + 7 + 9 = 26 of 30 -> 26/30


def test_golden_ratio_one():
    # N = 4 proposals, V = 2, A = 2: ratio = A*V/N = 1 -> both kept per video; total = 4
    # pcn_j = (j+1)/100 * A*V/total = (j+1)/100; a video with 2 columns uses int(2 * pcn_j):
    #   0 for j+1 <= 49, 1 for 50..99, 2 at 100
    # avg_recall: 0 (49 points), 19/30 (50 points), 26/30 (last); AN_j = pcn_j * total/V = 2(j+1)/100
    # trapezoids of width .02: .01 * 19/30 + 49 * .02 * 19/30 + .01 * (19 + 26)/30 = 19.26/30 = .642
    # AUC = 100 * .642 / AN[-1] (= 2) = 32.1 %
    res = _eval(GT, {"results": PROPS}, 2)
    expected = np.r_[np.zeros(49), np.full(50, 19 / 30), [26 / 30]]
    np.testing.assert_allclose(res.avg_recall, expected, atol=1e-12)
    np.testing.assert_allclose(res.avg_nr_proposals, 2 * np.arange(1, 101) / 100, atol=1e-12)
    assert res.auc == pytest.approx(32.1, abs=1e-9)
    d = res.to_dict()
    assert d["AR@1"] == pytest.approx(19 / 30) and d["AR@2"] == pytest.approx(26 / 30)
    assert "AR@5" not in d  # not on the grid when A = 2
    # recall per tIoU at AN = 2: 3/3 up to 0.8, g1 + g3 at 0.85 and 0.9, g1 only at 0.95
    np.testing.assert_allclose(d["recall"], [1] * 7 + [2 / 3, 2 / 3, 1 / 3], atol=1e-12)


def test_golden_extra_video_counts_in_total_proposals():
    # As the toolkit: 4 proposals of a video absent from the ground truth make N = 8 -> ratio = 2*2/8 = .5
    # -> each video keeps int(2 * .5) = 1 (p1, p4); total = 2; pcn_j = (j+1)/100 * 2
    # one column: budget 1 once pcn_j >= 1, i.e. j+1 >= 50; recall there 19/30; AN_j = pcn_j * 2/2
    # AUC: (.01 * 19/30 + 50 * .02 * 19/30) / 2 * 100 = 19.19/30/2*100 = 31.98333 %
    sub = {"results": {**PROPS, "v9": [_prop([0, 1], 0.1 * k) for k in range(1, 5)]}}
    res = _eval(GT, sub, 2)
    np.testing.assert_allclose(res.avg_recall, np.r_[np.zeros(49), np.full(51, 19 / 30)], atol=1e-12)
    assert res.auc == pytest.approx(100 * 19.19 / 30 / 2, abs=1e-9)


def test_golden_video_without_proposals():
    # v3 has one GT segment and no proposals: it adds to the denominator (4 GT) and never to recall.
    # N = 6 (2 + 2 + 2 in v9), V = 3, A = 2: ratio = 6/6 = 1, total = 4, pcn_j = (j+1)/100 * 1.5
    # two columns: int(2 * pcn_j) = 0 for j+1 <= 33, 1 for 34..66, 2 for 67..100
    # avg_recall: 0 / 19/40 = .475 / 26/40 = .65; AN_j = pcn_j * 4/3 = 2(j+1)/100
    # area = .02 * (.475/2 + 32 * .475 + (.475 + .65)/2 + 33 * .65) = .749 -> AUC = 37.45 %
    gt = _gt({"v1": [[0, 10], [20, 30]], "v2": [[0, 10]], "v3": [[0, 10]]})
    sub = {"results": {**PROPS, "v9": [_prop([0, 1], 0.3), _prop([1, 2], 0.2)]}}
    res = _eval(gt, sub, 2)
    np.testing.assert_allclose(res.avg_recall, np.r_[np.zeros(33), np.full(33, 0.475), np.full(34, 0.65)], atol=1e-12)
    assert res.auc == pytest.approx(37.45, abs=1e-9)
    assert res.to_dict()["AR@1"] == pytest.approx(0.475)


def test_default_max_avg_is_proposals_per_video():
    # A = N / V = 4 / 2 = 2: the same numbers as test_golden_ratio_one
    res = _eval(GT, {"results": PROPS}, None)
    assert res.max_avg_nr_proposals == 2.0
    assert res.auc == pytest.approx(32.1, abs=1e-9)


def test_no_proposals_in_ground_truth_videos_gives_zero():
    res = _eval(GT, {"results": {"other": [_prop([0, 10], 0.5)]}}, 100)
    assert res.auc == 0.0 and not res.avg_recall.any()


def _random_case(rng: np.random.Generator) -> tuple[dict, dict]:
    database, results = {}, {}
    for v in range(int(rng.integers(1, 6))):
        anns = []
        for _ in range(int(rng.integers(0, 4))):
            s = float(rng.uniform(0, 60))
            anns.append({"segment": [s, s + float(rng.uniform(1, 30))], "label": "X"})
        database[f"v{v}"] = {"subset": "validation" if rng.random() < 0.9 else "training", "annotations": anns}
    if not any(v["annotations"] and v["subset"] == "validation" for v in database.values()):
        database["v0"] = {"subset": "validation", "annotations": [{"segment": [3.0, 17.0], "label": "X"}]}
    counter = 0
    for vid in [*database, "extra"]:
        if rng.random() < 0.2:
            continue
        props = []
        anns = database.get(vid, {}).get("annotations", [])
        for _ in range(int(rng.integers(1, 15))):
            if anns and rng.random() < 0.6:
                a = anns[int(rng.integers(len(anns)))]["segment"]
                s = a[0] + float(rng.normal(0, 3))
                e = max(s, a[1] + float(rng.normal(0, 3)))
            else:
                s = float(rng.uniform(0, 70))
                e = s + float(rng.uniform(0.5, 30))
            counter += 1
            props.append({"segment": [s, e], "score": float(rng.integers(1000) + counter * 1e-3)})
        results[vid] = props
    gt_videos = {v for v, e in database.items() if e["subset"] == "validation" and e["annotations"]}
    if not any(v in results for v in gt_videos):  # the reference (the toolkit) divides by zero otherwise
        vid = sorted(gt_videos)[0]
        results[vid] = [{"segment": [0.0, 10.0], "score": 0.5}]
    return {"database": database}, {"results": results}


def test_matches_loop_reference_on_random_cases():
    rng = np.random.default_rng(0)
    for _ in range(200):
        gt, sub = _random_case(rng)
        max_avg = [None, 1, 2, 3.5, 5, 10, 100][int(rng.integers(7))]
        res = _eval(gt, sub, max_avg)
        try:
            recall, avg, an, auc = proposal_curve(gt, sub, "validation", list(ANET_TIOU), max_avg)
        except ZeroDivisionError:  # no proposal kept in any GT video: the toolkit crashes, we report zeros
            assert res.auc == 0.0 and not res.recall.any()
            continue
        np.testing.assert_allclose(res.recall, recall, rtol=0, atol=1e-12)
        np.testing.assert_allclose(res.avg_nr_proposals, an, rtol=1e-12)
        assert res.auc == pytest.approx(auc, abs=1e-9)
