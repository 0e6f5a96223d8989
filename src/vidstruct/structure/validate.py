"""Validate a ``vidstruct.structure/1`` document: its format name, the JSON Schema, then the rules.

The first problem found raises :class:`~vidstruct.structure.errors.StructureError` naming the
source and the JSON path, in this order: not an object; ``format`` missing or another format
or version; the schema (:mod:`.schema`); the semantic rules (:mod:`.rules`).
"""

from __future__ import annotations

from typing import Any

from vidstruct.structure.errors import StructureError, json_path
from vidstruct.structure.rules import rule_problems
from vidstruct.structure.schema import FORMAT, schema_problem

__all__ = ["check_format", "validate_structure"]

_FAMILY = FORMAT.rsplit("/", 1)[0] + "/"


def check_format(document: Any, *, source: str = "<structure>") -> None:
    """Raise unless ``document`` is an object whose ``format`` is :data:`~.schema.FORMAT`."""
    if not isinstance(document, dict):
        raise StructureError(
            source, "$", f"expected a JSON object (a {FORMAT} document), got {type(document).__name__}"
        )
    if "format" not in document:
        raise StructureError(source, "$.format", f"missing: not a {FORMAT} document")
    fmt = document["format"]
    if fmt == FORMAT:
        return
    if isinstance(fmt, str) and fmt.startswith(_FAMILY):
        raise StructureError(source, "$.format", f"version {fmt!r} is not supported (this vidstruct reads {FORMAT!r})")
    raise StructureError(source, "$.format", f"expected {FORMAT!r}, got {fmt!r}: not a vidstruct structure document")


def validate_structure(document: Any, *, source: str = "<structure>") -> None:
    """Raise :class:`StructureError` at the first problem of ``document`` (``source`` names it in the message)."""
    check_format(document, source=source)
    problem = schema_problem(document)
    if problem is not None:
        raise StructureError(source, *problem)
    for parts, message in rule_problems(document):
        raise StructureError(source, json_path(parts), message)
