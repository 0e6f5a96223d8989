"""EPIC-Kitchens-100 action annotations and class tables.

``EPIC_100_train.csv`` / ``EPIC_100_validation.csv`` columns::

    narration_id, participant_id, video_id, narration_timestamp, start_timestamp, stop_timestamp,
    start_frame, stop_frame, narration, verb, verb_class, noun, noun_class, all_nouns, all_noun_classes

Timestamps are ``HH:MM:SS.ss``. Each row is a segment of the untrimmed video
``{participant_id}/{video_id}.MP4`` (``video_template``), read as a
:class:`ClipRecord` with ``start_s`` / ``end_s`` and ``labels = {"verb", "noun"}``.
The EPIC-KITCHENS-100 download (and ``vidstruct synth --task epic``) keeps the videos at
``P01/videos/P01_01.MP4``: ``video_template: "{participant_id}/videos/{video_id}.MP4"``.
The action is the (verb, noun) pair; its index is ``verb * num_nouns + noun``
(``labels["action"]``). ``label`` is the ``primary`` one of the three. Test
CSVs (``EPIC_100_test_timestamps.csv``) lack the class columns → labels -1.

``EPIC_100_verb_classes.csv`` / ``EPIC_100_noun_classes.csv``: ``id,key,instances,category``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from vidstruct.data.formats._common import fail, read_csv, resolve_video_path, to_int
from vidstruct.data.records import ClipList, ClipRecord
from vidstruct.errors import AnnotationError
from vidstruct.registry import DATASETS

__all__ = [
    "EpicClass",
    "parse_timestamp",
    "read_epic_classes",
    "read_epic_kitchens",
    "read_epic_tail_classes",
    "read_epic_unseen_participants",
]

_REQUIRED = ("narration_id", "participant_id", "video_id", "start_timestamp", "stop_timestamp")
_TIMESTAMP = re.compile(r"^(\d+):([0-5]\d):([0-5]\d(?:\.\d+)?)$")


def parse_timestamp(value: str) -> float:
    """``"HH:MM:SS.ss"`` → seconds; ``ValueError`` if malformed."""
    m = _TIMESTAMP.match(value.strip())
    if not m:
        raise ValueError(value)
    return int(m.group(1)) * 3600 + int(m.group(2)) * 60 + float(m.group(3))


def _timestamp(value: str, path: str, line: int, field: str) -> float:
    try:
        return parse_timestamp(value)
    except ValueError:
        raise fail(path, line, field, f"expected HH:MM:SS.ss, got {value!r}") from None


@DATASETS.register("epic_kitchens")
def read_epic_kitchens(
    *,
    annotations: str,
    root: str = "",
    video_template: str = "{participant_id}/{video_id}.MP4",
    primary: Literal["verb", "noun", "action"] = "verb",
    num_verbs: int = 97,
    num_nouns: int = 300,
) -> ClipList:
    """Read an EPIC-Kitchens-100 CSV into one clip per narration segment."""
    if primary not in ("verb", "noun", "action"):
        raise AnnotationError(f"{annotations}: primary must be 'verb', 'noun' or 'action', got {primary!r}")
    table = read_csv(annotations, required=_REQUIRED)
    labelled = "verb_class" in table.header and "noun_class" in table.header
    records = ClipList()
    seen: dict[str, int] = {}
    for line, row in table:
        nid = row["narration_id"]
        if not nid:
            raise fail(annotations, line, "narration_id", "empty id")
        if nid in seen:
            raise fail(annotations, line, "narration_id", f"duplicate narration id {nid!r} (line {seen[nid]})")
        seen[nid] = line
        start = _timestamp(row["start_timestamp"], annotations, line, "start_timestamp")
        stop = _timestamp(row["stop_timestamp"], annotations, line, "stop_timestamp")
        if start > stop:
            raise fail(annotations, line, "stop_timestamp", f"start {start:.2f}s is after stop {stop:.2f}s")
        labels: dict[str, int] = {"verb": -1, "noun": -1, "action": -1}
        if labelled:
            verb = to_int(row["verb_class"], annotations, line, "verb_class")
            noun = to_int(row["noun_class"], annotations, line, "noun_class")
            if not 0 <= verb < num_verbs:
                raise fail(annotations, line, "verb_class", f"class {verb} out of range [0, {num_verbs})")
            if not 0 <= noun < num_nouns:
                raise fail(annotations, line, "noun_class", f"class {noun} out of range [0, {num_nouns})")
            labels = {"verb": verb, "noun": noun, "action": verb * num_nouns + noun}
        rel = video_template.format(participant_id=row["participant_id"], video_id=row["video_id"])
        meta = {
            k: row[k] for k in ("narration_id", "video_id", "participant_id", "narration", "verb", "noun") if k in row
        }
        meta["line"] = line
        records.append(
            ClipRecord(
                resolve_video_path(rel, root, annotations),
                labels[primary],
                start_s=start,
                end_s=stop,
                labels=labels,
                meta=meta,
            )
        )
    return records


@dataclass(frozen=True)
class EpicClass:
    """A row of ``EPIC_100_verb_classes.csv`` / ``EPIC_100_noun_classes.csv``."""

    id: int
    key: str
    instances: list[str]
    category: str


def read_epic_classes(path: str) -> list[EpicClass]:
    """Read a verb / noun class table; ids must be 0..K-1 in order, keys unique.

    ``instances`` is the Python-list-like string of synonyms (``"['take', 'grab']"``), parsed to a list.
    """
    table = read_csv(path, required=("id", "key", "instances", "category"))
    out: list[EpicClass] = []
    keys: dict[str, int] = {}
    for line, row in table:
        cid = to_int(row["id"], path, line, "id")
        if cid != len(out):
            raise fail(path, line, "id", f"expected class id {len(out)} (ids must be 0..K-1 in order), got {cid}")
        key = row["key"]
        if not key:
            raise fail(path, line, "key", "empty class key")
        if key in keys:
            raise fail(path, line, "key", f"duplicate key {key!r} (line {keys[key]})")
        keys[key] = line
        instances = re.findall(r"'([^']*)'|\"([^\"]*)\"", row["instances"])
        out.append(EpicClass(cid, key, [a or b for a, b in instances], row["category"]))
    return out


def read_epic_tail_classes(path: str, column: str) -> frozenset[int]:
    """Read ``EPIC_100_tail_verbs.csv`` / ``EPIC_100_tail_nouns.csv``: one class id per row under the header
    ``column`` (``"verb"`` / ``"noun"``), the layout of the official annotations repository."""
    table = read_csv(path, required=(column,))
    return frozenset(to_int(row[column], path, line, column) for line, row in table)


def read_epic_unseen_participants(path: str) -> frozenset[str]:
    """Read ``EPIC_100_unseen_participant_ids_{validation,test}.csv``: one ``participant_id`` per row (``P18``)."""
    table = read_csv(path, required=("participant_id",))
    out = set()
    for line, row in table:
        if not row["participant_id"]:
            raise fail(path, line, "participant_id", "empty participant id")
        out.add(row["participant_id"])
    return frozenset(out)
