"""Writing and reading a structure folder: ``structure.json`` and ``embeddings.npy`` beside it.

:func:`write_structure` validates a document before anything is written, then writes the
embeddings first and ``structure.json`` last, each atomically (:mod:`vidstruct.atomic`): a reader
that sees a new ``structure.json`` also sees its embeddings. :func:`read_structure` parses and
validates a document (strict JSON: ``NaN`` / ``Infinity`` are refused) and loads the embeddings
only when asked (:attr:`Structure.embeddings`).
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np

from vidstruct.atomic import atomic_open, write_json_atomic
from vidstruct.errors import ShapeError
from vidstruct.structure.builders import StructureDocument
from vidstruct.structure.errors import StructureError
from vidstruct.structure.validate import validate_structure

__all__ = ["STRUCTURE_FILE", "Structure", "parse_structure", "read_structure", "write_structure"]

#: Name of the document inside a video's output folder.
STRUCTURE_FILE = "structure.json"


@dataclass
class Structure:
    """A validated document read from ``path`` (a ``structure.json``)."""

    path: Path
    document: StructureDocument

    @property
    def folder(self) -> Path:
        """The folder holding the document; relative paths in it (thumbnails, embeddings) start here."""
        return self.path.parent

    def resolve(self, relative: str) -> Path:
        """A path stored in the document (relative to its folder) as a path on disk."""
        return self.folder / relative

    @functools.cached_property
    def embeddings(self) -> np.ndarray | None:
        """float32 ``[rows, dim]`` per-window embeddings (read-only, memory-mapped), None when the document has none.

        Raises :class:`StructureError` when the file is missing or its shape / dtype differ from ``embeddings``.
        """
        info = self.document["embeddings"]
        if info is None:
            return None
        file = self.resolve(info["file"])
        where = "$.embeddings.file"
        if not file.is_file():
            raise StructureError(str(self.path), where, f"embeddings file {str(file)!r} not found")
        try:
            array = np.load(file, mmap_mode="r", allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            raise StructureError(str(self.path), where, f"{file}: not a .npy array ({exc})") from None
        expected = (info["rows"], info["dim"])
        if array.dtype != np.float32 or array.shape != expected:
            raise StructureError(
                str(self.path),
                where,
                f"{file}: expected float32 {list(expected)}, got {array.dtype} {list(array.shape)}",
            )
        return array


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def parse_structure(text: str, *, source: str = "<structure>") -> StructureDocument:
    """Parse and validate a document from JSON text; :class:`StructureError` names ``source`` on failure."""
    try:
        document = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise StructureError(
            source, None, f"not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"
        ) from None
    except ValueError as exc:  # NaN / Infinity
        raise StructureError(source, None, f"not valid JSON ({exc})") from None
    validate_structure(document, source=source)
    return cast(StructureDocument, document)


def read_structure(path: str | os.PathLike[str]) -> Structure:
    """Read and validate ``path`` (a ``structure.json``, or a folder holding one); embeddings load lazily."""
    file = Path(path)
    if file.is_dir():
        file = file / STRUCTURE_FILE
    if not file.is_file():
        raise StructureError(str(file), None, "structure file not found")
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise StructureError(str(file), None, f"not UTF-8 text ({exc.reason})") from None
    return Structure(file, parse_structure(text, source=str(file)))


def _check_embeddings(document: StructureDocument, embeddings: np.ndarray | None) -> None:
    info = document["embeddings"]
    if info is None:
        if embeddings is not None:
            raise ValueError("write_structure: embeddings given but the document's 'embeddings' is null")
        return
    if embeddings is None:
        raise ValueError(f"write_structure: the document names {info['file']!r} but no embeddings were given")
    expected = (info["rows"], info["dim"])
    if not isinstance(embeddings, np.ndarray) or embeddings.dtype != np.float32 or embeddings.shape != expected:
        got = f"{embeddings.dtype} {list(embeddings.shape)}" if isinstance(embeddings, np.ndarray) else type(embeddings)
        raise ShapeError(f"write_structure: embeddings must be float32 {list(expected)} (rows, dim), got {got}")
    if not np.isfinite(embeddings).all():
        raise ValueError("write_structure: embeddings hold NaN or infinite values")


def write_structure(
    folder: str | os.PathLike[str], document: StructureDocument, embeddings: np.ndarray | None = None
) -> Path:
    """Validate ``document`` and write it to ``folder/structure.json`` (and ``embeddings``, float32
    ``[rows, dim]``, to the file its ``embeddings`` entry names); returns the ``structure.json`` path.

    An invalid document or embeddings that do not match it is a bug in the producer: ``ValueError``
    (the :class:`StructureError` that says where is its ``__cause__``) or ``ShapeError``; nothing is written.
    """
    out = Path(folder) / STRUCTURE_FILE
    try:
        validate_structure(document, source=str(out))
    except StructureError as exc:
        raise ValueError(f"refusing to write an invalid structure document: {exc}") from exc
    _check_embeddings(document, embeddings)
    info = document["embeddings"]
    if info is not None and embeddings is not None:
        with atomic_open(Path(folder) / info["file"], "wb") as fh:
            np.save(fh, np.ascontiguousarray(embeddings), allow_pickle=False)
    write_json_atomic(out, document, indent=2, ensure_ascii=False, allow_nan=False)
    return out
