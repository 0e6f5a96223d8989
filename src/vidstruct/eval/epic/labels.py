"""EPIC-Kitchens-100 ground-truth segments for evaluation: from the CSV or a pickled table.

Sources:

- ``EPIC_100_validation.csv`` (or train): read with
  :func:`~vidstruct.data.formats.epic_kitchens.read_epic_kitchens` (class columns required);
- a pickle (``.pkl``) of a *plain* table, read with the restricted unpickler: a dict of columns
  (``DataFrame.reset_index().to_dict("list")``) or a list of row dicts, with ``narration_id``,
  ``participant_id``, ``verb_class``, ``noun_class`` and, for detection, ``video_id``, ``start_timestamp``,
  ``stop_timestamp`` (``HH:MM:SS.ss`` strings or seconds). The official ``EPIC_100_validation.pkl`` is a pandas
  DataFrame pickle, which cannot be unpickled without running pandas' code: it is refused with a message that
  says so (use the CSV of the same release instead).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vidstruct.data.formats.epic_kitchens import parse_timestamp, read_epic_kitchens
from vidstruct.data.formats.safe_pickle import load_restricted_pickle
from vidstruct.errors import AnnotationError

__all__ = ["EpicLabels", "load_epic_labels"]

_REQUIRED = ("narration_id", "participant_id", "verb_class", "noun_class")


@dataclass(frozen=True)
class EpicLabels:
    """One row per narrated segment, in file order.

    ``verb`` / ``noun``: ``[N]`` int64 class ids; ``start_s`` / ``stop_s``: ``[N]`` float64 seconds (NaN
    where the source has no timestamps); ``video_ids``: ``""`` where unknown.
    """

    source: str
    narration_ids: tuple[str, ...]
    participant_ids: tuple[str, ...]
    video_ids: tuple[str, ...]
    verb: np.ndarray
    noun: np.ndarray
    start_s: np.ndarray
    stop_s: np.ndarray

    @property
    def has_times(self) -> bool:
        return bool(len(self.narration_ids)) and not np.isnan(self.start_s).any() and all(self.video_ids)

    def row_of(self) -> dict[str, int]:
        """``{narration_id: row}``."""
        return {nid: i for i, nid in enumerate(self.narration_ids)}


def _from_csv(path: str, num_verbs: int, num_nouns: int) -> EpicLabels:
    from vidstruct.data.formats._common import read_csv

    header = read_csv(path).header
    if "verb_class" not in header or "noun_class" not in header:
        raise AnnotationError(f"{path}: no verb_class / noun_class columns (a test timestamps file has no labels)")
    clips = read_epic_kitchens(annotations=path, num_verbs=num_verbs, num_nouns=num_nouns)
    return EpicLabels(
        source=path,
        narration_ids=tuple(c.meta["narration_id"] for c in clips),
        participant_ids=tuple(c.meta["participant_id"] for c in clips),
        video_ids=tuple(c.meta["video_id"] for c in clips),
        verb=np.array([c.labels["verb"] for c in clips], dtype=np.int64),
        noun=np.array([c.labels["noun"] for c in clips], dtype=np.int64),
        start_s=np.array([c.start_s for c in clips], dtype=np.float64),
        stop_s=np.array([c.end_s for c in clips], dtype=np.float64),
    )


def _columns(obj: Any, source: str) -> dict[str, list[Any]]:
    if isinstance(obj, Sequence) and not isinstance(obj, (str, bytes)):
        if not all(isinstance(r, Mapping) for r in obj):
            raise AnnotationError(f"{source}: expected a dict of columns or a list of row dicts")
        keys = {k for r in obj for k in r}
        return {k: [r.get(k) for r in obj] for k in keys}
    if isinstance(obj, Mapping):
        cols = {}
        for k, v in obj.items():
            cols[k] = v.tolist() if isinstance(v, np.ndarray) else list(v) if isinstance(v, (list, tuple)) else v
        return cols
    raise AnnotationError(f"{source}: expected a dict of columns or a list of row dicts, got {type(obj).__name__}")


def _seconds(value: Any, source: str, row: int, field: str) -> float:
    if isinstance(value, str):
        try:
            return parse_timestamp(value)
        except ValueError:
            pass
    elif isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        if math.isfinite(float(value)):
            return float(value)
    raise AnnotationError(f"{source}, row {row}, field {field!r}: expected HH:MM:SS.ss or seconds, got {value!r}")


def _from_pickle(path: str, num_verbs: int, num_nouns: int) -> EpicLabels:
    cols = _columns(load_restricted_pickle(path), path)
    missing = [c for c in _REQUIRED if c not in cols]
    if missing:
        raise AnnotationError(f"{path}: missing column(s) {', '.join(missing)}; found {', '.join(map(str, cols))}")
    n = len(cols["narration_id"])
    for k, v in cols.items():
        if not isinstance(v, list) or len(v) != n:
            raise AnnotationError(f"{path}, column {k!r}: expected {n} values like 'narration_id'")
    ints = {}
    for field, limit in (("verb_class", num_verbs), ("noun_class", num_nouns)):
        values = []
        for i, v in enumerate(cols[field]):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not 0 <= v < limit:
                raise AnnotationError(
                    f"{path}, row {i}, field {field!r}: expected a class id in [0, {limit}), got {v!r}"
                )
            values.append(int(v))
        ints[field] = np.array(values, dtype=np.int64)
    for field in ("narration_id", "participant_id") + (("video_id",) if "video_id" in cols else ()):
        for i, v in enumerate(cols[field]):
            if not isinstance(v, str) or not v:
                raise AnnotationError(f"{path}, row {i}, field {field!r}: expected a non-empty string, got {v!r}")
    seen: dict[str, int] = {}
    for i, nid in enumerate(cols["narration_id"]):
        if nid in seen:
            raise AnnotationError(f"{path}, row {i}, field 'narration_id': duplicate {nid!r} (row {seen[nid]})")
        seen[nid] = i
    times = {}
    for field in ("start_timestamp", "stop_timestamp"):
        if field in cols:
            times[field] = np.array([_seconds(v, path, i, field) for i, v in enumerate(cols[field])], np.float64)
        else:
            times[field] = np.full(n, np.nan)
    bad = np.flatnonzero(times["start_timestamp"] > times["stop_timestamp"])
    if bad.size:
        raise AnnotationError(f"{path}, row {int(bad[0])}, field 'stop_timestamp': start is after stop")
    return EpicLabels(
        source=path,
        narration_ids=tuple(cols["narration_id"]),
        participant_ids=tuple(cols["participant_id"]),
        video_ids=tuple(cols["video_id"]) if "video_id" in cols else ("",) * n,
        verb=ints["verb_class"],
        noun=ints["noun_class"],
        start_s=times["start_timestamp"],
        stop_s=times["stop_timestamp"],
    )


def load_epic_labels(path: str | Path, *, num_verbs: int = 97, num_nouns: int = 300) -> EpicLabels:
    """Read labelled EPIC-100 segments from a ``.csv`` or a plain-table ``.pkl`` (module docstring).

    Class ids must lie in ``[0, num_verbs)`` / ``[0, num_nouns)``.
    """
    p = str(path)
    suffix = Path(p).suffix.lower()
    if suffix in (".pkl", ".pickle"):
        return _from_pickle(p, num_verbs, num_nouns)
    if suffix == ".csv":
        return _from_csv(p, num_verbs, num_nouns)
    raise AnnotationError(f"{p}: unknown labels file type {suffix!r}; expected .csv or .pkl")
