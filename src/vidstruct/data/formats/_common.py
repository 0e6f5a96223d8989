"""Shared parsing helpers of annotation readers: located errors, lines, CSV rows, numbers, paths.

Every error is an :class:`~vidstruct.errors.AnnotationError` whose message
starts with ``<file>, line <n>`` (or ``<file>, <json location>``) and names the
field, e.g. ``train.txt, line 3, field 'label': expected an integer, got 'cat'``.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from vidstruct.errors import AnnotationError

__all__ = [
    "CsvTable",
    "fail",
    "index_classes",
    "load_json",
    "read_class_file",
    "read_csv",
    "read_lines",
    "resolve_video_path",
    "to_float",
    "to_int",
]


def fail(path: str | Path, where: int | str, field: str | None, message: str) -> AnnotationError:
    """An :class:`AnnotationError` located at ``path`` + line number (int) or a location string."""
    loc = f"line {where}" if isinstance(where, int) else where
    fld = f", field {field!r}" if field else ""
    return AnnotationError(f"{path}, {loc}{fld}: {message}")


def _check_file(path: str | Path) -> Path:
    p = Path(path)
    if not p.is_file():
        raise AnnotationError(f"{path}: annotation file not found")
    return p


def read_lines(path: str | Path) -> Iterator[tuple[int, list[str]]]:
    """``(line_number, whitespace-split fields)`` of each non-blank line (1-based numbers)."""
    p = _check_file(path)
    with p.open(encoding="utf-8-sig") as f:
        for n, line in enumerate(f, start=1):
            fields = line.split()
            if fields:
                yield n, fields


class CsvTable:
    """Rows of a CSV file as dicts keyed by header names, with their line numbers."""

    def __init__(self, path: Path, header: list[str], rows: list[tuple[int, list[str]]]) -> None:
        self.path, self.header, self.rows = path, header, rows

    def __iter__(self) -> Iterator[tuple[int, dict[str, str]]]:
        for n, row in self.rows:
            yield n, dict(zip(self.header, row))


def read_csv(
    path: str | Path,
    *,
    required: Sequence[str] = (),
    header: Sequence[str] | None = None,
    num_columns: Sequence[int] | None = None,
) -> CsvTable:
    """Read a CSV file, checking its header and the column count of every row.

    ``header=None``: the first row is the header and must contain ``required``;
    every row must have as many columns as the header. ``header`` given: the
    file has no header row and rows may have any count in ``num_columns``
    (default: ``len(header)``); missing trailing columns read as ``""``.
    """
    p = _check_file(path)
    with p.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        raw: list[tuple[int, list[str]]] = []
        start = reader.line_num
        for row in reader:
            if row and any(c.strip() for c in row):
                raw.append((start + 1, [c.strip() for c in row]))
            start = reader.line_num
    if header is None:
        if not raw:
            raise AnnotationError(f"{path}: empty CSV file, expected a header row")
        line, names = raw[0]
        missing = [c for c in required if c not in names]
        if missing:
            raise fail(path, line, None, f"header lacks column(s) {', '.join(missing)}; found {', '.join(names)}")
        cols: list[str] = names
        body = raw[1:]
        allowed = [len(cols)]
    else:
        cols, body = list(header), raw
        allowed = list(num_columns or [len(cols)])
    for line, row in body:
        if len(row) not in allowed:
            expected = " or ".join(str(a) for a in allowed)
            raise fail(path, line, None, f"expected {expected} columns ({', '.join(cols)}), got {len(row)}")
    padded = [(n, row + [""] * (len(cols) - len(row))) for n, row in body]
    return CsvTable(p, cols, padded)


def to_float(value: str, path: str | Path, where: int | str, field: str) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise fail(path, where, field, f"expected a number, got {value!r}") from None
    if out != out or out in (float("inf"), float("-inf")):
        raise fail(path, where, field, f"expected a finite number, got {value!r}")
    return out


def to_int(value: str, path: str | Path, where: int | str, field: str) -> int:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        raise fail(path, where, field, f"expected an integer, got {value!r}") from None


def load_json(path: str | Path) -> Any:
    p = _check_file(path)
    try:
        with p.open(encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise fail(path, e.lineno, None, f"invalid JSON: {e.msg} (column {e.colno})") from None


def read_class_file(path: str | Path) -> list[str]:
    """One class name per non-blank line (surrounding whitespace stripped); duplicates are errors."""
    p = _check_file(path)
    names: list[str] = []
    seen: dict[str, int] = {}
    with p.open(encoding="utf-8-sig") as f:
        for n, line in enumerate(f, start=1):
            name = line.strip()
            if not name:
                continue
            if name in seen:
                raise fail(path, n, "class", f"duplicate class name {name!r} (first on line {seen[name]})")
            seen[name] = n
            names.append(name)
    if not names:
        raise AnnotationError(f"{path}: class file has no class names")
    return names


def index_classes(names: Sequence[str]) -> dict[str, int]:
    return {name: i for i, name in enumerate(names)}


def resolve_video_path(rel: str, root: str, annotations: str | Path) -> str:
    """``rel`` if absolute; else joined to ``root`` when given, else to the annotation file's directory."""
    if os.path.isabs(rel):
        return rel
    base = root if root else os.path.dirname(os.path.abspath(annotations))
    return os.path.join(base, rel)
