"""The JSON Schema (draft 2020-12) of ``vidstruct.structure/1``, shipped as package data; checking against it.

The schema file is ``structure-1.schema.json`` beside this module; ``vidstruct schema structure``
prints it. :func:`schema_problem` reports the most relevant violation (``jsonschema``'s
``best_match``) as a JSON path and a one-line message.

Checking a conforming document is the common case (analyze validates every document it writes), and the
pure-Python ``jsonschema`` takes ~19 ms for a one-minute video's document (120 windows). ``jsonschema-rs`` (Rust,
the same draft 2020-12 and the official test suite) answers "conforms" in ~0.2 ms; only a document it rejects goes
through ``jsonschema`` for the path and message. Should the two disagree, ``jsonschema``'s verdict stands for a
rejected document (the tests compare both on every document they validate and on broken ones).
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any

import jsonschema_rs
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

__all__ = ["FORMAT", "SCHEMA_FILE", "load_schema", "schema_problem", "schema_text"]

#: The value of ``format`` in every document of this version.
FORMAT = "vidstruct.structure/1"
#: Name of the schema file inside the package.
SCHEMA_FILE = "structure-1.schema.json"
_MAX_MESSAGE = 240  # jsonschema quotes the offending value: keep the line readable


def schema_text() -> str:
    """The schema file's text, exactly as shipped."""
    return resources.files(__package__).joinpath(SCHEMA_FILE).read_text(encoding="utf-8")


@functools.lru_cache(maxsize=1)
def _schema() -> dict[str, Any]:
    return json.loads(schema_text())


def load_schema() -> dict[str, Any]:
    """The schema as a parsed JSON object (a fresh copy: callers may change it)."""
    return json.loads(schema_text())


def _inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema with every ``{"$ref": "#/$defs/NAME"}`` replaced by that definition (the file's refs are
    local and not recursive): the same constraints, but validation skips jsonschema's reference lookups,
    which took 60% of validating a one-minute analysis (73 -> 28 ms). A ``$ref`` with sibling keywords
    becomes ``allOf`` of the definition plus the siblings, as draft 2020-12 evaluates it."""
    definitions = schema.get("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, list):
            return [inline(item) for item in node]
        if not isinstance(node, dict):
            return node
        if "$ref" in node:
            name = node["$ref"].removeprefix("#/$defs/")
            target = inline(definitions[name])
            rest = {k: inline(v) for k, v in node.items() if k != "$ref"}
            return {"allOf": [target], **rest} if rest else target
        return {k: inline(v) for k, v in node.items() if k != "$defs"}

    return inline(schema)


@functools.lru_cache(maxsize=1)
def _validator() -> Draft202012Validator:
    return Draft202012Validator(_inline_refs(_schema()))


@functools.lru_cache(maxsize=1)
def _fast_validator() -> Any:
    return jsonschema_rs.Draft202012Validator(_inline_refs(_schema()))


def _one_line(message: str) -> str:
    line = " ".join(message.split())
    return line if len(line) <= _MAX_MESSAGE else line[: _MAX_MESSAGE - 3] + "..."


def schema_problem(document: Any) -> tuple[str, str] | None:
    """``(JSON path, message)`` of the most relevant schema violation of ``document``, or None when it conforms."""
    if _fast_validator().is_valid(document):
        return None
    error = best_match(_validator().iter_errors(document))
    if error is None:
        return None
    return error.json_path, _one_line(error.message)
