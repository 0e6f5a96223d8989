"""AVA v2.2 readers: box CSV, pbtxt label map, excluded timestamps, person proposals, grouping helpers."""

from __future__ import annotations

from pathlib import Path

import pytest

from vidstruct.data.formats import (
    group_by_keyframe,
    merge_boxes,
    read_ava,
    read_ava_excluded,
    read_ava_label_map,
    read_ava_proposals,
)
from vidstruct.errors import AnnotationError

LABEL_MAP = """item {
  name: "bend/bow (at the waist)"
  id: 1
  label_type: PERSON_MOVEMENT
}
item {
  name: "carry/hold (an object)"
  id: 14
  label_type: OBJECT_MANIPULATION
}
item { name: "watch (a person)" id: 80 label_type: PERSON_INTERACTION }
"""

GT = """-5KQ66BBWC4,0902,0.077,0.151,0.283,0.811,80,1
-5KQ66BBWC4,0902,0.077,0.151,0.283,0.811,14,1
-5KQ66BBWC4,0902,0.332,0.194,0.481,0.891,1,0
-5KQ66BBWC4,0903,0.100,0.100,0.500,0.900,14,1
"""


def _write(path: Path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_label_map_both_spellings(tmp_path: Path) -> None:
    labels = read_ava_label_map(_write(tmp_path / "ava_action_list_v2.2.pbtxt", LABEL_MAP))
    assert sorted(labels) == [1, 14, 80]
    assert labels[1].name == "bend/bow (at the waist)" and labels[1].label_type == "PERSON_MOVEMENT"
    assert labels[80].name == "watch (a person)"
    sixty = 'label {\n  name: "stand"\n  label_id: 12\n  label_type: PERSON_MOVEMENT\n}\n'
    assert read_ava_label_map(_write(tmp_path / "60.pbtxt", sixty))[12].name == "stand"


def test_label_map_duplicate_id_names_line(tmp_path: Path) -> None:
    path = _write(tmp_path / "bad.pbtxt", LABEL_MAP + 'item {\n  name: "again"\n  id: 14\n}\n')
    with pytest.raises(AnnotationError) as exc:
        read_ava_label_map(path)
    # LABEL_MAP has 11 lines; the new item opens on line 12 and its "id: 14" is on line 14
    assert path in str(exc.value) and "line 14" in str(exc.value) and "'id'" in str(exc.value)


def test_ground_truth_rows_and_grouping(tmp_path: Path) -> None:
    labels = read_ava_label_map(_write(tmp_path / "map.pbtxt", LABEL_MAP))
    rows = read_ava(_write(tmp_path / "ava_val_v2.2.csv", GT), label_map=labels)
    assert len(rows) == 4
    r = rows[0]
    assert (r.video_id, r.timestamp_s, r.box, r.action_id, r.person_id) == (
        "-5KQ66BBWC4",
        902.0,
        (0.077, 0.151, 0.283, 0.811),
        80,
        1,
    )
    groups = group_by_keyframe(rows)
    assert list(groups) == [("-5KQ66BBWC4", 902.0), ("-5KQ66BBWC4", 903.0)]
    assert [len(v) for v in groups.values()] == [3, 1]
    merged = merge_boxes(rows)[("-5KQ66BBWC4", 902.0)]
    # rows 1 and 2 share box and person 1 -> one box with actions (14, 80)
    assert [(b.box, b.action_ids, b.person_id) for b in merged] == [
        ((0.077, 0.151, 0.283, 0.811), (14, 80), 1),
        ((0.332, 0.194, 0.481, 0.891), (1,), 0),
    ]


@pytest.mark.parametrize(
    ("row", "field"),
    [
        ("vid,0902,0.5,0.1,0.4,0.8,1,0", "x2"),  # x1 > x2
        ("vid,0902,0.1,0.6,0.4,0.5,1,0", "y2"),  # y1 > y2
        ("vid,0902,0.1,0.1,1.2,0.8,1,0", "x2"),  # outside [0, 1]
        ("vid,0902,0.1,-0.1,0.4,0.8,1,0", "y1"),
        ("vid,09a2,0.1,0.1,0.4,0.8,1,0", "timestamp"),
        ("vid,0902,0.1,0.1,0.4,0.8,run,0", "action_id"),
        ("vid,0902,0.1,0.1,0.4,0.8,2,0", "action_id"),  # not in the label map
        ("vid,0902,0.1,0.1,0.4", None),  # 5 columns
    ],
)
def test_ground_truth_bad_rows(tmp_path: Path, row: str, field: str | None) -> None:
    labels = read_ava_label_map(_write(tmp_path / "map.pbtxt", LABEL_MAP))
    path = _write(tmp_path / "bad.csv", "vid,0902,0.1,0.1,0.4,0.8,1,0\n" + row + "\n")
    with pytest.raises(AnnotationError) as exc:
        read_ava(path, label_map=labels)
    msg = str(exc.value)
    assert path in msg and "line 2" in msg and (field is None or repr(field) in msg), msg


def test_unknown_actions_can_be_dropped(tmp_path: Path) -> None:
    labels = read_ava_label_map(_write(tmp_path / "map.pbtxt", LABEL_MAP))
    path = _write(tmp_path / "gt.csv", "vid,0902,0.1,0.1,0.4,0.8,1,0\nvid,0902,0.1,0.1,0.4,0.8,2,0\n")
    assert [r.action_id for r in read_ava(path, label_map=labels, unknown_actions="drop")] == [1]


def test_excluded_timestamps(tmp_path: Path) -> None:
    path = _write(tmp_path / "ava_val_excluded_timestamps_v2.2.csv", "-5KQ66BBWC4,0902\n1j20qq1JyX4,1755\n")
    assert read_ava_excluded(path) == {("-5KQ66BBWC4", 902.0), ("1j20qq1JyX4", 1755.0)}
    bad = _write(tmp_path / "bad.csv", "-5KQ66BBWC4,0902\n1j20qq1JyX4\n")
    with pytest.raises(AnnotationError, match="line 2"):
        read_ava_excluded(bad)


def test_person_proposals_with_scores(tmp_path: Path) -> None:
    text = (
        "-5KQ66BBWC4,0902,0.1,0.1,0.5,0.9,,0.95\n"
        "-5KQ66BBWC4,0902,0.6,0.2,0.9,0.8,,0.40\n"
        "x,0903,0.0,0.0,1.0,1.0,12,0.7\n"
    )
    path = _write(tmp_path / "ava_dense_proposals_val.csv", text)
    props = read_ava_proposals(path)
    assert [(p.action_id, p.score) for p in props] == [(-1, 0.95), (-1, 0.40), (12, 0.7)]
    assert [p.score for p in read_ava_proposals(path, min_score=0.5)] == [0.95, 0.7]
    bad = _write(tmp_path / "bad.csv", text + "x,0904,0.0,0.0,1.0,1.0,,high\n")
    with pytest.raises(AnnotationError) as exc:
        read_ava_proposals(bad)
    assert "line 4" in str(exc.value) and "'score'" in str(exc.value)
