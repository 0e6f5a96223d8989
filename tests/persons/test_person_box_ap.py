"""Box AP@0.5 of a person-box source (AVA frame-mAP with one class), on hand-computed cases."""

from __future__ import annotations

from pathlib import Path

import pytest

from vidstruct.errors import AnnotationError
from vidstruct.pipeline.persons import person_box_source
from vidstruct.pipeline.persons.evaluate import evaluate_person_boxes, person_ground_truth

# ground truth: keyframe 1 of clipA holds persons 0 and 1 (person 0 has two action rows: one box); keyframe 2 one
GT = """clipA,0001,0.10,0.10,0.30,0.50,3,0
clipA,0001,0.10,0.10,0.30,0.50,5,0
clipA,0001,0.60,0.20,0.90,0.80,2,1
clipA,0002,0.20,0.20,0.40,0.60,3,0
"""


def _setup(tmp_path: Path, proposals: str) -> tuple[Path, Path]:
    (tmp_path / "videos").mkdir()
    (tmp_path / "videos" / "clipA.mp4").write_bytes(b"")  # a proposals source never opens the video
    gt = tmp_path / "gt.csv"
    gt.write_text(GT, encoding="utf-8")
    props = tmp_path / "props.csv"
    props.write_text(proposals, encoding="utf-8")
    return gt, props


def test_ground_truth_rows_are_one_per_person(tmp_path: Path) -> None:
    gt, _ = _setup(tmp_path, "")
    rows = person_ground_truth(gt)
    assert [(r.timestamp_s, r.person_id, r.action_id) for r in rows] == [(1.0, 0, 1), (1.0, 1, 1), (2.0, 0, 1)]


def test_box_ap_by_hand(tmp_path: Path) -> None:
    # scores 0.9: person 0 at keyframe 1, exact (TP); 0.8: far from everyone (FP); 0.7: person 0 at keyframe 2,
    # IoU = (0.2 x 0.36) / (0.2 x 0.4 + 0.2 x 0.36 - 0.2 x 0.36) = 0.9 (TP); 0.6: overlaps person 1 by 0.15 x 0.6,
    # IoU = 0.09 / (0.25 x 0.6 + 0.3 x 0.6 - 0.09) = 0.375 < 0.5 (FP). Person 1 is never found.
    # Ranked: TP, FP, TP, FP -> precision 1, 1/2, 2/3, 2/4 at recall 1/3, 1/3, 2/3, 2/3.
    # VOC AP (precision made monotone from the right): 1/3 x 1 + 1/3 x 2/3 = 5/9.
    gt, props = _setup(
        tmp_path,
        "clipA,0001,0.10,0.10,0.30,0.50,,0.9\n"
        "clipA,0001,0.40,0.85,0.50,0.95,,0.8\n"
        "clipA,0002,0.20,0.20,0.40,0.56,,0.7\n"
        "clipA,0001,0.75,0.20,1.00,0.80,,0.6\n",
    )
    result = evaluate_person_boxes(person_box_source(proposals=props, min_score=0.0), gt)
    assert result.num_keyframes == 2 and result.num_ground_truth == 3 and result.num_detections == 4
    assert result.per_class_AP == {"person": pytest.approx(5 / 9)}
    assert result.mAP == pytest.approx(5 / 9)
    # min_score 0.65 leaves the 0.9, 0.8 and 0.7 boxes: TP, FP, TP -> 1/3 x 1 + 1/3 x 2/3 = 5/9 as well
    assert evaluate_person_boxes(person_box_source(proposals=props, min_score=0.65), gt).mAP == pytest.approx(5 / 9)
    # min_score 0.85: only the exact box: recall 1/3 at precision 1 -> AP 1/3
    assert evaluate_person_boxes(person_box_source(proposals=props, min_score=0.85), gt).mAP == pytest.approx(1 / 3)


def test_missing_video_is_an_error(tmp_path: Path) -> None:
    gt, props = _setup(tmp_path, "clipA,0001,0.10,0.10,0.30,0.50,,0.9\n")
    with pytest.raises(AnnotationError, match=r"gt\.csv: video 'clipA' not found"):
        evaluate_person_boxes(person_box_source(proposals=props), gt, tmp_path / "elsewhere")
