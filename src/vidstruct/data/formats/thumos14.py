"""THUMOS14 temporal annotations → :class:`UntrimmedVideo` list.

The annotation directory holds one ``<Class>_<split>.txt`` per class
(``split`` is ``val`` or ``test``), lines ``<video_name> <start> <end>`` in
seconds, plus ``Ambiguous_<split>.txt`` (segments excluded from evaluation,
kept in ``video.meta["ambiguous"]`` as ``(start, end)`` pairs).

Class indices are the sorted class names (or ``classes``, a file of names).
THUMOS ships no durations: pass ``durations`` (video name → seconds), else
``duration_s`` is ``-1`` and must be probed from the video later. ``subset`` is
``"validation"`` / ``"test"``. Videos appear once per video name, in sorted order.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

from vidstruct.data.formats._common import fail, index_classes, read_class_file, read_lines, to_float
from vidstruct.data.records import Segment, UntrimmedVideo
from vidstruct.errors import AnnotationError

__all__ = ["read_thumos14"]

_SUBSETS = {"val": "validation", "test": "test"}


def read_thumos14(
    annotation_dir: str,
    *,
    split: str = "val",
    classes: str | None = None,
    durations: Mapping[str, float] | None = None,
    root: str = "",
    ext: str = ".mp4",
) -> list[UntrimmedVideo]:
    """Read every ``<Class>_<split>.txt`` under ``annotation_dir`` (``split``: ``"val"`` or ``"test"``)."""
    if split not in _SUBSETS:
        raise AnnotationError(f"{annotation_dir}: split must be 'val' or 'test', got {split!r}")
    directory = Path(annotation_dir)
    if not directory.is_dir():
        raise AnnotationError(f"{annotation_dir}: expected the THUMOS14 annotation directory")
    pattern = re.compile(rf"^(.+)_{split}\.txt$")
    files = {m.group(1): p for p in sorted(directory.iterdir()) if (m := pattern.match(p.name))}
    ambiguous_file = files.pop("Ambiguous", None)
    if not files:
        raise AnnotationError(f"{annotation_dir}: no '<Class>_{split}.txt' files found")
    names = read_class_file(classes) if classes else sorted(files)
    index = index_classes(names)
    videos: dict[str, UntrimmedVideo] = {}

    def video(name: str) -> UntrimmedVideo:
        if name not in videos:
            duration = float(durations[name]) if durations and name in durations else -1.0
            path = os.path.join(root, name + ext) if root else None
            videos[name] = UntrimmedVideo(name, duration, _SUBSETS[split], [], path, {"ambiguous": []})
        return videos[name]

    for cls, path in files.items():
        if cls not in index:
            raise AnnotationError(f"{path}: class {cls!r} is not in the class list {classes}")
        for start, end, name in _rows(path):
            video(name).segments.append(Segment(start, end, cls, index[cls]))
    if ambiguous_file is not None:
        for start, end, name in _rows(ambiguous_file):
            video(name).meta["ambiguous"].append((start, end))
    out = [videos[k] for k in sorted(videos)]
    for v in out:
        v.segments.sort(key=lambda s: (s.start_s, s.end_s, s.label_index))
    return out


def _rows(path: Path) -> list[tuple[float, float, str]]:
    rows = []
    for line, fields in read_lines(path):
        if len(fields) != 3:
            raise fail(path, line, None, f"expected 3 columns '<video_name> <start> <end>', got {len(fields)}")
        name = fields[0]
        start = to_float(fields[1], path, line, "start")
        end = to_float(fields[2], path, line, "end")
        if start > end:
            raise fail(path, line, "end", f"start {start} is after end {end}")
        if start < 0:
            raise fail(path, line, "start", f"expected >= 0 seconds, got {start}")
        rows.append((start, end, name))
    return rows
