"""A flat CSV of a structure: one row per shot, segment, window and actor, told apart by ``kind``.

Columns (a header row first; an empty cell means "does not apply" or null):

================= =========================================================================
``kind``          ``shot``, ``segment``, ``window`` or ``actor`` (rows in this order, each kind in document order)
``index``         position in its list (for shots also their ``index``)
``start_s``       start in seconds (shot, segment, window)
``end_s``         end in seconds (shot, segment, window)
``time_s``        keyframe time in seconds (actor)
``label``         segment label; a window's top-1 label; an actor's most probable action
``score``         probability: shot confidence, segment score, a window's top-1 probability, actor (person) score
``source``        how a segment was made (``localizer`` / ``windows``)
``model``         key of the model that made it (see the document's ``models``)
``shot``          index of the shot holding a segment; a shot's own index
``track_id``      actor track
``x1 y1 x2 y2``   actor box, normalized to [0, 1]
``top``           JSON list ``[{"label", "prob"}, ...]``: a window's top-k, an actor's actions
``thumbnail``     thumbnail path relative to the document's folder (shot, segment)
``embedding_row`` row in embeddings.npy (window)
================= =========================================================================

Numbers are written as Python writes them (shortest exact form: ``1.5``, ``0.875``).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from vidstruct.atomic import atomic_open
from vidstruct.structure.builders import StructureDocument
from vidstruct.structure.files import Structure

__all__ = ["COLUMNS", "export", "rows"]

COLUMNS = (
    "kind",
    "index",
    "start_s",
    "end_s",
    "time_s",
    "label",
    "score",
    "source",
    "model",
    "shot",
    "track_id",
    "x1",
    "y1",
    "x2",
    "y2",
    "top",
    "thumbnail",
    "embedding_row",
)


def _top_json(entries: list[Any]) -> str:
    return json.dumps([{"label": e["label"], "prob": e["prob"]} for e in entries], ensure_ascii=False)


def rows(doc: StructureDocument) -> Iterator[dict[str, Any]]:
    """The table's rows as ``{column: value}`` (absent columns are empty cells)."""
    for shot in doc["shots"]:
        yield {
            "kind": "shot",
            "index": shot["index"],
            "start_s": shot["start_s"],
            "end_s": shot["end_s"],
            "score": shot["confidence"],
            "model": shot["model"],
            "shot": shot["index"],
            "thumbnail": shot["thumbnail"],
        }
    for i, seg in enumerate(doc["segments"]):
        yield {
            "kind": "segment",
            "index": i,
            "start_s": seg["start_s"],
            "end_s": seg["end_s"],
            "label": seg["label"],
            "score": seg["score"],
            "source": seg["source"],
            "model": seg["model"],
            "shot": seg["shot"],
            "thumbnail": seg["thumbnail"],
        }
    for i, win in enumerate(doc["windows"]):
        yield {
            "kind": "window",
            "index": i,
            "start_s": win["start_s"],
            "end_s": win["end_s"],
            "label": win["top"][0]["label"],
            "score": win["top"][0]["prob"],
            "model": win["model"],
            "top": _top_json(win["top"]),
            "embedding_row": win["embedding_row"],
        }
    for i, actor in enumerate(doc["actors"]):
        x1, y1, x2, y2 = actor["box"]
        yield {
            "kind": "actor",
            "index": i,
            "time_s": actor["time_s"],
            "label": actor["actions"][0]["label"] if actor["actions"] else None,
            "score": actor["score"],
            "model": actor["model"],
            "track_id": actor["track_id"],
            "x1": x1,
            "y1": y1,
            "x2": x2,
            "y2": y2,
            "top": _top_json(actor["actions"]),
        }


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


def export(structure: Structure, out: Path) -> list[Path]:
    """Write the table to ``out`` (UTF-8, ``\\r\\n`` line ends as the csv module writes them)."""
    with atomic_open(out, "w") as fh:
        writer = csv.writer(fh)
        writer.writerow(COLUMNS)
        for row in rows(structure.document):
            writer.writerow([_cell(row.get(c)) for c in COLUMNS])
    return [out]
