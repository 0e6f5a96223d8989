"""Typed builders: times rounded to the millisecond, probabilities never clamped, documents that validate."""

from __future__ import annotations

import datetime
import math
from pathlib import PurePosixPath
from typing import Any

import numpy as np
import pytest

from vidstruct import __version__
from vidstruct.structure import (
    FORMAT,
    actor_record,
    embeddings_record,
    model_record,
    probability,
    profile_record,
    seconds,
    segment_record,
    shot_record,
    shots_from_cuts,
    structure_document,
    thumbnail_record,
    validate_structure,
    video_record,
    window_record,
)


def test_seconds_round_to_the_millisecond() -> None:
    assert seconds(1.23456) == 1.235
    assert seconds(np.float32(0.5)) == 0.5 and type(seconds(np.float32(0.5))) is float
    assert seconds(2) == 2.0
    assert math.copysign(1.0, seconds(-0.0)) == 1.0  # no "-0.0" in the document


@pytest.mark.parametrize("bad", [-0.001, math.nan, math.inf])
def test_seconds_refuse_negative_and_non_finite(bad: float) -> None:
    with pytest.raises(ValueError, match="start"):
        seconds(bad, "start")


def test_probabilities_are_never_clamped() -> None:
    assert probability(0.1234567) == 0.123457
    assert probability(1) == 1.0 and probability(0.0) == 0.0
    for bad in (1.0000001, -1e-9, math.nan):
        with pytest.raises(ValueError, match=r"score: expected a probability in \[0, 1\]|finite"):
            probability(bad, "score")
    with pytest.raises(TypeError):
        probability("0.5")
    with pytest.raises(TypeError):
        probability(True)


def test_shots_from_cuts_are_contiguous_from_zero_to_the_duration() -> None:
    shots = shots_from_cuts([4.0004, 6.5], [0.875, 0.6], 10.0, model="shots", thumbnails=["thumbs/a.jpg", None, None])
    assert [(s["index"], s["start_s"], s["end_s"], s["confidence"]) for s in shots] == [
        (0, 0.0, 4.0, 1.0),
        (1, 4.0, 6.5, 0.875),
        (2, 6.5, 10.0, 0.6),
    ]
    assert [s["thumbnail"] for s in shots] == ["thumbs/a.jpg", None, None]
    with pytest.raises(ValueError, match="2 cuts but 1 confidences"):
        shots_from_cuts([1.0, 2.0], [0.5], 3.0, model="shots")
    with pytest.raises(ValueError, match=r"shots\[1\]: end 2.0 s is not after start 2.0 s"):
        shots_from_cuts([2.0, 2.0], [0.5, 0.5], 3.0, model="shots")


def test_window_top_is_sorted_highest_first_ties_in_given_order() -> None:
    win = window_record(0, 2.0, {"a": 0.1, "b": 0.6, "c": 0.1, "d": 0.2}, model="rec", embedding_row=np.int64(3))
    assert [(e["label"], e["prob"]) for e in win["top"]] == [("b", 0.6), ("d", 0.2), ("a", 0.1), ("c", 0.1)]
    assert win["embedding_row"] == 3 and type(win["embedding_row"]) is int
    with pytest.raises(ValueError, match="at least one"):
        window_record(0, 1, {}, model="rec")
    with pytest.raises(ValueError, match="'a' appears twice"):
        window_record(0, 1, [("a", 0.5), ("a", 0.4)], model="rec")


def test_actor_boxes_are_checked_not_clamped() -> None:
    actor = actor_record(2, 1.0001, [0.1, 0.2, 0.3, 0.4], 0.9, [("sit", 0.2), ("stand", 0.7)], model="det")
    assert actor["time_s"] == 1.0
    assert [a["label"] for a in actor["actions"]] == ["stand", "sit"]
    with pytest.raises(ValueError, match=r"box\[2\]: expected a normalized coordinate in \[0, 1\], got 1.01"):
        actor_record(0, 0, [0.1, 0.2, 1.01, 0.4], 0.9, model="det")
    with pytest.raises(ValueError, match="x1 <= x2"):
        actor_record(0, 0, [0.5, 0.2, 0.4, 0.4], 0.9, model="det")
    with pytest.raises(ValueError, match="4 values|3 values"):
        actor_record(0, 0, [0.1, 0.2, 0.3], 0.9, model="det")


def test_video_rotation_is_stored_counter_clockwise_in_0_360() -> None:
    video = video_record(id="v", path="v.mp4", sha256="a" * 64, width=240, height=320, codec="h264", rotation=-90)
    assert video["rotation"] == 270
    assert video["duration_s"] is None and video["fps"] is None and video["num_frames"] is None
    with pytest.raises(ValueError, match="multiple of 90"):
        video_record(id="v", path="v.mp4", sha256="a" * 64, width=1, height=1, codec="h264", rotation=45)
    with pytest.raises(ValueError, match="SHA-256"):
        video_record(id="v", path="v.mp4", sha256="A" * 64, width=1, height=1, codec="h264")
    with pytest.raises(ValueError, match="duration_s"):
        video_record(id="v", path="v.mp4", sha256="a" * 64, width=1, height=1, codec="h264", duration_s=0)


