"""The error of a structure document that breaks its format, and JSON paths that say where.

A path is written as JSONPath, as :mod:`jsonschema` writes it: ``$.shots[2].start_s``,
``$.models.recognizer``, ``$.models['key with spaces']``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from vidstruct.errors import AnnotationError

__all__ = ["StructureError", "json_path"]

_IDENTIFIER = re.compile(r"^[a-zA-Z][a-zA-Z0-9_]*$")  # as jsonschema's ValidationError.json_path


def json_path(parts: Iterable[str | int]) -> str:
    """JSONPath of a location given as keys and list indices: ``("shots", 2, "start_s")`` → ``$.shots[2].start_s``."""
    out = "$"
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _IDENTIFIER.match(part):
            out += f".{part}"
        else:
            out += "['" + part.replace("\\", "\\\\").replace("'", "\\'") + "']"
    return out


class StructureError(AnnotationError):
    """A structure document (``structure.json``) that is unreadable or breaks ``vidstruct.structure/1``.

    The message reads ``<file>: <JSON path>: <what is wrong>`` (one line);
    ``source`` is the file (or ``<structure>`` for a document in memory) and
    ``path`` the JSON path of the first problem (``$`` for the whole document;
    None when the file is missing or is not JSON: the message then gives the line).
    """

    def __init__(self, source: str, path: str | None, message: str) -> None:
        self.source, self.path, self.problem = source, path, message
        super().__init__(f"{source}: {path}: {message}" if path is not None else f"{source}: {message}")

    def __reduce__(self) -> tuple[type[StructureError], tuple[str, str | None, str]]:  # picklable across processes
        return type(self), (self.source, self.path, self.problem)
