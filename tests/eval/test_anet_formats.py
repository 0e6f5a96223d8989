"""ActivityNet ground truth / submission reading (bad input) and writing (ANet JSON, THUMOS lines)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from vidstruct.errors import AnnotationError
from vidstruct.eval.temporal import (
    load_blocked,
    load_ground_truth,
    load_submission,
    submission_entries,
    write_anet_submission,
    write_thumos_detections,
)


def _gt_file(tmp_path, database, name="gt.json"):
    p = tmp_path / name
    p.write_text(json.dumps({"version": "1.3", "taxonomy": [], "database": database}))
    return p


def _sub_file(tmp_path, results, name="pred.json"):
    p = tmp_path / name
    p.write_text(json.dumps({"version": "VERSION 1.3", "results": results, "external_data": {}}))
    return p


def _video(anns, subset="validation", duration=30.0):
    return {"subset": subset, "duration": duration, "annotations": anns}


def test_ground_truth_subset_classes_and_order(tmp_path):
    p = _gt_file(
        tmp_path,
        {
            "a": _video([{"segment": [1, 2], "label": "Zeta"}, {"segment": [3, 4], "label": "Alpha"}]),
            "b": _video([{"segment": [0, 5], "label": "Other"}], subset="training"),
            "c": _video([]),  # a video without annotations still belongs to the subset
            "d": _video([{"segment": [0, 0], "label": "Alpha"}]),  # zero-length segments exist in ActivityNet
        },
    )
    gt = load_ground_truth(p)
    assert gt.video_ids == ("a", "c", "d")
    assert gt.class_names == ("Zeta", "Alpha")  # first appearance, like the toolkit's activity_index
    assert gt.labels.tolist() == [0, 1, 1]
    assert gt.video.tolist() == [0, 0, 2]
    np.testing.assert_array_equal(gt.segments, [[1, 2], [3, 4], [0, 0]])
    assert load_ground_truth(p, subset="training").class_names == ("Other",)
    assert load_ground_truth(p, subset=None).video_ids == ("a", "b", "c", "d")


@pytest.mark.parametrize(
    ("database", "message"),
    [
        (
            {"v1": _video([{"segment": [5, 2], "label": "A"}])},
            r"database\['v1'\]\.annotations\[0\], field 'segment': start 5.0 is after end 2.0",
        ),
        (
            {"v1": _video([{"segment": [5], "label": "A"}])},
            r"database\['v1'\]\.annotations\[0\], field 'segment': expected \[start, end\]",
        ),
        ({"v1": _video([{"segment": ["1", 2], "label": "A"}])}, r"field 'segment': expected two numbers"),
        (
            {"v1": _video([{"segment": [20, 40], "label": "A"}])},
            r"field 'segment': \[20.0, 40.0\] lies outside the video \(duration 30.0",
        ),
        (
            {"v1": _video([{"segment": [1, 2]}])},
            r"database\['v1'\]\.annotations\[0\], field 'label': expected a class name",
        ),
        ({"v1": {"duration": 3, "annotations": []}}, r"database\['v1'\], field 'subset'"),
        ({"v1": {"subset": "validation"}}, r"database\['v1'\], field 'annotations': expected a list"),
        ({"v1": _video([], duration="long")}, r"database\['v1'\], field 'duration'"),
        (
            {"v1": _video([], subset="training")},
            r"no videos of subset 'validation' \(subsets in the file: 'training'\)",
        ),
    ],
)
def test_bad_ground_truth(tmp_path, database, message):
    p = _gt_file(tmp_path, database)
    with pytest.raises(AnnotationError, match=message) as info:
        load_ground_truth(p)
    assert str(p) in str(info.value)


def test_ground_truth_duration_tolerance(tmp_path):
    # 30.5 s end on a 30 s video: within the default 1 s tolerance; 0 s tolerance rejects it; inf disables
    p = _gt_file(tmp_path, {"v1": _video([{"segment": [20, 30.5], "label": "A"}])})
    assert load_ground_truth(p).segments.tolist() == [[20, 30.5]]
    with pytest.raises(AnnotationError, match="tolerance 0.0 s"):
        load_ground_truth(p, duration_tolerance=0.0)
    far = _gt_file(tmp_path, {"v1": _video([{"segment": [20, 90], "label": "A"}])}, "far.json")
    assert load_ground_truth(far, duration_tolerance=math.inf).segments.tolist() == [[20, 90]]


def test_malformed_files(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"database": {')
    with pytest.raises(AnnotationError, match=r"bad.json: not valid JSON"):
        load_ground_truth(bad)
    with pytest.raises(AnnotationError, match=r"missing.json: ground truth file not found"):
        load_ground_truth(tmp_path / "missing.json")
    nodb = tmp_path / "nodb.json"
    nodb.write_text('{"results": {}}')
    with pytest.raises(AnnotationError, match=r"nodb.json: expected a JSON object with a 'database'"):
        load_ground_truth(nodb)
    with pytest.raises(AnnotationError, match=r"nodb.json: expected a JSON object with a 'results'"):
        load_submission(_gt_file(tmp_path, {}, "nodb.json"), require_label=True)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"segment": [1, 2], "label": "A"}, r"results\['v1'\]\[1\], field 'score': missing"),
        (
            {"segment": [1, 2], "score": "0.5", "label": "A"},
            r"results\['v1'\]\[1\], field 'score': expected a finite number, got '0.5'",
        ),
        ({"segment": [1, 2], "score": True, "label": "A"}, r"field 'score': expected a finite number, got True"),
        ({"segment": [1, 2], "score": float("nan"), "label": "A"}, r"field 'score': expected a finite number, got nan"),
        (
            {"segment": [3, 2], "score": 0.5, "label": "A"},
            r"results\['v1'\]\[1\], field 'segment': start 3.0 is after end 2.0",
        ),
        ({"segment": [1, 2, 3], "score": 0.5, "label": "A"}, r"field 'segment': expected \[start, end\]"),
        ({"segment": [1, None], "score": 0.5, "label": "A"}, r"field 'segment': expected two numbers"),
        ({"segment": [1, 2], "score": 0.5}, r"results\['v1'\]\[1\], field 'label': missing"),
        ({"segment": [1, 2], "score": 0.5, "label": 3}, r"field 'label': expected a class name string, got 3"),
        ("oops", r"results\['v1'\]\[1\]: expected an object"),
    ],
)
def test_bad_detection_entries(tmp_path, entry, message):
    p = _sub_file(
        tmp_path,
        {
            "v0": [{"segment": [0, 1], "score": 0.1, "label": "A"}],
            "v1": [{"segment": [0, 1], "score": 0.2, "label": "A"}, entry],
        },
    )
    with pytest.raises(AnnotationError, match=message) as info:
        load_submission(p, require_label=True)
    assert str(p) in str(info.value)


def test_results_must_be_lists(tmp_path):
    p = _sub_file(tmp_path, {"v1": {"segment": [1, 2]}})
    with pytest.raises(AnnotationError, match=r"results\['v1'\]: expected a list of predictions"):
        load_submission(p, require_label=False)


def test_proposals_need_no_label_and_predictions_are_not_clipped(tmp_path):
    # segments past any duration are kept as given (the toolkit never reads durations)
    p = _sub_file(
        tmp_path, {"v1": [{"segment": [-3, 5000], "score": 1}, {"segment": [1, 2], "score": 0.5, "label": 7}]}
    )
    sub = load_submission(p, require_label=False)
    assert sub.segments.tolist() == [[-3, 5000], [1, 2]]
    assert sub.scores.dtype == np.float64 and sub.labels.tolist() == [-1, -1]


def test_in_memory_submission_accepts_numpy_numbers():
    seg = np.array([[1.0, 2.0], [3.0, 4.5]], dtype=np.float32)
    results = {"v": [{"segment": seg[i], "score": np.float64(0.5 - i / 10), "label": np.str_("A")} for i in range(2)]}
    sub = load_submission({"results": results}, require_label=True)
    assert sub.segments.tolist() == [[1.0, 2.0], [3.0, 4.5]] and sub.scores.tolist() == [0.5, 0.4]
    assert sub.label_names == ("A",) and type(sub.label_names[0]) is str
    with pytest.raises(AnnotationError, match=r"<submission>, results\['v'\]\[0\], field 'score'"):
        load_submission({"results": {"v": [{"segment": [0, 1], "score": np.bool_(True)}]}}, require_label=False)


def test_blocked_file_json_or_lines(tmp_path):
    j = tmp_path / "blocked.json"
    j.write_text('["a", "b"]')
    t = tmp_path / "blocked.txt"
    t.write_text("a\n\n b \n")
    assert load_blocked(j) == {"a", "b"} and load_blocked(t) == {"a", "b"} and load_blocked(None) == frozenset()
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    with pytest.raises(AnnotationError, match="list of video id strings"):
        load_blocked(bad)


def test_write_anet_submission_roundtrip(tmp_path):
    entries = submission_entries(
        np.array([[1.0, 2.5], [3.0, 9.0]], dtype=np.float32), np.array([0.75, 0.5]), ["A", "B"]
    )
    assert entries[0] == {"segment": [1.0, 2.5], "score": 0.75, "label": "A"}
    path = tmp_path / "sub.json"
    write_anet_submission(path, {"v1": entries, "v2": submission_entries([[0, 1]], [0.25])})
    doc = json.loads(path.read_text())
    assert doc["version"] == "VERSION 1.3" and "external_data" in doc
    assert doc["results"]["v2"] == [{"segment": [0.0, 1.0], "score": 0.25}]
    sub = load_submission(path, require_label=False)
    assert sub.video_ids == ("v1", "v2") and sub.scores.tolist() == [0.75, 0.5, 0.25]
    with pytest.raises(TypeError):  # not JSON-serializable: the file written before stays as it was
        write_anet_submission(path, {"v1": [{"segment": [0, 1], "score": object()}]})
    assert json.loads(path.read_text()) == doc and [p.name for p in tmp_path.iterdir()] == ["sub.json"]
    with pytest.raises(AnnotationError, match="2 segments, 1 scores"):
        submission_entries([[0, 1], [1, 2]], [0.5])


def test_write_thumos_detections(tmp_path):
    path = tmp_path / "thumos.txt"
    results = {
        "video_test_0000004": [{"segment": [0.2, 1.25], "score": 0.875, "label": "BaseballPitch"}],
        "video_test_0000006": [{"segment": [10, 20.5], "score": 0.5, "label": "CliffDiving"}],
    }
    write_thumos_detections(path, results, {"BaseballPitch": 7, "CliffDiving": 22})
    assert path.read_text().splitlines() == [
        "video_test_0000004 0.200 1.250 7 0.875",
        "video_test_0000006 10.000 20.500 22 0.5",
    ]
    before = path.read_text()
    with pytest.raises(AnnotationError, match="no class index for 'CliffDiving'"):
        write_thumos_detections(path, results, {"BaseballPitch": 7})
    assert path.read_text() == before  # a failed write leaves the old file whole
    assert [p.name for p in tmp_path.iterdir()] == ["thumos.txt"]  # and no temporary file
