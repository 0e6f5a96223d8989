"""HMDB51 official split files (``testTrainMulti_7030_splits/``).

One ``<class>_test_split<N>.txt`` per class, lines ``<video>.avi <0|1|2>``
with 1 = train, 2 = test, 0 = unused. Class indices are the sorted class
names; videos are ``<class>/<video>.avi`` under ``root`` (or the split directory).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Literal

from vidstruct.data.formats._common import fail, read_lines, resolve_video_path, to_int
from vidstruct.data.records import ClipList, ClipRecord
from vidstruct.errors import AnnotationError
from vidstruct.registry import DATASETS

__all__ = ["read_hmdb51"]


_HMDB_CODES = {"train": 1, "test": 2}


@DATASETS.register("hmdb51")
def read_hmdb51(
    *, annotations: str, root: str = "", split: int = 1, subset: Literal["train", "test"] = "train"
) -> ClipList:
    """Read HMDB51 split ``split`` (1-3) from the directory ``annotations`` holding ``*_test_split<N>.txt``."""
    directory = Path(annotations)
    if not directory.is_dir():
        raise AnnotationError(f"{annotations}: expected the directory of HMDB51 '*_test_split{split}.txt' files")
    if subset not in _HMDB_CODES:
        raise AnnotationError(f"{annotations}: subset must be 'train' or 'test', got {subset!r}")
    pattern = re.compile(rf"^(.+)_test_split{int(split)}\.txt$")
    files = {m.group(1): p for p in directory.iterdir() if (m := pattern.match(p.name))}
    if not files:
        raise AnnotationError(f"{annotations}: no '<class>_test_split{split}.txt' files found")
    names = sorted(files)
    records = ClipList(class_names=names)
    base = root if root else str(directory)
    for label, name in enumerate(names):
        path = files[name]
        seen: dict[str, int] = {}
        for line, fields in read_lines(path):
            if len(fields) != 2:
                raise fail(path, line, None, f"expected 2 columns '<video>.avi <0|1|2>', got {len(fields)}")
            video, raw = fields
            code = to_int(raw, path, line, "split")
            if code not in (0, 1, 2):
                raise fail(path, line, "split", f"expected 0 (unused), 1 (train) or 2 (test), got {code}")
            if video in seen:
                raise fail(path, line, "video", f"duplicate video {video!r} (first on line {seen[video]})")
            seen[video] = line
            if code == _HMDB_CODES[subset]:
                records.append(
                    ClipRecord(resolve_video_path(os.path.join(name, video), base, path), label, meta={"line": line})
                )
    return records
