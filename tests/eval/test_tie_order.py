"""``tie_order``: the stable rule and the official scripts' order, by hand and against a loop transcription.

The hand derivations below rely on one property of numpy's default ``argsort``
(checked by :func:`test_premise_constant_arrays_keep_input_order`): an array of
at most 16 equal values comes out in input order, both with introsort (its
insertion sort) and with the x86-simd-sort path of AVX-512 CPUs. The official
``argsort()[::-1]`` therefore ranks such a group in *reverse* file order.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from anet_reference import detection_ap, proposal_curve

from vidstruct.cli.main import main
from vidstruct.errors import InputError
from vidstruct.eval.temporal import (
    ANET_TIOU,
    detection,
    evaluate_detection,
    evaluate_proposals,
    load_ground_truth,
    load_submission,
    rank_by_score,
)


def _det(seg, score, label):
    return {"segment": list(seg), "score": score, "label": label}


def _detect(gt, sub, **kw):
    return evaluate_detection(load_ground_truth(gt), load_submission(sub, require_label=True), **kw)


def _propose(gt, sub, max_avg, **kw):
    return evaluate_proposals(
        load_ground_truth(gt), load_submission(sub, require_label=False), max_avg_nr_proposals=max_avg, **kw
    )


def test_premise_constant_arrays_keep_input_order():
    for n in range(1, 17):
        np.testing.assert_array_equal(np.argsort(np.full(n, 0.5)), np.arange(n))


# Every class's predictions share one score (a tie-heavy submission).
TIE_GT = {
    "database": {
        "v1": {
            "subset": "validation",
            "annotations": [
                {"segment": [0, 10], "label": "A"},
                {"segment": [20, 30], "label": "A"},
                {"segment": [5, 15], "label": "B"},
            ],
        },
        "v2": {"subset": "validation", "annotations": [{"segment": [0, 10], "label": "A"}]},
    }
}
TIE_SUB = {
    "results": {
        "v1": [
            _det([0, 10], 0.5, "A"),  # a1: tIoU 1 with v1's A [0,10]
            _det([40, 50], 0.5, "A"),  # a2: overlaps nothing
            _det([5, 15], 0.9, "B"),  # b1: tIoU 1 with v1's B
            _det([30, 40], 0.9, "B"),  # b2: overlaps nothing
        ],
        "v2": [
            _det([0, 10], 0.5, "A"),  # a3: tIoU 1 with v2's A
            _det([0, 10], 0.5, "A"),  # a4: a duplicate of a3
        ],
    }
}


def test_hand_computed_tie_heavy_detection():
    # Every tIoU is 0 or 1, so each class's AP is the same at all ten thresholds.
    # Class A, npos 3, file order a1 a2 a3 a4, all scores 0.5.
    #   stable   (file order)  a1 TP, a2 FP, a3 TP, a4 FP (v2's GT taken by a3)
    #            precision 1, 1/2, 2/3, 1/2; recall 1/3, 1/3, 2/3, 2/3
    #            interpolated: 1/3 * 1 + 1/3 * 2/3 + 1/3 * 0 (recall -> 1 at precision 0) = 5/9
    #   official (argsort of [.5 .5 .5 .5] = [0 1 2 3], reversed: a4 a3 a2 a1)
    #            a4 TP, a3 FP (duplicate), a2 FP, a1 TP
    #            precision 1, 1/2, 1/3, 1/2; recall 1/3, 1/3, 1/3, 2/3
    #            interpolated: 1/3 * 1 + 1/3 * max(1/2, 1/3, 1/2) + 1/3 * 0 = 1/2
    # Class B, npos 1, file order b1 b2, both 0.9.
    #   stable   b1 TP, b2 FP -> recall 1 at precision 1 -> AP 1
    #   official b2 FP, b1 TP -> precision 0, 1/2; recall 0, 1 -> AP 1/2
    # mAP: stable (5/9 + 1) / 2 = 7/9, official (1/2 + 1/2) / 2 = 1/2
    stable = _detect(TIE_GT, TIE_SUB)
    official = _detect(TIE_GT, TIE_SUB, tie_order="official")
    np.testing.assert_allclose(stable.ap, np.tile([5 / 9, 1.0], (10, 1)), rtol=0, atol=1e-12)
    np.testing.assert_allclose(official.ap, np.tile([1 / 2, 1 / 2], (10, 1)), rtol=0, atol=1e-12)
    assert stable.average_mAP == pytest.approx(7 / 9, abs=1e-12)
    assert official.average_mAP == pytest.approx(1 / 2, abs=1e-12)
    assert stable.to_dict()["tie_order"] == "stable" and official.to_dict()["tie_order"] == "official"


def test_hand_computed_equal_tiou_ground_truth():
    # One class, v's ground truth g1 [0,10], g2 [20,30] (file order); threshold 0.1.
    #   q1 [5,25] score .9: tIoU with g1 = 5 / (10 + 20 - 5) = 0.2, with g2 = 5 / 25 = 0.2 (equal, bit for bit)
    #   q2 [0,10] score .8: tIoU 1 with g1, 0 with g2
    # stable:   q1 takes the first listed, g1; q2 finds g1 taken, g2 below 0.1 -> FP.
    #           precision 1, 1/2; recall 1/2, 1/2 -> AP 1/2
    # official: q1 visits argsort([.2 .2])[::-1] = [1 0] -> takes g2; q2 takes g1 -> AP 1
    gt = {
        "database": {
            "v": {
                "subset": "validation",
                "annotations": [{"segment": [0, 10], "label": "A"}, {"segment": [20, 30], "label": "A"}],
            }
        }
    }
    sub = {"results": {"v": [_det([5, 25], 0.9, "A"), _det([0, 10], 0.8, "A")]}}
    assert _detect(gt, sub, tiou_thresholds=[0.1]).ap[0, 0] == pytest.approx(0.5, abs=1e-12)
    assert _detect(gt, sub, tiou_thresholds=[0.1], tie_order="official").ap[0, 0] == pytest.approx(1.0, abs=1e-12)


def test_hand_computed_proposal_tie():
    # v1: ground truth [0,10]; proposals in file order p1 [50,60] .5, p2 [0,10] .5; max_avg_nr_proposals 1.
    # V = 1, N = 2: ratio = A V / N = 1/2 -> kept = int(2 * 1/2) = 1 proposal; total = 1.
    # Grid: pcn_j = (j+1)/100 * A V / total = (j+1)/100; budget = int(1 * pcn_j) = 0 for j < 99, 1 at j = 99.
    # stable:   kept p1 (tIoU 0)            -> recall 0 everywhere: AR@1 0, AUC 0
    # official: order p2 p1, kept p2 (tIoU 1) -> recall 1 at j = 99 only: AR@1 = 1;
    #           AN_j = (j+1)/100, AUC = 100 * (0.01 * (0 + 1) / 2) / 1 = 0.5 (%)
    gt = {"database": {"v1": {"subset": "validation", "annotations": [{"segment": [0, 10], "label": "X"}]}}}
    sub = {"results": {"v1": [{"segment": [50, 60], "score": 0.5}, {"segment": [0, 10], "score": 0.5}]}}
    stable = _propose(gt, sub, 1)
    official = _propose(gt, sub, 1, tie_order="official")
    assert stable.ar_at(1) == 0.0 and stable.auc == 0.0
    assert official.ar_at(1) == pytest.approx(1.0) and official.auc == pytest.approx(0.5, abs=1e-9)
    np.testing.assert_array_equal(official.avg_recall[:99], 0.0)


def test_rank_by_score_official_is_argsort_reversed_per_group():
    rng = np.random.default_rng(3)
    for _ in range(200):
        n = int(rng.integers(1, 60))
        scores = rng.integers(0, 4, n) / 4.0
        groups = rng.integers(0, 3, n)
        order = rank_by_score(scores, groups, "official")
        for g in np.unique(groups):
            members = np.flatnonzero(groups == g)  # input order
            expected = members[np.argsort(scores[members])[::-1]]
            np.testing.assert_array_equal(order[groups[order] == g], expected)
        stable = rank_by_score(scores, groups, "stable")
        np.testing.assert_array_equal(stable, sorted(range(n), key=lambda i: (groups[i], -scores[i], i)))


def test_unknown_tie_order_is_a_user_error():
    with pytest.raises(InputError, match="tie order must be one of"):
        _detect(TIE_GT, TIE_SUB, tie_order="random")


def _tie_heavy_detection_case(rng: np.random.Generator) -> tuple[dict, dict]:
    """Segments on an integer grid (ground truth of lengths 4 and 8 at even starts: one prediction often has
    the same tIoU with two of them) and scores from a few values (ties are everywhere)."""
    classes = [f"c{i}" for i in range(int(rng.integers(1, 3)))]
    database, gt_of = {}, {}
    for v in range(int(rng.integers(1, 4))):
        anns = []
        for _ in range(int(rng.integers(0, 7))):
            s = 2 * int(rng.integers(0, 15))
            anns.append({"segment": [s, s + int(rng.choice([4, 8]))], "label": str(rng.choice(classes))})
        database[f"v{v}"] = {"subset": "validation", "annotations": anns}
        gt_of[f"v{v}"] = anns
    present = sorted({a["label"] for anns in gt_of.values() for a in anns})
    if not present:
        database["v0"]["annotations"] = [{"segment": [2, 8], "label": "c0"}]
        gt_of["v0"] = database["v0"]["annotations"]
        present = ["c0"]
    levels = rng.choice([0.25, 0.5, 0.75, 0.9], size=int(rng.integers(1, 4)), replace=False)
    results: dict[str, list] = {}
    for _ in range(int(rng.integers(1, 45))):
        vid = str(rng.choice([*database, "extra"]))
        anns = gt_of.get(vid, [])
        if anns and rng.random() < 0.7:
            a = anns[int(rng.integers(len(anns)))]
            s = a["segment"][0] + int(rng.integers(-3, 4))
            e = max(s + 1, a["segment"][1] + int(rng.integers(-3, 4)))
            label = a["label"] if rng.random() < 0.8 else str(rng.choice(present))
        else:
            s = 2 * int(rng.integers(0, 20))
            e, label = s + 2 * int(rng.integers(1, 6)), str(rng.choice(present))
        results.setdefault(vid, []).append(_det([float(s), float(e)], float(rng.choice(levels)), label))
    return {"database": database}, {"results": results}


def test_official_matches_the_transcribed_toolkit_on_tie_heavy_cases(monkeypatch: pytest.MonkeyPatch):
    rng = np.random.default_rng(12)
    thresholds = [0.1, 0.3, 0.5, 0.7]
    cases = [_tie_heavy_detection_case(rng) for _ in range(400)]
    differ = 0
    official_aps = []
    for gt, sub in cases:
        official = _detect(gt, sub, tiou_thresholds=thresholds, tie_order="official").ap
        stable = _detect(gt, sub, tiou_thresholds=thresholds).ap
        np.testing.assert_allclose(official, detection_ap(gt, sub, "validation", thresholds, "official"), atol=1e-12)
        np.testing.assert_allclose(stable, detection_ap(gt, sub, "validation", thresholds, "stable"), atol=1e-12)
        differ += int(not np.allclose(official, stable, rtol=0, atol=1e-12))
        official_aps.append(official)
    assert differ > 100  # the cases do exercise score ties that change the result
    # ... and equal-tIoU ground truth: without the official visiting order some cases come out differently
    monkeypatch.setattr(detection, "_official_visit_order", lambda *a: None)
    gt_ties = sum(
        not np.allclose(_detect(gt, sub, tiou_thresholds=thresholds, tie_order="official").ap, ap, atol=1e-12)
        for (gt, sub), ap in zip(cases, official_aps)
    )
    assert gt_ties >= 5


def test_official_proposals_match_the_transcribed_toolkit_on_tie_heavy_cases():
    rng = np.random.default_rng(5)
    differ = 0
    for _ in range(200):
        database, results = {}, {}
        for v in range(int(rng.integers(1, 4))):
            anns = [
                {"segment": [s, s + int(rng.integers(2, 12))], "label": "X"}
                for s in rng.integers(0, 40, int(rng.integers(1, 4))).tolist()
            ]
            database[f"v{v}"] = {"subset": "validation", "annotations": anns}
            props = []
            for _ in range(int(rng.integers(1, 25))):
                s = int(rng.integers(0, 45))
                props.append(
                    {"segment": [float(s), float(s + int(rng.integers(1, 14)))], "score": float(rng.integers(3))}
                )
            results[f"v{v}"] = props
        gt, sub = {"database": database}, {"results": results}
        max_avg = [1, 2, 3.5, 5, 10][int(rng.integers(5))]
        official = _propose(gt, sub, max_avg, tie_order="official")
        stable = _propose(gt, sub, max_avg)
        for res, rule in ((official, "official"), (stable, "stable")):
            recall, _, an, auc = proposal_curve(gt, sub, "validation", list(ANET_TIOU), max_avg, rule)
            np.testing.assert_allclose(res.recall, recall, rtol=0, atol=1e-12)
            np.testing.assert_allclose(res.avg_nr_proposals, an, rtol=1e-12)
            assert res.auc == pytest.approx(auc, abs=1e-9)
        differ += int(not np.allclose(official.recall, stable.recall))
    assert differ > 50


def test_cli_tie_order_option(tmp_path, capsys: pytest.CaptureFixture[str]):
    gt, sub = tmp_path / "gt.json", tmp_path / "sub.json"
    gt.write_text(json.dumps(TIE_GT))
    sub.write_text(json.dumps(TIE_SUB))
    averages = {}
    for rule in ("stable", "official"):
        assert main(["eval", "anet-detection", str(gt), str(sub), "--tie-order", rule, "--json"]) == 0
        out = json.loads(capsys.readouterr().out)
        assert out["tie_order"] == rule
        averages[rule] = out["average_mAP"]
    assert averages["stable"] == pytest.approx(7 / 9) and averages["official"] == pytest.approx(1 / 2)
    assert main(["eval", "anet-detection", str(gt), str(sub)]) == 0  # the default is stable
    assert "average mAP: 77.78 %" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exc:
        main(["eval", "anet-detection", str(gt), str(sub), "--tie-order", "numpy"])
    assert exc.value.code == 2 and "invalid choice: 'numpy'" in capsys.readouterr().err