@pytest.mark.parametrize("bad", ["/tmp/x.jpg", "../x.jpg", "thumbs/../../x.jpg", "thumbs\\x.jpg", "C:/x.jpg", ""])
def test_paths_stay_inside_the_document_folder(bad: str) -> None:
    with pytest.raises(ValueError, match="relative path inside the document's folder|non-empty"):
        thumbnail_record(bad, 1.0, "shot", 0)


def test_paths_are_stored_in_posix_form() -> None:
    assert thumbnail_record(PurePosixPath("thumbs") / "s.jpg", 1.0, "shot", 0)["path"] == "thumbs/s.jpg"


def test_model_record_checks_task_and_classes() -> None:
    with pytest.raises(ValueError, match="task: expected one of"):
        model_record("m", "segmentation")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="class names repeat"):
        model_record("m", "recognition", classes=["a", "a"])
    with pytest.raises(ValueError, match="classes is empty"):
        model_record("m", "recognition", classes=[])


def test_segment_record_checks_its_source_and_span() -> None:
    with pytest.raises(ValueError, match="source: expected one of localizer, windows"):
        segment_record("walk", 0, 1, 0.5, source="detector", model="loc")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="end 1.0 s is not after start 1.0 s"):
        segment_record("walk", 1.0, 1.0004, 0.5, source="localizer", model="loc")


def _built() -> dict[str, Any]:
    classes = ["walk", "run"]
    models = {
        "shots": model_record("hsv-histogram", "shots", settings={"threshold": 0.3}),
        "rec": model_record("x3d_xs", "recognition", checkpoint="m.pt", checkpoint_sha256="b" * 64, classes=classes),
        "det": model_record("slowfast", "action-detection", classes=["stand"]),
    }
    shots = shots_from_cuts([1.5], [0.75], 3.0, model="shots", thumbnails=["thumbs/shot-0000.jpg", None])
    return structure_document(
        video=video_record(
            id="v", path="v.mp4", sha256="a" * 64, width=64, height=48, codec="h264", duration_s=3.0, fps=25.0
        ),
        models=models,
        shots=shots,
        segments=[segment_record("walk", 0.2, 1.4, 0.8, source="windows", model="rec", shot=0)],
        windows=[
            window_record(0.0, 1.5, {"walk": 0.8, "run": 0.2}, model="rec", embedding_row=0),
            window_record(1.5, 3.0, {"run": 0.6}, model="rec", embedding_row=1),
        ],
        actors=[actor_record(0, 1.0, [0.1, 0.1, 0.5, 0.9], 0.9, {"stand": 0.7}, model="det")],
        thumbnails=[thumbnail_record("thumbs/shot-0000.jpg", 0.75, "shot", 0)],
        embeddings=embeddings_record(2, 4, model="rec"),
        profile=profile_record("demo", "d" * 64),
        timings={"decode": 0.1234, "total": 1.0},
        warnings=["no localizer: segments merged from windows"],
        created="2024-05-01T12:30:00Z",
    )


def test_a_document_made_by_the_builders_validates() -> None:
    doc = _built()
    validate_structure(doc)
    assert doc["format"] == FORMAT and doc["vidstruct_version"] == __version__
    assert doc["timings"] == {"decode": 0.123, "total": 1.0}


def test_created_defaults_to_utc_now() -> None:
    fresh = structure_document(video=_built()["video"], models={})
    assert fresh["created"].endswith("Z") and len(fresh["created"]) == len("2024-05-01T12:30:00Z")
    parsed = datetime.datetime.fromisoformat(fresh["created"].replace("Z", "+00:00"))
    assert parsed.utcoffset() == datetime.timedelta(0)
    assert fresh["shots"] == [] and fresh["embeddings"] is None and fresh["profile"] is None


def test_timing_stage_names_are_identifiers() -> None:
    with pytest.raises(ValueError, match="timings"):
        structure_document(video=_built()["video"], models={}, timings={"Decode": 1.0})


def test_shot_record_is_the_plain_dict_of_the_document() -> None:
    shot = shot_record(1, 4.0, 6.5, np.float32(0.875), model="shots", thumbnail="thumbs/shot-0001.jpg")
    assert shot == {
        "index": 1,
        "start_s": 4.0,
        "end_s": 6.5,
        "confidence": 0.875,
        "thumbnail": "thumbs/shot-0001.jpg",
        "model": "shots",
    }
    with pytest.raises(ValueError, match=r"shots\[1\]\.confidence: expected a probability"):
        shot_record(1, 4.0, 6.5, 1.5, model="shots")
    with pytest.raises(ValueError, match="model key"):
        shot_record(1, 4.0, 6.5, 0.5, model="bad key")
