"""Recognition annotation readers on small fixture files (Kinetics, SSv2, UCF101, HMDB51, EPIC-Kitchens-100)."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import pytest

import vidstruct.data.formats  # noqa: F401  (registers the readers)
from vidstruct.data.formats import (
    parse_timestamp,
    read_epic_classes,
    read_epic_kitchens,
    read_hmdb51,
    read_kinetics_csv,
    read_ssv2,
    read_ucf101,
    read_video_list,
)
from vidstruct.errors import AnnotationError, ConfigError
from vidstruct.registry import DATASETS


def _write(path: Path, text: str) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return str(path)


def _error_at(exc: pytest.ExceptionInfo[AnnotationError], file: str, where: str, field: str | None = None) -> None:
    msg = str(exc.value)
    assert file in msg and where in msg, msg
    if field:
        assert repr(field) in msg, msg


# ---------------------------------------------------------------- Kinetics list


def test_kinetics_list_paths_and_labels(tmp_path: Path) -> None:
    ann = _write(tmp_path / "lists" / "train.txt", "a/vid1.mp4 0\n/abs/vid2.mp4 2\n\nb/vid3.mp4 1\n")
    recs = read_video_list(annotations=ann, root="/data/k400")
    assert [(r.path, r.label) for r in recs] == [
        ("/data/k400/a/vid1.mp4", 0),
        ("/abs/vid2.mp4", 2),
        ("/data/k400/b/vid3.mp4", 1),
    ]
    assert recs[2].meta["line"] == 4
    # without root: relative to the list file's directory
    assert read_video_list(annotations=ann)[0].path == os.path.join(str(tmp_path / "lists"), "a/vid1.mp4")


@pytest.mark.parametrize(
    ("text", "where", "field"),
    [
        ("a.mp4 0\nb.mp4\n", "line 2", None),
        ("a.mp4 0\nb.mp4 1 7\n", "line 2", None),
        ("a.mp4 zero\n", "line 1", "label"),
        ("a.mp4 0\n\nb.mp4 5\n", "line 3", "label"),
        ("a.mp4 0\nb.mp4 1\na.mp4 2\n", "line 3", "path"),
    ],
)
def test_kinetics_list_bad_lines(tmp_path: Path, text: str, where: str, field: str | None) -> None:
    ann = _write(tmp_path / "bad.txt", text)
    with pytest.raises(AnnotationError) as exc:
        read_video_list(annotations=ann, num_classes=3)
    _error_at(exc, ann, where, field)


def test_missing_annotation_file(tmp_path: Path) -> None:
    with pytest.raises(AnnotationError, match="not found"):
        read_video_list(annotations=str(tmp_path / "nope.txt"))


def test_dataset_registry_builds_reader(tmp_path: Path) -> None:
    ann = _write(tmp_path / "train.txt", "x.mp4 1\n")
    assert set(DATASETS.names()) >= {"kinetics", "kinetics_csv", "ssv2", "ucf101", "hmdb51", "epic_kitchens"}
    recs = DATASETS.build("kinetics", annotations=ann, root="videos")
    assert recs[0].path == os.path.join("videos", "x.mp4") and recs[0].label == 1
    with pytest.raises(ConfigError, match="roots"):
        DATASETS.build("kinetics", annotations=ann, roots="videos")


# ---------------------------------------------------------------- Kinetics CSV

K_CSV = """label,youtube_id,time_start,time_end,split
riding a bike,abc123,14,24,train
abseiling,---QUuC4vJs,3,13,train
riding a bike,xyz,0,10,train
"""


def test_kinetics_csv_file_names_and_sorted_classes(tmp_path: Path) -> None:
    ann = _write(tmp_path / "train.csv", K_CSV)
    recs = read_kinetics_csv(annotations=ann, root="/k")
    assert recs.class_names == ["abseiling", "riding a bike"]
    assert [(r.path, r.label) for r in recs] == [
        ("/k/abc123_000014_000024.mp4", 1),
        ("/k/---QUuC4vJs_000003_000013.mp4", 0),
        ("/k/xyz_000000_000010.mp4", 1),
    ]
    dirs = read_kinetics_csv(annotations=ann, root="/k", layout="class_dirs")
    assert dirs[0].path == "/k/riding a bike/abc123_000014_000024.mp4"


def test_kinetics_csv_class_file_and_test_split(tmp_path: Path) -> None:
    ann = _write(tmp_path / "train.csv", K_CSV)
    classes = _write(tmp_path / "classes.txt", "riding a bike\nabseiling\ndancing\n")
    recs = read_kinetics_csv(annotations=ann, root="/k", classes=classes)
    assert [r.label for r in recs] == [0, 1, 0] and recs.class_names == ["riding a bike", "abseiling", "dancing"]
    test = _write(tmp_path / "test.csv", "youtube_id,time_start,time_end,split\nq1,5,15,test\n")
    (rec,) = read_kinetics_csv(annotations=test, root="/k")
    assert rec.label == -1 and rec.path == "/k/q1_000005_000015.mp4"


@pytest.mark.parametrize(
    ("row", "field"),
    [
        ("riding a bike,abc,14,24", None),  # 4 columns instead of 5
        ("riding a bike,abc,x,24,train", "time_start"),
        ("riding a bike,abc,30,24,train", "time_end"),
        ("riding a bike,abc123,14,24,train", "youtube_id"),  # duplicate of line 2
        ("swimming,abc,14,24,train", "label"),  # not in the class file
    ],
)
def test_kinetics_csv_bad_rows(tmp_path: Path, row: str, field: str | None) -> None:
    ann = _write(tmp_path / "bad.csv", K_CSV.splitlines()[0] + "\n" + K_CSV.splitlines()[1] + "\n" + row + "\n")
    classes = _write(tmp_path / "classes.txt", "riding a bike\nabseiling\n")
    with pytest.raises(AnnotationError) as exc:
        read_kinetics_csv(annotations=ann, classes=classes)
    _error_at(exc, ann, "line 3", field)


def test_kinetics_csv_missing_column(tmp_path: Path) -> None:
    ann = _write(tmp_path / "bad.csv", "label,youtube_id,time_start\nx,y,1\n")
    with pytest.raises(AnnotationError, match="line 1.*time_end"):
        read_kinetics_csv(annotations=ann)


# ---------------------------------------------------------------- Something-Something-v2

SSV2_LABELS = {
    "Pushing something from left to right": "0",
    "Pushing something from right to left": "1",
    "Something falling like a feather or paper": "2",
}


def _ssv2(tmp_path: Path, entries: list[dict]) -> str:
    _write(tmp_path / "labels.json", json.dumps(SSV2_LABELS))
    return _write(tmp_path / "train.json", json.dumps(entries))


def test_ssv2_templates_and_paths(tmp_path: Path) -> None:
    ann = _ssv2(
        tmp_path,
        [
            {
                "id": "78687",
                "label": "pushing pen from right to left",
                "template": "Pushing [something] from right to left",
                "placeholders": ["pen"],
            },
            {"id": "42", "label": "leaf falling", "template": "[Something] falling like a feather or paper"},
        ],
    )
    recs = read_ssv2(annotations=ann, root="/ssv2/videos")
    assert [(r.path, r.label) for r in recs] == [("/ssv2/videos/78687.webm", 1), ("/ssv2/videos/42.webm", 2)]
    assert recs.class_names == list(SSV2_LABELS)
    assert recs[0].meta["placeholders"] == ["pen"]
    test = _write(tmp_path / "test.json", json.dumps([{"id": "1420"}]))
    assert read_ssv2(annotations=test, root="/v")[0].label == -1


PUSH = "Pushing [something] from left to right"


@pytest.mark.parametrize(
    ("entries", "where", "field"),
    [
        ([{"id": "1", "template": PUSH}, {"id": "2", "template": "Juggling"}], "entry 1", "template"),
        ([{"id": "1", "template": PUSH}, {"id": "1", "template": PUSH}], "entry 1", "id"),
        ([{"template": PUSH}], "entry 0", "id"),
    ],
)
def test_ssv2_bad_entries(tmp_path: Path, entries: list[dict], where: str, field: str) -> None:
    ann = _ssv2(tmp_path, entries)
    with pytest.raises(AnnotationError) as exc:
        read_ssv2(annotations=ann)
    _error_at(exc, ann, where, field)


def test_ssv2_invalid_json_names_line(tmp_path: Path) -> None:
    _write(tmp_path / "labels.json", json.dumps(SSV2_LABELS))
    ann = _write(tmp_path / "train.json", '[\n{"id": "1"},\n{"id": }\n]')
    with pytest.raises(AnnotationError, match="line 3"):
        read_ssv2(annotations=ann)


# ---------------------------------------------------------------- UCF101


def _ucf(tmp_path: Path) -> Path:
    d = tmp_path / "ucfTrainTestlist"
    _write(d / "classInd.txt", "1 ApplyEyeMakeup\n2 HandstandPushups\n3 YoYo\n")
    return d


def test_ucf101_train_and_test_lists(tmp_path: Path) -> None:
    d = _ucf(tmp_path)
    train = _write(
        d / "trainlist01.txt",
        "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1\nHandstandPushups/v_HandStandPushups_g08_c01.avi 2\n",
    )
    test = _write(d / "testlist01.txt", "YoYo/v_YoYo_g01_c01.avi\nhandstandpushups/v_HandStandPushups_g01_c01.avi\n")
    recs = read_ucf101(annotations=train, root="/ucf")
    assert [(r.path, r.label) for r in recs] == [
        ("/ucf/ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi", 0),
        ("/ucf/HandstandPushups/v_HandStandPushups_g08_c01.avi", 1),
    ]
    assert recs.class_names == ["ApplyEyeMakeup", "HandstandPushups", "YoYo"]
    assert [r.label for r in read_ucf101(annotations=test, root="/ucf")] == [2, 1]


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("YoYo/v_YoYo_g08_c01.avi 3\nYoYo/v_YoYo_g08_c02.avi 4\n", "label"),  # index 4 > 3 classes
        ("YoYo/v_YoYo_g08_c01.avi 3\nYoYo/v_YoYo_g08_c02.avi 1\n", "label"),  # disagrees with directory
        ("YoYo/v_YoYo_g08_c01.avi\nSurfing/v_Surfing_g01_c01.avi\n", "path"),  # unknown class directory
        ("YoYo/v_YoYo_g08_c01.avi 3\nYoYo/v_YoYo_g08_c02.avi 3 x\n", None),
    ],
)
def test_ucf101_bad_lines(tmp_path: Path, text: str, field: str | None) -> None:
    ann = _write(_ucf(tmp_path) / "list.txt", text)
    with pytest.raises(AnnotationError) as exc:
        read_ucf101(annotations=ann)
    _error_at(exc, ann, "line 2", field)


# ---------------------------------------------------------------- HMDB51


def _hmdb(tmp_path: Path) -> Path:
    d = tmp_path / "splits"
    _write(d / "brush_hair_test_split1.txt", "bh_a.avi 1 \nbh_b.avi 2 \nbh_c.avi 0 \n")
    _write(d / "cartwheel_test_split1.txt", "cw_a.avi 2\ncw_b.avi 1\n")
    _write(d / "brush_hair_test_split2.txt", "bh_a.avi 2\nbh_b.avi 1\nbh_c.avi 1\n")
    _write(d / "cartwheel_test_split2.txt", "cw_a.avi 1\ncw_b.avi 2\n")
    return d


def test_hmdb51_splits(tmp_path: Path) -> None:
    d = _hmdb(tmp_path)
    train = read_hmdb51(annotations=str(d), root="/hmdb", split=1, subset="train")
    assert train.class_names == ["brush_hair", "cartwheel"]
    assert [(r.path, r.label) for r in train] == [("/hmdb/brush_hair/bh_a.avi", 0), ("/hmdb/cartwheel/cw_b.avi", 1)]
    test2 = read_hmdb51(annotations=str(d), root="/hmdb", split=2, subset="test")
    assert [(os.path.basename(r.path), r.label) for r in test2] == [("bh_a.avi", 0), ("cw_b.avi", 1)]


def test_hmdb51_bad_code(tmp_path: Path) -> None:
    d = _hmdb(tmp_path)
    bad = _write(d / "cartwheel_test_split1.txt", "cw_a.avi 2\ncw_b.avi 3\n")
    with pytest.raises(AnnotationError) as exc:
        read_hmdb51(annotations=str(d))
    _error_at(exc, bad, "line 2", "split")


# ---------------------------------------------------------------- EPIC-Kitchens-100

EPIC_HEADER = [
    "narration_id", "participant_id", "video_id", "narration_timestamp", "start_timestamp", "stop_timestamp",
    "start_frame", "stop_frame", "narration", "verb", "verb_class", "noun", "noun_class", "all_nouns",
    "all_noun_classes",
]  # fmt: skip
EPIC_ROWS = [
    ["P01_01_0", "P01", "P01_01", "00:00:01.089", "00:00:00.14", "00:00:03.37", "8", "202", "open door", "open",
     "3", "door", "3", "['door']", "[3]"],
    ["P01_01_1", "P01", "P01_01", "00:00:02.629", "00:01:02.50", "01:00:04.00", "3750", "216240", "turn on tap",
     "turn-on", "6", "tap", "4", "['tap', 'water']", "[4, 10]"],
]  # fmt: skip


def _epic(tmp_path: Path, rows: list[list[str]], header: list[str] = EPIC_HEADER) -> str:
    path = tmp_path / "EPIC_100_train.csv"
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return str(path)


def test_epic_kitchens_segments_and_labels(tmp_path: Path) -> None:
    recs = read_epic_kitchens(annotations=_epic(tmp_path, EPIC_ROWS), root="/epic")
    a, b = recs
    assert a.path == "/epic/P01/P01_01.MP4"
    assert (a.start_s, a.end_s) == (pytest.approx(0.14), pytest.approx(3.37))
    # 00:01:02.50 = 62.5 s; 01:00:04.00 = 3604 s
    assert (b.start_s, b.end_s) == (pytest.approx(62.5), pytest.approx(3604.0))
    # action index = verb * 300 + noun: 3 * 300 + 3 = 903; 6 * 300 + 4 = 1804
    assert a.labels == {"verb": 3, "noun": 3, "action": 903} and b.labels == {"verb": 6, "noun": 4, "action": 1804}
    assert a.label == 3 and a.meta["narration"] == "open door"
    nouns = read_epic_kitchens(annotations=_epic(tmp_path, EPIC_ROWS), primary="noun")
    assert [r.label for r in nouns] == [3, 4]
    assert parse_timestamp("00:00:01.089") == pytest.approx(1.089)


def test_epic_kitchens_test_timestamps_have_no_labels(tmp_path: Path) -> None:
    header = ["narration_id", "participant_id", "video_id", "start_timestamp", "stop_timestamp"]
    ann = _epic(tmp_path, [["P01_11_0", "P01", "P01_11", "00:00:00.00", "00:00:01.50"]], header)
    (rec,) = read_epic_kitchens(annotations=ann)
    assert rec.label == -1 and rec.labels["verb"] == -1 and rec.end_s == pytest.approx(1.5)


@pytest.mark.parametrize(
    ("column", "value", "field"),
    [
        (5, "0:0:3", "stop_timestamp"),
        (4, "00:00:05.00", "stop_timestamp"),  # start 5 s after stop 3.37 s
        (10, "open", "verb_class"),
        (12, "300", "noun_class"),  # out of range [0, 300)
        (0, "P01_01_0", "narration_id"),  # duplicate
    ],
)
def test_epic_kitchens_bad_rows(tmp_path: Path, column: int, value: str, field: str) -> None:
    bad = list(EPIC_ROWS[0])
    bad[column] = value
    if column != 0:
        bad[0] = "P01_01_9"
    ann = _epic(tmp_path, [EPIC_ROWS[0], bad])
    with pytest.raises(AnnotationError) as exc:
        read_epic_kitchens(annotations=ann)
    _error_at(exc, ann, "line 3", field)


def test_epic_kitchens_short_row(tmp_path: Path) -> None:
    ann = _epic(tmp_path, [EPIC_ROWS[0], EPIC_ROWS[1][:10]])
    with pytest.raises(AnnotationError, match="line 3: expected 15 columns"):
        read_epic_kitchens(annotations=ann)


def test_epic_class_tables(tmp_path: Path) -> None:
    text = (
        "id,key,instances,category\n0,take,\"['take', 'grab', 'pick-up']\",retrieve\n1,put,\"['put', 'place']\",leave\n"
    )
    classes = read_epic_classes(_write(tmp_path / "EPIC_100_verb_classes.csv", text))
    assert [(c.id, c.key, c.instances, c.category) for c in classes] == [
        (0, "take", ["take", "grab", "pick-up"], "retrieve"),
        (1, "put", ["put", "place"], "leave"),
    ]
    bad = _write(tmp_path / "bad.csv", text.replace("1,put", "2,put"))
    with pytest.raises(AnnotationError) as exc:
        read_epic_classes(bad)
    _error_at(exc, bad, "line 3", "id")
