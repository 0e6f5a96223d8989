"""Strict AVA input checks: one-line errors naming file, line and field; proposals pickles; AVA-Kinetics rows."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from vidstruct.data.formats.ava import read_ava, read_ava_label_map, read_ava_proposals, read_ava_proposals_pickle
from vidstruct.errors import AnnotationError
from vidstruct.eval.spatiotemporal import evaluate_ava_files

LABEL_MAP = 'item {\n  name: "stand"\n  id: 1\n}\nitem {\n  name: "sit"\n  id: 2\n}\n'
GOOD_GT = "v,0902,0.1,0.1,0.5,0.5,1,0\n"
GOOD_DET = "v,0902,0.1,0.1,0.5,0.5,1,0.9\n"


def _files(tmp_path: Path, gt: str, det: str) -> tuple[Path, Path, Path]:
    paths = (tmp_path / "gt.csv", tmp_path / "det.csv", tmp_path / "map.pbtxt")
    for p, text in zip(paths, (gt, det, LABEL_MAP)):
        p.write_text(text)
    return paths


@pytest.mark.parametrize(
    ("row", "field", "says"),
    [
        ("v,0902,0.1,0.1,0.5", None, "expected 2 or 7 or 8 columns"),
        ("v,0902,0.1,0.1,0.5,0.5,1,0,9", None, "got 9"),
        ("v,0902,0.1,abc,0.5,0.5,1,0", "y1", "expected a number"),
        ("v,09x2,0.1,0.1,0.5,0.5,1,0", "timestamp", "expected a number"),
        ("v,0902,0.5,0.1,0.5,0.5,1,0", "x2", "x1 < x2"),  # zero width
        ("v,0902,0.1,0.6,0.5,0.5,1,0", "y2", "y1 < y2"),
        ("v,0902,0.1,0.1,1.001,0.5,1,0", "x2", "outside [0, 1]"),  # ground truth: no tolerance
        ("v,0902,-0.001,0.1,0.5,0.5,1,0", "x1", "outside [0, 1]"),
        ("v,0902,0.1,0.1,0.5,0.5,7,0", "action_id", "not in the label map"),
        ("v,0902,0.1,0.1,0.5,0.5,1.5,0", "action_id", "expected an integer"),
        ("v,0902,nan,0.1,0.5,0.5,1,0", "x1", "finite"),
    ],
)
def test_bad_ground_truth_row(tmp_path: Path, row: str, field: str | None, says: str) -> None:
    gt, det, lm = _files(tmp_path, GOOD_GT + row + "\n", GOOD_DET)
    with pytest.raises(AnnotationError) as exc:
        evaluate_ava_files(gt, det, lm)
    msg = str(exc.value)
    assert "\n" not in msg and msg.startswith(f"{gt}, line 2"), msg
    assert (field is None or f"field {field!r}" in msg) and says in msg, msg


@pytest.mark.parametrize(
    ("row", "field", "says"),
    [
        ("v,0902,0.1,0.1,0.5", None, "expected 7 or 8 columns"),
        ("v,0902,0.1,0.1,0.5,0.5,1,high", "score", "expected a number"),
        ("v,0902,0.1,0.1,0.5,0.5,run,0.5", "action_id", "expected an integer"),
        ("v,0902,0.1,0.1,0.1,0.5,1,0.5", "x2", "x1 < x2"),
        ("v,0902,0.1,0.1,1.02,0.5,1,0.5", "x2", "outside [-0.01, 1.01]"),
        ("v,0902,320,0.1,0.5,0.5,1,0.5", "x1", "outside"),  # pixel coordinates
        ("v,t902,0.1,0.1,0.5,0.5,1,0.5", "timestamp", "expected a number"),
        (",0902,0.1,0.1,0.5,0.5,1,0.5", "video_id", "empty video id"),
    ],
)
def test_bad_detection_row(tmp_path: Path, row: str, field: str | None, says: str) -> None:
    gt, det, lm = _files(tmp_path, GOOD_GT, GOOD_DET + row + "\n")
    with pytest.raises(AnnotationError) as exc:
        evaluate_ava_files(gt, det, lm)
    msg = str(exc.value)
    assert "\n" not in msg and msg.startswith(f"{det}, line 2"), msg
    assert (field is None or f"field {field!r}" in msg) and says in msg, msg


def test_detection_leniencies_of_the_official_tool(tmp_path: Path) -> None:
    # an unknown class is ignored (counted), a box may overshoot [0, 1] by up to 0.01 and is used unclipped,
    # a row without a score scores 1.0, any finite score ranks (here 3.5 > 1.0)
    det_text = (
        "v,0902,0.1,0.1,0.5,0.5,9,0.99\n"  # class 9 is not in the label map
        "v,0902,0.6,0.6,1.005,0.9,1,3.5\n"  # a miss, scored highest
        "v,0902,0.1,0.1,0.5,0.5,1\n"  # a hit, score 1.0
    )
    gt, det, lm = _files(tmp_path, GOOD_GT, det_text)
    r = evaluate_ava_files(gt, det, lm)
    # FP (3.5), TP (1.0) over 1 ground truth: precision 0, 1/2; recall 0, 1 -> AP 1/2
    assert r.mAP == pytest.approx(0.5, abs=1e-12) and r.num_detections_ignored == 1 and r.num_detections == 2


def test_quoted_file_takes_the_row_by_row_path_with_the_same_numbers(tmp_path: Path) -> None:
    plain = "v,0902,0.1,0.1,0.5,0.5,1,0.9\nv,0902,0.6,0.6,0.9,0.9,1,0.95\n"
    quoted = '"v",0902,0.1,0.1,0.5,0.5,1,0.9\n\n"v",0902,0.6,0.6,0.9,0.9,1,0.95\n'
    gt, det, lm = _files(tmp_path, GOOD_GT + "w,0903,0.2,0.2,0.4,0.4,2,1\n", plain)
    fast = evaluate_ava_files(gt, det, lm)
    det.write_text(quoted)
    slow = evaluate_ava_files(gt, det, lm)
    # stand: FP 0.95, TP 0.9 over 1 -> 1/2; sit: no detection -> 0; mAP 1/4
    assert fast.mAP == slow.mAP == pytest.approx(0.25, abs=1e-12)
    assert fast.per_class_AP == slow.per_class_AP


def test_ava_kinetics_ground_truth(tmp_path: Path) -> None:
    # kinetics_val_v1.0.csv style: 7 columns (no person id), and keyframes listed without any person
    gt_text = "k1abc,16,0.1,0.1,0.5,0.5,1\nk1abc,16,0.1,0.1,0.5,0.5,2\nk2xyz,4\nk3pqr,7,,,,,,\n"
    det_text = "k1abc,16,0.1,0.1,0.5,0.5,1,0.8\nk2xyz,4,0.1,0.1,0.5,0.5,1,0.9\nk1abc,16,0.1,0.1,0.5,0.5,2,0.3\n"
    gt, det, lm = _files(tmp_path, gt_text, det_text)
    rows = read_ava(str(gt), label_map=read_ava_label_map(str(lm)))
    assert [(r.video_id, r.timestamp_s, r.action_id, r.person_id) for r in rows] == [
        ("k1abc", 16.0, 1, -1),
        ("k1abc", 16.0, 2, -1),
    ]
    r = evaluate_ava_files(gt, det, lm)
    # stand: FP (0.9, on k2xyz which has no person) then TP (0.8): AP 1/2; sit: TP: 1 -> mAP 3/4
    assert r.per_class_AP == {"stand": pytest.approx(0.5), "sit": 1.0} and r.num_keyframes == 1
    assert r.mAP == pytest.approx(0.75, abs=1e-12)


def test_ground_truth_duplicates_are_kept_for_evaluation_but_refused_by_default(tmp_path: Path) -> None:
    gt, det, lm = _files(tmp_path, GOOD_GT * 2, GOOD_DET)
    with pytest.raises(AnnotationError, match="line 2.*duplicate row"):
        read_ava(str(gt))
    # the official evaluation counts both rows: one TP over 2 ground truth -> AP 1/2
    assert evaluate_ava_files(gt, det, lm).mAP == pytest.approx(0.5, abs=1e-12)


def _pickle(path: Path, obj: object) -> str:
    path.write_bytes(pickle.dumps(obj, protocol=4))
    return str(path)


def test_proposals_pickle(tmp_path: Path) -> None:
    props = {
        "-5KQ66BBWC4,0902": np.array([[0.1, 0.2, 0.5, 0.9, 0.95], [0.6, 0.1, 0.9, 0.8, 0.3]], dtype=np.float32),
        "-5KQ66BBWC4,0903": np.zeros((0, 5)),
        "abc,1": np.array([[0.0, 0.0, 1.0, 1.0]]),  # no score column: 1.0
    }
    path = _pickle(tmp_path / "ava_dense_proposals_val.FAIR.recall_93.9.pkl", props)
    rows = read_ava_proposals(path)  # dispatches on the suffix
    assert [(r.video_id, r.timestamp_s, r.action_id) for r in rows] == [
        ("-5KQ66BBWC4", 902.0, -1),
        ("-5KQ66BBWC4", 902.0, -1),
        ("abc", 1.0, -1),
    ]
    assert rows[0].box == pytest.approx((0.1, 0.2, 0.5, 0.9)) and rows[0].score == pytest.approx(0.95)
    assert rows[2].score == 1.0
    assert [r.score for r in read_ava_proposals_pickle(path, min_score=0.5)] == [pytest.approx(0.95), 1.0]


@pytest.mark.parametrize(
    ("obj", "says"),
    [
        ([1, 2], "expected a dict"),
        ({"novideo": np.zeros((1, 5))}, "key 'novideo'"),
        ({"v,0902": np.zeros((2, 3))}, "expected an array [N, 5]"),
        ({"v,0902": np.array([[0.1, 0.1, 0.5, 0.5, 0.9], [0.5, 0.1, 0.4, 0.5, 0.9]])}, "row 1, field 'x2'"),
        ({"v,0902": np.array([[10.0, 20.0, 300.0, 400.0, 0.9]])}, "row 0, field 'x1'"),  # pixels
        ({"v,0902": np.array([[0.1, 0.1, 0.5, 0.5, 1.5]])}, "field 'score'"),
    ],
)
def test_bad_proposals_pickle(tmp_path: Path, obj: object, says: str) -> None:
    path = _pickle(tmp_path / "props.pkl", obj)
    with pytest.raises(AnnotationError) as exc:
        read_ava_proposals(path)
    assert str(exc.value).startswith(path) and says in str(exc.value), str(exc.value)


class _NotData:  # pickled by reference: a global the restricted unpickler must refuse
    pass


def test_proposals_pickle_refuses_code(tmp_path: Path) -> None:
    path = _pickle(tmp_path / "evil.pkl", {"v,0902": _NotData()})
    with pytest.raises(AnnotationError, match="refused to load global"):
        read_ava_proposals(path)


def test_fast_reader_takes_ids_of_any_length_bom_crlf_and_blank_lines(tmp_path: Path) -> None:
    # video ids that are prefixes of each other, longer than 8 bytes, non-ASCII; a BOM, CRLF, blank lines
    ids = ["a", "ab", "abcdefgh", "abcdefghi", "-5KQ66BBWC4", "vidéo_ü", "a_very_long_video_identifier_0001"]
    gt_rows = [f"{v},0902,0.1,0.1,0.5,0.5,1,0" for v in ids]
    det_rows = [f"{v},0902,0.1,0.1,0.5,0.5,1,0.{i + 1}" for i, v in enumerate(ids[::2])]  # every other id found
    gt, det, lm = _files(tmp_path, "", "")
    gt.write_bytes(b"\xef\xbb\xbf" + "\r\n".join(gt_rows).encode() + b"\r\n\r\n")
    det.write_bytes(("\n\n".join(det_rows) + "\n").encode())
    r = evaluate_ava_files(gt, det, lm)
    # 4 of 7 boxes found, each a TP, no FP: precision 1 throughout, recall 4/7 -> AP = 4/7
    assert r.mAP == pytest.approx(4 / 7, abs=1e-12) and r.num_keyframes == 7


def test_in_memory_rows_are_checked() -> None:
    from vidstruct.data.records import BoxAnnotation
    from vidstruct.eval.spatiotemporal import evaluate_ava

    truth = [BoxAnnotation("v", 902.0, (0.1, 0.1, 0.5, 0.5), 1, 0)]
    pixels = [BoxAnnotation("v", 902.0, (10.0, 10.0, 50.0, 50.0), 1, -1, 0.9)]
    with pytest.raises(AnnotationError, match=r"detections\[0\]: expected .* inside \[-0.01, 1.01\]"):
        evaluate_ava(truth, pixels, {1: "stand"})
    with pytest.raises(AnnotationError, match=r"ground truth\[0\]: expected .* x1 < x2"):
        evaluate_ava([BoxAnnotation("v", 902.0, (0.5, 0.1, 0.5, 0.5), 1, 0)], [], {1: "stand"})
    # a degenerate detection (a detector may output one) is dropped after the cap, as officially: here a
    # zero-width box scored 0.95 would otherwise be a FP ranked first; left: one TP over one box -> AP 1
    dets = [
        BoxAnnotation("v", 902.0, (0.5, 0.1, 0.5, 0.5), 1, -1, 0.95),
        BoxAnnotation("v", 902.0, (0.1, 0.1, 0.5, 0.5), 1, -1, 0.9),
    ]
    r = evaluate_ava(truth, dets, {1: "stand"})
    assert r.mAP == 1.0 and r.num_detections_degenerate == 1 and r.num_detections == 1
    with pytest.raises(AnnotationError, match=r"ground truth\[0\], field 'action_id': action id 1 is not"):
        evaluate_ava(truth, [], {2: "sit"})


@pytest.mark.parametrize(
    ("reader", "row", "field"),
    [
        (read_ava, "v,0902,0.4,0.1,0.4,0.8,1,0", "x2"),  # zero width: x1 == x2
        (read_ava, "v,0902,0.1,0.8,0.4,0.8,1,0", "y2"),  # zero height
        (read_ava_proposals, "v,0902,0.4,0.1,0.4,0.8,,0.9", "x2"),
        (read_ava_proposals, "v,0902,0.1,0.1,1.2,0.8,,0.9", "x2"),
        (read_ava_proposals, "v,09:02,0.1,0.1,0.4,0.8,,0.9", "timestamp"),
    ],
)
def test_data_readers_reject_degenerate_and_outside_boxes(tmp_path: Path, reader, row: str, field: str) -> None:
    path = tmp_path / "rows.csv"
    path.write_text(row + "\n")
    with pytest.raises(AnnotationError) as exc:
        reader(str(path))
    assert str(exc.value).startswith(f"{path}, line 1, field {field!r}"), str(exc.value)
