"""The shipped JSON Schema: a valid draft 2020-12 schema that accepts the hand-written document and refuses,
with the JSON path of the problem, what breaks it."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest

from vidstruct.structure import FORMAT, StructureError, load_schema, schema_text, validate_structure


def test_schema_is_valid_draft_2020_12_and_accepts_the_document(doc: dict[str, Any]) -> None:
    schema = load_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(doc, schema, cls=jsonschema.Draft202012Validator)  # independent of vidstruct's wrapper
    validate_structure(doc)
    assert json.loads(schema_text()) == schema
    assert schema["properties"]["format"] == {
        "description": schema["properties"]["format"]["description"],
        "const": FORMAT,
    }


def test_every_top_level_key_is_required_and_no_other_allowed() -> None:
    schema = load_schema()
    expected = {
        "format", "vidstruct_version", "created", "video", "profile", "models", "shots", "segments",
        "windows", "actors", "thumbnails", "embeddings", "timings", "warnings",
    }  # fmt: skip
    assert set(schema["required"]) == expected
    # optional: "stages", only in a document of an analysis that skipped some stages (documents without it stay valid)
    assert set(schema["properties"]) == expected | {"stages"}
    assert schema["additionalProperties"] is False


def _set(doc: dict[str, Any], path: tuple[Any, ...], value: Any) -> None:
    target = doc
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value


@pytest.mark.parametrize(
    ("path", "value", "where", "fragment"),
    [
        (("segments", 0, "score"), 1.5, "$.segments[0].score", "maximum of 1"),
        (("windows", 1, "top", 0, "prob"), -0.1, "$.windows[1].top[0].prob", "minimum of 0"),
        (("actors", 0, "box", 2), 1.25, "$.actors[0].box[2]", "maximum of 1"),
        (("actors", 0, "box"), [0.1, 0.2, 0.3], "$.actors[0].box", "too short"),
        (("shots", 1, "start_s"), -1.0, "$.shots[1].start_s", "minimum of 0"),
        (("video", "sha256"), "ABC", "$.video.sha256", "does not match"),
        (("video", "rotation"), -90, "$.video.rotation", "is not one of"),
        (("video", "fps"), 0, "$.video.fps", "less than or equal to the minimum of 0"),
        (("models", "shots", "task"), "segmentation", "$.models.shots.task", "is not one of"),
        (("segments", 1, "source"), "magic", "$.segments[1].source", "is not one of"),
        (("thumbnails", 0, "kind"), "window", "$.thumbnails[0].kind", "is not one of"),
        (("shots", 0, "thumbnail"), "../outside.jpg", "$.shots[0].thumbnail", "does not match"),
        (("thumbnails", 1, "path"), "/abs/shot.jpg", "$.thumbnails[1].path", "does not match"),
        (("timings", "Decode"), 1.0, "$.timings", "does not match"),
        (("timings", "decode"), -0.5, "$.timings.decode", "minimum of 0"),
        (("created",), "2024-05-01T12:30:00+02:00", "$.created", "does not match"),
        (("windows", 0, "top"), [], "$.windows[0].top", "should be non-empty"),
        (("segments", 2, "label"), "", "$.segments[2].label", "should be non-empty"),
        (("shots", 2, "index"), True, "$.shots[2].index", "is not of type 'integer'"),
        (("video", "duration_s"), "10", "$.video.duration_s", "is not of type"),
        (("embeddings", "rows"), 2.5, "$.embeddings.rows", "is not of type 'integer'"),
        (("models", "recognizer", "classes"), ["walk", "walk"], "$.models.recognizer.classes", "non-unique"),
        (("models", "bad key!"), {}, "$.models", "does not match"),
    ],
)
def test_schema_violation_names_the_json_path(
    doc: dict[str, Any], path: tuple[Any, ...], value: Any, where: str, fragment: str
) -> None:
    _set(doc, path, value)
    with pytest.raises(StructureError) as info:
        validate_structure(doc, source="s.json")
    assert info.value.source == "s.json"
    assert info.value.path == where
    assert fragment in info.value.problem
    assert str(info.value).startswith(f"s.json: {where}: ")
    assert "\n" not in str(info.value)


def test_unknown_and_missing_keys_are_refused(doc: dict[str, Any]) -> None:
    doc["segments"][0]["colour"] = "red"
    with pytest.raises(StructureError, match=r"^<structure>: \$\.segments\[0\]: .*'colour' was unexpected"):
        validate_structure(doc)
    del doc["segments"][0]["colour"]
    del doc["warnings"]
    with pytest.raises(StructureError, match=r"^<structure>: \$: 'warnings' is a required property"):
        validate_structure(doc)


def test_nullable_fields_accept_null(doc: dict[str, Any]) -> None:
    doc["video"].update(duration_s=None, fps=None, num_frames=None)
    doc["profile"] = None
    doc["models"]["recognizer"]["classes"] = None
    doc["models"]["recognizer"]["checkpoint"] = None
    doc["models"]["recognizer"]["checkpoint_sha256"] = None
    validate_structure(doc)


def test_long_offending_values_are_cut_to_one_short_line(doc: dict[str, Any]) -> None:
    doc["warnings"] = {"x" * 1000: "y"}
    with pytest.raises(StructureError) as info:
        validate_structure(doc)
    assert info.value.path == "$.warnings"
    assert len(info.value.problem) <= 240 and info.value.problem.endswith("...")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("vidstruct.structure/2", r"\$\.format: version 'vidstruct\.structure/2' is not supported"),
        ("vidstruct.features/1", r"\$\.format: expected 'vidstruct\.structure/1', got 'vidstruct\.features/1'"),
        (3, r"\$\.format: expected 'vidstruct\.structure/1', got 3"),
    ],
)
def test_other_formats_and_versions_are_named(doc: dict[str, Any], value: Any, message: str) -> None:
    doc["format"] = value
    with pytest.raises(StructureError, match=message):
        validate_structure(doc)


def test_a_document_that_is_not_an_object_or_has_no_format() -> None:
    with pytest.raises(StructureError, match=r"^<structure>: \$: expected a JSON object .* got list"):
        validate_structure([])
    with pytest.raises(StructureError, match=r"^<structure>: \$\.format: missing"):
        validate_structure({"video": {}})


def _leaf_paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(node, dict):
        return [p for k, v in node.items() for p in _leaf_paths(v, (*prefix, k))]
    if isinstance(node, list):
        return [p for i, v in enumerate(node) for p in _leaf_paths(v, (*prefix, i))]
    return [prefix]


def test_the_validator_with_references_inlined_judges_as_the_shipped_schema(doc: dict[str, Any]) -> None:
    # vidstruct validates with the $defs inlined (for speed): every leaf of the document replaced by a value of
    # another type, or by an out-of-range number, must be judged the same by the shipped schema (refs resolved
    # by jsonschema) and by vidstruct's validator; and its fast path (jsonschema-rs) must agree both ways
    from vidstruct.structure.schema import _fast_validator, _inline_refs, schema_problem

    reference = jsonschema.Draft202012Validator(load_schema())
    assert "$ref" not in json.dumps(_inline_refs(load_schema()))
    judged = 0
    for path in _leaf_paths(doc):
        for bad in ("text", -1.5, 2.0, None, [], {}):
            mutated = json.loads(json.dumps(doc))
            _set(mutated, path, bad)
            expected = reference.is_valid(mutated)
            problem = schema_problem(mutated)
            assert (problem is None) == expected, (path, bad, problem)
            assert _fast_validator().is_valid(mutated) == expected, (path, bad)
            judged += not expected
    assert judged > 50  # most mutations break the document
