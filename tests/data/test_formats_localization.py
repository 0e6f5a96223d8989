"""Temporal localization readers (ActivityNet-1.3 / HACS JSON, THUMOS14 per-class files) on fixtures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vidstruct.data.formats import read_activitynet, read_hacs, read_thumos14, taxonomy_leaves
from vidstruct.errors import AnnotationError

TAXONOMY = [
    {"nodeId": 0, "nodeName": "Root", "parentId": None, "parentName": None},
    {"nodeId": 1, "nodeName": "Sports", "parentId": 0, "parentName": "Root"},
    {"nodeId": 2, "nodeName": "Long jump", "parentId": 1, "parentName": "Sports"},
    {"nodeId": 3, "nodeName": "Archery", "parentId": 1, "parentName": "Sports"},
    {"nodeId": 4, "nodeName": "Household", "parentId": 0, "parentName": "Root"},
    {"nodeId": 5, "nodeName": "Vacuuming floor", "parentId": 4, "parentName": "Household"},
]


def _database() -> dict:
    return {
        "vidA": {
            "duration": 82.73,
            "subset": "training",
            "url": "https://www.youtube.com/watch?v=vidA",
            "annotations": [
                {"segment": [3.5, 20.25], "label": "Long jump"},
                {"segment": [40.0, 55.0], "label": "Archery"},
            ],
        },
        "vidB": {"duration": 30.0, "subset": "validation", "annotations": [{"segment": [0, 30], "label": "Archery"}]},
        "vidC": {"duration": 12.5, "subset": "testing", "annotations": []},
    }


def _json(path: Path, data: dict) -> str:
    path.write_text(json.dumps(data, indent=1), encoding="utf-8")
    return str(path)


def test_taxonomy_leaves_sorted() -> None:
    # nodes 2, 3, 5 are nobody's parent: sorted names
    assert taxonomy_leaves(TAXONOMY) == ["Archery", "Long jump", "Vacuuming floor"]


def test_activitynet_videos_segments_and_subset(tmp_path: Path) -> None:
    ann = _json(tmp_path / "activity_net.v1-3.min.json", {"taxonomy": TAXONOMY, "database": _database()})
    videos = read_activitynet(ann, root="/anet", video_template="v_{video_id}.mp4")
    assert [(v.video_id, v.subset, v.duration_s) for v in videos] == [
        ("vidA", "training", 82.73),
        ("vidB", "validation", 30.0),
        ("vidC", "testing", 12.5),
    ]
    a = videos[0]
    # taxonomy leaves sorted: Archery 0, Long jump 1, Vacuuming floor 2
    assert [(s.start_s, s.end_s, s.label, s.label_index) for s in a.segments] == [
        (3.5, 20.25, "Long jump", 1),
        (40.0, 55.0, "Archery", 0),
    ]
    assert a.path == "/anet/v_vidA.mp4" and a.meta["url"].endswith("vidA")
    val = read_activitynet(ann, subset="validation")
    assert [v.video_id for v in val] == ["vidB"] and val[0].path is None


def test_hacs_without_taxonomy_uses_sorted_labels(tmp_path: Path) -> None:
    ann = _json(tmp_path / "HACS_segments_v1.1.1.json", {"database": _database()})
    videos = read_hacs(ann, subset="training")
    # labels found: Archery, Long jump -> indices 0, 1
    assert [(s.label, s.label_index) for s in videos[0].segments] == [("Long jump", 1), ("Archery", 0)]


def test_activitynet_class_file(tmp_path: Path) -> None:
    ann = _json(tmp_path / "a.json", {"taxonomy": TAXONOMY, "database": _database()})
    classes = tmp_path / "classes.txt"
    classes.write_text("Long jump\nArchery\n")
    videos = read_activitynet(ann, classes=str(classes), subset="training")
    assert [s.label_index for s in videos[0].segments] == [0, 1]


A0 = "database['vidA'].annotations[0]"
A1 = "database['vidA'].annotations[1]"
B0 = "database['vidB'].annotations[0]"


@pytest.mark.parametrize(
    ("mutate", "where", "field"),
    [
        (lambda db: db["vidA"]["annotations"][1].update(segment=[55.0, 40.0]), A1, "segment"),
        (lambda db: db["vidA"]["annotations"][0].update(segment=[1.0]), A0, "segment"),
        (lambda db: db["vidB"]["annotations"][0].update(segment=["a", 3]), B0, "segment"),
        (lambda db: db["vidB"]["annotations"][0].update(label="Skiing"), B0, "label"),
        (lambda db: db["vidC"].update(duration="long"), "database['vidC']", "duration"),
        (lambda db: db["vidC"].pop("duration"), "database['vidC']", "duration"),
    ],
)
def test_activitynet_bad_entries(tmp_path: Path, mutate, where: str, field: str) -> None:
    db = _database()
    mutate(db)
    ann = _json(tmp_path / "bad.json", {"taxonomy": TAXONOMY, "database": db})
    with pytest.raises(AnnotationError) as exc:
        read_activitynet(ann)
    msg = str(exc.value)
    assert ann in msg and where in msg and repr(field) in msg, msg


def test_activitynet_not_a_database(tmp_path: Path) -> None:
    with pytest.raises(AnnotationError, match="database"):
        read_activitynet(_json(tmp_path / "x.json", {"videos": []}))


# ---------------------------------------------------------------- THUMOS14


def _thumos(tmp_path: Path) -> Path:
    d = tmp_path / "annotation"
    d.mkdir()
    (d / "BaseballPitch_val.txt").write_text(
        "video_validation_0000051  67.5 75.9\nvideo_validation_0000051 12.0 14.2\nvideo_validation_0000052 1.0 2.0\n"
    )
    (d / "CliffDiving_val.txt").write_text("video_validation_0000052 30.1 33.0\n")
    (d / "Ambiguous_val.txt").write_text("video_validation_0000051 80.0 81.5\n")
    (d / "CliffDiving_test.txt").write_text("video_test_0000004 0.2 1.1\n")
    return d


def test_thumos14_videos_segments_ambiguous(tmp_path: Path) -> None:
    d = _thumos(tmp_path)
    videos = read_thumos14(str(d), split="val", durations={"video_validation_0000051": 171.6})
    assert [(v.video_id, v.duration_s, v.subset) for v in videos] == [
        ("video_validation_0000051", 171.6, "validation"),
        ("video_validation_0000052", -1.0, "validation"),  # no duration given: probe later
    ]
    # classes sorted: BaseballPitch 0, CliffDiving 1; segments sorted by start
    assert [(s.start_s, s.end_s, s.label_index) for s in videos[0].segments] == [(12.0, 14.2, 0), (67.5, 75.9, 0)]
    assert [(s.label, s.label_index) for s in videos[1].segments] == [("BaseballPitch", 0), ("CliffDiving", 1)]
    assert videos[0].meta["ambiguous"] == [(80.0, 81.5)]
    test = read_thumos14(str(d), split="test", root="/thumos")
    assert [(v.video_id, v.path, v.subset) for v in test] == [
        ("video_test_0000004", "/thumos/video_test_0000004.mp4", "test")
    ]


@pytest.mark.parametrize(
    ("text", "field"),
    [("video_validation_0000053 5.0\n", None), ("video_validation_0000053 5.0 x\n", "end"), ("v 9.0 3.0\n", "end")],
)
def test_thumos14_bad_lines(tmp_path: Path, text: str, field: str | None) -> None:
    d = _thumos(tmp_path)
    bad = d / "CliffDiving_val.txt"
    bad.write_text("video_validation_0000052 30.1 33.0\n" + text)
    with pytest.raises(AnnotationError) as exc:
        read_thumos14(str(d))
    msg = str(exc.value)
    assert str(bad) in msg and "line 2" in msg and (field is None or repr(field) in msg), msg
