"""The rules a schema cannot express: each broken rule is reported with the JSON path of the first problem."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from vidstruct.structure import StructureError, json_path, validate_structure

Doc = dict[str, Any]


def _expect(doc: Doc, where: str, fragment: str) -> None:
    with pytest.raises(StructureError) as info:
        validate_structure(doc, source="s.json")
    assert info.value.path == where, str(info.value)
    assert fragment in info.value.problem, str(info.value)


def _unknown_model(doc: Doc) -> None:
    doc["segments"][2]["model"] = "recogniser"


def _wrong_task(doc: Doc) -> None:
    doc["windows"][1]["model"] = "localizer"


def _segment_source_task(doc: Doc) -> None:
    doc["segments"][1]["source"] = "windows"  # made from windows, so by the recognizer, not the localizer


def _embeddings_model(doc: Doc) -> None:
    doc["embeddings"]["model"] = "detector"


def _shot_gap(doc: Doc) -> None:
    doc["shots"][1]["start_s"] = 4.1


def _shot_not_from_zero(doc: Doc) -> None:
    doc["shots"][0]["start_s"] = 0.04


def _first_shot_confidence(doc: Doc) -> None:
    doc["shots"][0]["confidence"] = 0.9


def _shot_index(doc: Doc) -> None:
    doc["shots"][2]["index"] = 3


def _shot_short_of_duration(doc: Doc) -> None:
    doc["shots"][2]["end_s"] = 9.9


def _shot_empty(doc: Doc) -> None:
    doc["shots"][1]["end_s"] = 4.0
    doc["shots"][2]["start_s"] = 4.0


def _segment_backwards(doc: Doc) -> None:
    doc["segments"][0]["end_s"] = 1.5


def _segment_past_end(doc: Doc) -> None:
    doc["segments"][2]["end_s"] = 10.25
    doc["segments"][2]["shot"] = None


def _segment_outside_shot(doc: Doc) -> None:
    doc["segments"][3]["shot"] = 1


def _segment_missing_shot(doc: Doc) -> None:
    doc["segments"][0]["shot"] = 7


def _segment_label(doc: Doc) -> None:
    doc["segments"][1]["label"] = "swim"


def _window_label(doc: Doc) -> None:
    doc["windows"][3]["top"][1]["label"] = "swim"


def _window_top_order(doc: Doc) -> None:
    doc["windows"][0]["top"] = [{"label": "run", "prob": 0.2}, {"label": "walk", "prob": 0.7}]


def _window_label_twice(doc: Doc) -> None:
    doc["windows"][0]["top"][1]["label"] = "walk"


def _row_out_of_range(doc: Doc) -> None:
    doc["windows"][3]["embedding_row"] = 4


def _row_reused(doc: Doc) -> None:
    doc["windows"][2]["embedding_row"] = 0


def _row_without_embeddings(doc: Doc) -> None:
    doc["embeddings"] = None


def _actor_action_label(doc: Doc) -> None:
    doc["actors"][1]["actions"][0]["label"] = "walk"


def _actor_box(doc: Doc) -> None:
    doc["actors"][0]["box"] = [0.5, 0.2, 0.4, 0.9]


def _actor_time(doc: Doc) -> None:
    doc["actors"][2]["time_s"] = 10.5


def _thumbnail_ref(doc: Doc) -> None:
    doc["thumbnails"][2]["ref"] = 4


def _thumbnail_path(doc: Doc) -> None:
    doc["thumbnails"][1]["path"] = "thumbs/other.jpg"


def _thumbnail_twice(doc: Doc) -> None:
    doc["thumbnails"].append({"path": "thumbs/shot-0001.jpg", "time_s": 5.0, "kind": "shot", "ref": 1})


def _thumbnail_missing_entry(doc: Doc) -> None:
    doc["segments"][1]["thumbnail"] = "thumbs/segment-0001.jpg"


CASES: list[tuple[Callable[[Doc], None], str, str]] = [
    (_unknown_model, "$.segments[2].model", "model 'recogniser' is not a key of 'models'"),
    (_wrong_task, "$.windows[1].model", "has task 'localization'; windows come from a model of task 'recognition'"),
    (_segment_source_task, "$.segments[1].model", "segments with source 'windows' come from a model of task"),
    (_embeddings_model, "$.embeddings.model", "has task 'action-detection'"),
    (_shot_gap, "$.shots[1].start_s", "shots are contiguous: expected 4.0 s (the end of shot 0), got 4.1 s"),
    (_shot_not_from_zero, "$.shots[0].start_s", "the first shot starts at 0 s"),
    (_first_shot_confidence, "$.shots[0].confidence", "the first shot has confidence 1"),
    (_shot_index, "$.shots[2].index", "expected index 2"),
    (_shot_short_of_duration, "$.shots[2].end_s", "the last shot ends at the video's duration 10.0 s, got 9.9 s"),
    (_shot_empty, "$.shots[1].end_s", "end 4.0 s is not after start 4.0 s"),
    (_segment_backwards, "$.segments[0].end_s", "end 1.5 s is not after start 1.5 s"),
    (_segment_past_end, "$.segments[2].end_s", "after the video's end (10.0 s)"),
    (_segment_outside_shot, "$.segments[3].shot", "is not inside shot 1 [4.0, 6.5] s"),
    (_segment_missing_shot, "$.segments[0].shot", "shot 7 does not exist (3 shots)"),
    (_segment_label, "$.segments[1].label", "label 'swim' is not a class of model 'localizer'"),
    (_window_label, "$.windows[3].top[1].label", "label 'swim' is not a class of model 'recognizer'"),
    (_window_top_order, "$.windows[0].top[1].prob", "sorted by probability"),
    (_window_label_twice, "$.windows[0].top[1].label", "appears twice"),
    (_row_out_of_range, "$.windows[3].embedding_row", "row 4 is out of range (embeddings has 4 rows)"),
    (_row_reused, "$.windows[2].embedding_row", "row 0 is already the row of window 0"),
    (_row_without_embeddings, "$.windows[0].embedding_row", "needs 'embeddings'"),
    (_actor_action_label, "$.actors[1].actions[0].label", "not a class of model 'detector'"),
    (_actor_box, "$.actors[0].box[2]", "x2 0.4 is left of x1 0.5"),
    (_actor_time, "$.actors[2].time_s", "after the video's end"),
    (_thumbnail_ref, "$.thumbnails[2].ref", "segment 4 does not exist (4 segments)"),
    (_thumbnail_path, "$.thumbnails[1].path", "shot 1 names thumbnail 'thumbs/shot-0001.jpg'"),
    (_thumbnail_twice, "$.thumbnails[3].ref", "shot 1 already has thumbnail 1"),
    (_thumbnail_missing_entry, "$.segments[1].thumbnail", "has no entry in 'thumbnails'"),
]


@pytest.mark.parametrize(("change", "where", "fragment"), CASES, ids=[c[0].__name__.strip("_") for c in CASES])
def test_broken_rule_names_the_json_path(doc: Doc, change: Callable[[Doc], None], where: str, fragment: str) -> None:
    change(doc)
    _expect(doc, where, fragment)


def test_times_within_half_a_millisecond_are_equal(doc: Doc) -> None:
    doc["shots"][0]["end_s"] = 4.0004  # rounding noise of a producer, not a gap
    doc["shots"][2]["end_s"] = 10.0004
    validate_structure(doc)


def test_first_problem_in_document_order_is_reported(doc: Doc) -> None:
    doc["windows"][3]["embedding_row"] = 9
    doc["shots"][1]["start_s"] = 4.5
    _expect(doc, "$.shots[1].start_s", "contiguous")


def test_unknown_duration_skips_the_end_checks(doc: Doc) -> None:
    doc["video"]["duration_s"] = None
    doc["shots"][2]["end_s"] = 12.0
    doc["segments"][2]["end_s"] = 11.0
    validate_structure(doc)


def test_models_without_classes_accept_any_label(doc: Doc) -> None:
    doc["models"]["localizer"]["classes"] = None
    doc["segments"][1]["label"] = "swim"
    validate_structure(doc)


def test_empty_lists_are_a_valid_document(doc: Doc) -> None:
    for key in ("shots", "segments", "windows", "actors", "thumbnails"):
        doc[key] = []
    doc["embeddings"] = None
    validate_structure(doc)


def test_model_keys_with_odd_characters_are_quoted_in_the_path(doc: Doc) -> None:
    doc["models"]["rec.v2"] = doc["models"].pop("recognizer")
    for item in doc["windows"]:
        item["model"] = "rec.v2"
    doc["embeddings"]["model"] = "rec.v2"
    doc["segments"][2]["model"] = "rec.v2"
    validate_structure(doc)
    doc["models"]["rec.v2"]["task"] = "tracking"
    _expect(doc, "$.models['rec.v2'].task", "is not one of")  # jsonschema's path
    assert json_path(("models", "rec.v2", "classes")) == "$.models['rec.v2'].classes"  # vidstruct's, the same form
    assert json_path(("models", "it's", 0, "ok_1")) == "$.models['it\\'s'][0].ok_1"
