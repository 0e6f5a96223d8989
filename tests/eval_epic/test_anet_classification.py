"""ActivityNet untrimmed video classification (official eval_classification.py protocol): hand-computed cases."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from vidstruct.cli.main import main
from vidstruct.eval.temporal import load_ground_truth
from vidstruct.eval.video_classification import evaluate_video_classification, load_classification_submission


def _ann(*labels: str) -> list[dict]:
    return [{"segment": [float(i), float(i + 1)], "label": lab} for i, lab in enumerate(labels)]


GT = {
    "version": "VERSION 1.3",
    "taxonomy": [],
    "database": {
        "v1": {"subset": "validation", "duration": 30.0, "annotations": _ann("A", "A", "B")},  # A twice: one pair
        "v2": {"subset": "validation", "duration": 30.0, "annotations": _ann("A")},
        "v3": {"subset": "validation", "duration": 30.0, "annotations": _ann("C")},
        "v4": {"subset": "validation", "duration": 30.0, "annotations": _ann("B")},  # no predictions
        "v5": {"subset": "validation", "duration": 30.0, "annotations": []},  # not counted by hit@k
        "t1": {"subset": "training", "duration": 30.0, "annotations": _ann("A")},
    },
}
PRED = {
    "version": "VERSION 1.3",
    "external_data": {},
    "results": {
        "v1": [
            {"label": "A", "score": 0.9},
            {"label": "C", "score": 0.8},
            {"label": "B", "score": 0.3},
            {"label": "A", "score": 0.2},
        ],
        "v2": [{"label": "B", "score": 0.7}, {"label": "A", "score": 0.6}],
        "v3": [{"label": "A", "score": 0.5}, {"label": "B", "score": 0.4}, {"label": "C", "score": 0.1}],
        "v9": [{"label": "A", "score": 0.95}],  # not in the ground truth: a false positive
    },
}
# AP by hand (classes A, B, C in first-appearance order):
# A (npos 2: v1, v2): v9 .95 FP, v1 .9 TP, v2 .6 TP, v3 .5 FP, v1 .2 FP (repeat)
#   precision 0, 1/2, 2/3, 1/2, 2/5 at recall 0, .5, 1, 1, 1 -> interpolated .5 * 2/3 + .5 * 2/3 = 2/3
# B (npos 2: v1, v4): v2 .7 FP, v3 .4 FP, v1 .3 TP -> precision 1/3 at recall .5 -> 1/6
# C (npos 1: v3): v1 .8 FP, v3 .1 TP -> precision 1/2 at recall 1 -> 1/2
# mAP = (2/3 + 1/6 + 1/2) / 3 = 4/9
# hit@k over v1..v4 (v5 has no annotations; v4 no predictions = a miss):
#   k=1: v1 A (hit, 1 of 2 labels), v2 B (miss), v3 A (miss), v4 miss -> 1/4, avg (1/2) / 4 = 1/8
#   k=2: v1 A,C (hit, 1/2), v2 B,A (hit), v3 A,B (miss), v4 -> 2/4, avg (1/2 + 1) / 4 = 3/8
#   k=3: v1 A,C,B (hit, 2/2), v2 (hit), v3 A,B,C (hit), v4 -> 3/4, avg 3/4


@pytest.fixture()
def files(tmp_path: Path) -> dict[str, Path]:
    paths = {"gt": tmp_path / "gt.json", "pred": tmp_path / "pred.json"}
    paths["gt"].write_text(json.dumps(GT))
    paths["pred"].write_text(json.dumps(PRED))
    return paths


@pytest.mark.parametrize("k, hit, avg_hit", [(1, 1 / 4, 1 / 8), (2, 1 / 2, 3 / 8), (3, 3 / 4, 3 / 4)])
def test_golden_map_and_hit_at_k(files, k, hit, avg_hit):
    out = evaluate_video_classification(
        load_ground_truth(files["gt"]), load_classification_submission(files["pred"]), top_k=k
    )
    assert out["per_class_AP"] == pytest.approx({"A": 2 / 3, "B": 1 / 6, "C": 1 / 2}, abs=1e-12)
    assert out["mAP"] == pytest.approx(4 / 9, abs=1e-12)
    assert out["hit_at_k"] == pytest.approx(hit, abs=1e-12)
    assert out["avg_hit_at_k"] == pytest.approx(avg_hit, abs=1e-12)
    assert out["num_videos"] == 4 and out["num_videos_without_predictions"] == 1


def test_cli_json_blocked_and_text(files, tmp_path, capsys):
    assert main(["eval", "anet-classification", str(files["gt"]), str(files["pred"]), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["mAP"] == pytest.approx(4 / 9) and out["hit_at_k"] == pytest.approx(0.75) and out["top_k"] == 3
    # blocking v9 removes A's first false positive: A -> 1 (TP, TP, FP, FP), mAP (1 + 1/6 + 1/2) / 3 = 5/9
    blocked = tmp_path / "blocked.json"
    blocked.write_text('["v9"]')
    args = ["eval", "anet-classification", str(files["gt"]), str(files["pred"]), "--blocked", str(blocked)]
    assert main(args + ["--top-k", "1", "--out", str(tmp_path / "m.json")]) == 0
    text = capsys.readouterr().out
    assert "mAP: 55.56 %" in text and "hit@1: 25.00 %" in text
    assert json.loads((tmp_path / "m.json").read_text())["mAP"] == pytest.approx(5 / 9)


def test_a_repeated_label_takes_a_top_k_slot(tmp_path):
    gt = {
        "database": {
            "v1": {"subset": "validation", "annotations": _ann("B")},
            "v2": {"subset": "validation", "annotations": _ann("A")},
        }
    }
    pred = {
        "results": {"v1": [{"label": "A", "score": 0.9}, {"label": "A", "score": 0.8}, {"label": "B", "score": 0.7}]}
    }
    (tmp_path / "g.json").write_text(json.dumps(gt))
    (tmp_path / "p.json").write_text(json.dumps(pred))
    gtd, pr = load_ground_truth(tmp_path / "g.json"), load_classification_submission(tmp_path / "p.json")
    assert evaluate_video_classification(gtd, pr, top_k=2)["hit_at_k"] == 0.0  # v1: A, A; v2: none
    assert evaluate_video_classification(gtd, pr, top_k=3)["hit_at_k"] == 0.5  # v1: A, A, B


@pytest.mark.parametrize("tie_order, expected", [("stable", 0.5), ("official", 1.0)])
def test_tie_order(tmp_path, tie_order, expected):
    # A's two predictions share a score: v2 (FP, listed first), v1 (TP). stable: FP, TP -> AP 1 * 1/2;
    # official (argsort reversed; two tied items come out reversed): TP, FP -> AP 1.
    gt = {
        "database": {
            "v1": {"subset": "validation", "annotations": _ann("A")},
            "v2": {"subset": "validation", "annotations": _ann("B")},
        }
    }
    pred = {"results": {"v2": [{"label": "A", "score": 0.5}], "v1": [{"label": "A", "score": 0.5}]}}
    (tmp_path / "g.json").write_text(json.dumps(gt))
    (tmp_path / "p.json").write_text(json.dumps(pred))
    out = evaluate_video_classification(
        load_ground_truth(tmp_path / "g.json"),
        load_classification_submission(tmp_path / "p.json"),
        tie_order=tie_order,
    )
    assert out["per_class_AP"]["A"] == expected and out["per_class_AP"]["B"] == 0.0


@pytest.mark.parametrize(
    "results, message",
    [
        ({"v1": [{"label": "Z", "score": 0.5}]}, r"results\['v1'\], field 'label': 'Z' is not a class"),
        ({"v1": [{"label": "A", "score": "0.5"}]}, r"results\['v1'\]\[0\], field 'score': expected a finite number"),
        ({"v1": [{"score": 0.5}]}, r"results\['v1'\]\[0\], field 'label': missing"),
        ({"v1": {"label": "A"}}, r"results\['v1'\]: expected a list"),
    ],
)
def test_malformed_submission_is_a_one_line_error(files, tmp_path, capsys, results, message):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"results": results}))
    assert main(["eval", "anet-classification", str(files["gt"]), str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and re.search(message, err), err


def test_bad_top_k(files, capsys):
    assert main(["eval", "anet-classification", str(files["gt"]), str(files["pred"]), "--top-k", "0"]) == 2
    assert "--top-k must be >= 1" in capsys.readouterr().err


def _loop_reference(gt: dict, pred: dict, k: int) -> dict:
    """Written from the protocol: distinct (video, label) pairs; per class, predictions by descending score, the
    first one per ground-truth video a TP; VOC interpolated AP; hit@k over annotated videos."""
    truth: dict[str, set] = {}
    classes: list[str] = []
    for vid, v in gt["database"].items():
        if v["subset"] != "validation":
            continue
        for a in v["annotations"]:
            classes += [] if a["label"] in classes else [a["label"]]
            truth.setdefault(vid, set()).add(a["label"])
    flat = [(vid, d["label"], d["score"]) for vid, ds in pred["results"].items() for d in ds]
    aps = []
    for c in classes:
        npos = sum(c in labs for labs in truth.values())
        taken, tp, fp, prec, rec = set(), 0, 0, [], []
        for vid, _, _ in sorted((p for p in flat if p[1] == c), key=lambda p: -p[2]):
            if c in truth.get(vid, set()) and vid not in taken:
                taken.add(vid)
                tp += 1
            else:
                fp += 1
            prec.append(tp / (tp + fp))
            rec.append(tp / npos)
        mprec, mrec = [0.0, *prec, 0.0], [0.0, *rec, 1.0]
        for i in range(len(mprec) - 2, -1, -1):
            mprec[i] = max(mprec[i], mprec[i + 1])
        aps.append(sum((mrec[i] - mrec[i - 1]) * mprec[i] for i in range(1, len(mrec)) if mrec[i] != mrec[i - 1]))
    hits = []
    for vid, labs in truth.items():
        top = [lab for _, lab, _ in sorted((p for p in flat if p[0] == vid), key=lambda p: -p[2])[:k]]
        hits.append(any(lab in top for lab in labs))
    return {"mAP": sum(aps) / len(aps), "hit_at_k": sum(hits) / len(hits)}


def test_random_cases_match_a_loop_reference(tmp_path):
    import numpy as np

    rng = np.random.default_rng(3)
    classes = ["a", "b", "c", "d"]
    for trial in range(3):
        db = {
            f"v{i}": {"subset": "validation", "annotations": _ann(*rng.choice(classes, rng.integers(1, 3)).tolist())}
            for i in range(25)
        }
        results = {
            f"v{i}": [
                {"label": str(rng.choice(classes)), "score": float(rng.random())} for _ in range(rng.integers(1, 5))
            ]
            for i in range(28)
            if rng.random() < 0.85
        }
        (tmp_path / "g.json").write_text(json.dumps({"database": db}))
        (tmp_path / "p.json").write_text(json.dumps({"results": results}))
        for k in (1, 3):
            out = evaluate_video_classification(
                load_ground_truth(tmp_path / "g.json"), load_classification_submission(tmp_path / "p.json"), top_k=k
            )
            ref = _loop_reference({"database": db}, {"results": results}, k)
            assert out["mAP"] == pytest.approx(ref["mAP"], abs=1e-12), trial
            assert out["hit_at_k"] == pytest.approx(ref["hit_at_k"], abs=1e-12), trial
