"""Kinetics-style annotations: mmaction2 video lists and the official Kinetics CSVs.

- list (``"kinetics"``): one ``<path> <label>`` per line, ``label`` a 0-based
  class index; paths have no spaces; relative paths join ``root`` (or the
  list file's directory).
- CSV (``"kinetics_csv"``): header ``label,youtube_id,time_start,time_end,split``
  (``label`` absent in test CSVs → label -1). The video file is
  ``{youtube_id}_{time_start:06d}_{time_end:06d}{ext}`` under ``root``
  (``layout="class_dirs"``: under ``root/<label name>/``). Class names map
  to indices through ``classes`` (one name per line) or, without it, the
  sorted unique names of the CSV.
"""

from __future__ import annotations

import os
from typing import Literal

from vidstruct.data.formats._common import (
    fail,
    index_classes,
    read_class_file,
    read_csv,
    read_lines,
    resolve_video_path,
    to_float,
    to_int,
)
from vidstruct.data.records import ClipList, ClipRecord
from vidstruct.registry import DATASETS

__all__ = ["kinetics_file_name", "read_kinetics_csv", "read_video_list"]


@DATASETS.register("kinetics")
def read_video_list(
    *, annotations: str, root: str = "", num_classes: int | None = None, classes: str | None = None
) -> ClipList:
    """Read a ``<path> <label>`` list. ``num_classes`` (or the length of ``classes``) bounds labels."""
    names = read_class_file(classes) if classes else None
    bound = len(names) if names is not None else num_classes
    records = ClipList(class_names=names)
    seen: dict[str, int] = {}
    for line, fields in read_lines(annotations):
        if len(fields) != 2:
            raise fail(annotations, line, None, f"expected 2 columns '<path> <label>', got {len(fields)}")
        rel, raw = fields
        label = to_int(raw, annotations, line, "label")
        if label < 0 or (bound is not None and label >= bound):
            expected = f"[0, {bound})" if bound is not None else ">= 0"
            raise fail(annotations, line, "label", f"class index {label} out of range {expected}")
        if rel in seen:
            raise fail(annotations, line, "path", f"duplicate video {rel!r} (first on line {seen[rel]})")
        seen[rel] = line
        records.append(ClipRecord(resolve_video_path(rel, root, annotations), label, meta={"line": line}))
    return records


def kinetics_file_name(youtube_id: str, time_start: int, time_end: int, ext: str = ".mp4") -> str:
    """``{youtube_id}_{time_start:06d}_{time_end:06d}{ext}`` (the official downloader's naming)."""
    return f"{youtube_id}_{time_start:06d}_{time_end:06d}{ext}"


@DATASETS.register("kinetics_csv")
def read_kinetics_csv(
    *,
    annotations: str,
    root: str = "",
    classes: str | None = None,
    ext: str = ".mp4",
    layout: Literal["flat", "class_dirs"] = "flat",
) -> ClipList:
    """Read an official Kinetics CSV into clips whose ``start_s`` / ``end_s`` are ``None`` (already trimmed)."""
    table = read_csv(annotations, required=("youtube_id", "time_start", "time_end"))
    rows = list(table)
    has_label = "label" in table.header
    if classes:
        names = read_class_file(classes)
    elif has_label:
        names = sorted({row["label"] for _, row in rows})
    else:
        names = None
    index = index_classes(names) if names is not None else {}
    records = ClipList(class_names=names)
    seen: dict[tuple[str, int, int], int] = {}
    for line, row in rows:
        youtube_id = row["youtube_id"]
        if not youtube_id:
            raise fail(annotations, line, "youtube_id", "empty video id")
        start = _whole_seconds(row["time_start"], annotations, line, "time_start")
        end = _whole_seconds(row["time_end"], annotations, line, "time_end")
        if start > end:
            raise fail(annotations, line, "time_end", f"time_start {start} is after time_end {end}")
        key = (youtube_id, start, end)
        if key in seen:
            raise fail(annotations, line, "youtube_id", f"duplicate clip {youtube_id} {start}-{end} (line {seen[key]})")
        seen[key] = line
        label, name = -1, None
        if has_label:
            name = row["label"]
            if name not in index:
                raise fail(annotations, line, "label", f"unknown class name {name!r}")
            label = index[name]
        rel = kinetics_file_name(youtube_id, start, end, ext)
        if layout == "class_dirs":
            if name is None:
                raise fail(annotations, line, "label", "layout 'class_dirs' needs a label column")
            rel = os.path.join(name, rel)
        meta = {"line": line, "youtube_id": youtube_id, "split": row.get("split", "")}
        if name is not None:
            meta["class_name"] = name
        records.append(ClipRecord(resolve_video_path(rel, root, annotations), label, meta=meta))
    return records


def _whole_seconds(value: str, path: str, line: int, field: str) -> int:
    seconds = to_float(value, path, line, field) if "." in value else to_int(value, path, line, field)
    if seconds != int(seconds) or seconds < 0:
        raise fail(path, line, field, f"expected a whole number of seconds >= 0, got {value!r}")
    return int(seconds)
