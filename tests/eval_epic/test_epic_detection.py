"""EPIC-Kitchens-100 action detection (C2 ``evaluate_detection_json_ek100.py`` protocol): hand-computed mAP."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from epic_eval_fixtures import write_labels_csv

from vidstruct.cli.main import main
from vidstruct.eval.epic import evaluate_epic_detection, load_detection_submission, load_epic_labels

# Ground truth: (narration, participant, video, start, stop, verb, noun); actions (0,1), (1,1), (0,2).
GT_ROWS = [
    ("A_1", "P01", "A", 0.0, 10.0, 0, 1),  # g1
    ("A_2", "P01", "A", 20.0, 30.0, 1, 1),  # g2
    ("B_1", "P02", "B", 0.0, 10.0, 0, 2),  # g3
]


def _det(seg, verb, noun, action, score):
    return {"verb": verb, "noun": noun, "action": action, "score": score, "segment": seg}


def _submission(results: dict, **over) -> dict:
    return {
        "version": "0.2",
        "challenge": "action_detection",
        "sls_pt": 2,
        "sls_tl": 3,
        "sls_td": 4,
        "results": results,
        **over,
    }


RESULTS = {
    "A": [
        _det([0, 10], 0, 1, "0,1", 0.9),  # d1: tIoU 1 with g1
        _det([22, 30], 1, 1, "1,1", 0.8),  # d2: tIoU 0.8 with g2
        _det([5, 15], 0, 2, "0,2", 0.7),  # d3: tIoU 1/3 with g1
    ],
    "B": [
        _det([0, 3.5], 0, 2, "0,2", 0.6),  # d4: tIoU 0.35 with g3
        _det([0, 10], 2, 0, "2,0", 0.85),  # d5: verb 2, noun 0, action (2,0): no such ground-truth class
    ],
}
# By hand, thresholds 0.1 0.2 0.3 | 0.4 0.5 (d4 matches only up to 0.3):
# verb 0 (npos 2): d1 TP, d3 FP (g1 taken), d4 TP|FP -> P/R (1, .5) (.5, .5) (2/3, 1): AP .5 + .5*2/3 = 5/6 | .5
# verb 1: d2 TP -> 1.                                 mAP verb   = 11/12 x3 | 3/4 x2, average (2.75 + 1.5) / 5
# noun 1: d1, d2 TP -> 1; noun 2: d3 FP (no noun-2 ground truth in A), d4 TP|FP -> .5 | 0
#                                                     mAP noun   = .75 x3 | .5 x2, average (2.25 + 1) / 5
# action (0,1) 1, (1,1) 1, (0,2) like noun 2: .5 | 0  mAP action = 2.5/3 x3 | 2/3 x2, average (2.5 + 4/3) / 5
# d5 is dropped from every task (its classes have no ground truth). The official script would count its noun 0 as
# the ground-truth class with *index* 0 (noun 1): an FP at 0.85 between d1 and d2, noun-1 AP 5/6 instead of 1.
EXPECTED = {
    "verb": ([11 / 12] * 3 + [0.75] * 2, (2.75 + 1.5) / 5),
    "noun": ([0.75] * 3 + [0.5] * 2, (2.25 + 1.0) / 5),
    "action": ([2.5 / 3] * 3 + [2 / 3] * 2, (2.5 + 4 / 3) / 5),
}


@pytest.fixture()
def files(tmp_path: Path) -> dict[str, Path]:
    sub = tmp_path / "submission.json"
    sub.write_text(json.dumps(_submission(RESULTS)))
    return {"labels": write_labels_csv(tmp_path / "EPIC_100_validation.csv", GT_ROWS), "submission": sub}


def test_golden_verb_noun_action(files):
    labels = load_epic_labels(files["labels"], num_verbs=3, num_nouns=3)
    out = evaluate_epic_detection(
        labels, load_detection_submission(files["submission"], num_verbs=3, num_nouns=3), num_nouns=3
    )
    for task, (m_ap, avg) in EXPECTED.items():
        assert out[task]["mAP"] == pytest.approx(m_ap, abs=1e-12), task
        assert out[task]["average_mAP"] == pytest.approx(avg, abs=1e-12), task
        assert out[task]["tiou"] == [0.1, 0.2, 0.3, 0.4, 0.5]
    assert out["noun"]["per_class_AP"]["1"] == pytest.approx([1.0] * 5)  # d5 (noun 0) is not counted as noun 1
    assert sorted(out["action"]["per_class_AP"]) == ["0,1", "0,2", "1,1"]
    assert (out["sls_pt"], out["sls_tl"], out["sls_td"]) == (2, 3, 4)


def test_default_class_counts_give_the_same_numbers(files, capsys):
    # with 300 nouns the action ids are v*300+n instead of v*3+n: same classes, same numbers
    assert main(["eval", "epic-detection", str(files["labels"]), str(files["submission"]), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    for task, (m_ap, avg) in EXPECTED.items():
        assert out[task]["mAP"] == pytest.approx(m_ap, abs=1e-12)
        assert out[task]["average_mAP"] == pytest.approx(avg, abs=1e-12)


def test_text_output_uses_the_official_names(files, capsys, tmp_path):
    out_file = tmp_path / "m.json"
    assert main(["eval", "epic-detection", str(files["labels"]), str(files["submission"]), "--out", str(out_file)]) == 0
    text = capsys.readouterr().out
    assert "verb_map_at_01: 91.67" in text and "noun_map_at_05: 50.00" in text and "action_map_avg: 76.67" in text
    assert json.loads(out_file.read_text())["action"]["average_mAP"] == pytest.approx(23 / 30)


def test_action_class_comes_from_the_action_string(tmp_path):
    labels = write_labels_csv(tmp_path / "l.csv", [("A_1", "P01", "A", 0.0, 10.0, 1, 1)])
    sub = tmp_path / "s.json"
    sub.write_text(json.dumps(_submission({"A": [_det([0, 10], 0, 0, "1,1", 0.5)]})))
    out = evaluate_epic_detection(load_epic_labels(labels), load_detection_submission(sub))
    assert out["action"]["average_mAP"] == 1.0  # "1,1" matches although verb / noun fields say 0, 0
    assert out["verb"]["average_mAP"] == 0.0 and out["noun"]["average_mAP"] == 0.0


@pytest.mark.parametrize("tie_order, expected", [("stable", 0.5), ("official", 1.0)])
def test_tie_order(tmp_path, tie_order, expected):
    # equal scores: an FP listed before a TP. stable: FP then TP -> AP 1 * .5; official (numpy argsort reversed,
    # a group of <= 16 tied items comes out in reversed input order): TP first -> AP 1.
    labels = write_labels_csv(tmp_path / "l.csv", [("A_1", "P01", "A", 0.0, 10.0, 0, 0)])
    sub = tmp_path / "s.json"
    sub.write_text(json.dumps(_submission({"A": [_det([50, 60], 0, 0, "0,0", 0.5), _det([0, 10], 0, 0, "0,0", 0.5)]})))
    out = evaluate_epic_detection(load_epic_labels(labels), load_detection_submission(sub), tie_order=tie_order)
    assert out["verb"]["mAP"] == pytest.approx([expected] * 5)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"version": "0.1"}, "field 'version': '0.1' is not supported"),
        ({"challenge": "action_recognition"}, "field 'challenge': expected 'action_detection'"),
        ({"sls_td": 7}, "field 'sls_td': expected a supervision level in \\[0, 5\\]"),
        ({"results": []}, "field 'results': expected an object"),
        ({"results": {"A": [_det([0, 1], 97, 0, "0,0", 0.5)]}}, r"results\['A'\]\[0\], field 'verb'"),
        ({"results": {"A": [_det([0, 1], 0, 0, "0;0", 0.5)]}}, "field 'action': expected a 'verb,noun' string"),
        ({"results": {"A": [_det([0, 1], 0, 0, "0,300", 0.5)]}}, "field 'action': '0,300' has"),
        ({"results": {"A": [_det([2, 1], 0, 0, "0,0", 0.5)]}}, "field 'segment': start 2 is after end 1"),
        ({"results": {"A": [_det([0, 1, 2], 0, 0, "0,0", 0.5)]}}, "field 'segment': expected \\[start, end\\]"),
        ({"results": {"A": [_det([0, 1], 0, 0, "0,0", "high")]}}, "field 'score': expected a finite number"),
        ({"results": {"A": [{"verb": 0, "noun": 0, "action": "0,0", "score": 1}]}}, "field 'segment': missing"),
    ],
)
def test_malformed_submission_is_a_one_line_error(files, tmp_path, capsys, change, message):
    doc = _submission(RESULTS)
    doc.update(change)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    assert main(["eval", "epic-detection", str(files["labels"]), str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert re.search(message, err), err


def test_missing_sls_and_not_json(files, tmp_path, capsys):
    doc = _submission(RESULTS)
    del doc["sls_pt"]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    assert main(["eval", "epic-detection", str(files["labels"]), str(bad)]) == 2
    assert "field 'sls_pt': missing" in capsys.readouterr().err
    bad.write_text("{not json")
    assert main(["eval", "epic-detection", str(files["labels"]), str(bad)]) == 2
    assert "invalid JSON" in capsys.readouterr().err


def test_written_submission_reads_back_and_scores(tmp_path):
    from vidstruct.eval.epic.detection import detection_entries, write_detection_submission

    path = write_detection_submission(
        tmp_path / "sub.json",
        {"A": detection_entries([[0.0, 10.0], [22.0, 30.0]], [0.9, 0.8], [0, 1], [1, 1])},
        sls=(1, 2, 3),
    )
    sub = load_detection_submission(path)
    assert sub.sls == {"sls_pt": 1, "sls_tl": 2, "sls_td": 3}
    assert sub.segments.tolist() == [[0.0, 10.0], [22.0, 30.0]] and sub.action_noun.tolist() == [1, 1]
    labels = load_epic_labels(write_labels_csv(tmp_path / "l.csv", GT_ROWS[:2]))
    out = evaluate_epic_detection(labels, sub)
    assert out["action"]["average_mAP"] == 1.0  # both detections hit their segment: tIoU 1 and 0.8
