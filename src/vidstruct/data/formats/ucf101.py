"""UCF101 official split files (``ucfTrainTestlist/``).

- ``classInd.txt``: ``<index> <ClassName>`` with 1-based indices;
- ``trainlist0N.txt``: ``<Class>/<video>.avi <index>`` (1-based; must agree with the directory);
- ``testlist0N.txt``: ``<Class>/<video>.avi`` (label from the directory, case-insensitive).

Labels become 0-based: ``label = index - 1``. Relative paths join ``root``
(or the list file's directory).
"""

from __future__ import annotations

import os

from vidstruct.data.formats._common import fail, read_lines, resolve_video_path, to_int
from vidstruct.data.records import ClipList, ClipRecord
from vidstruct.errors import AnnotationError
from vidstruct.registry import DATASETS

__all__ = ["read_ucf101", "read_ucf_class_index"]


def read_ucf_class_index(path: str) -> list[str]:
    """``classInd.txt`` → class names in 0-based order (indices must be 1..K, each once)."""
    names: dict[int, str] = {}
    for line, fields in read_lines(path):
        if len(fields) != 2:
            raise fail(path, line, None, f"expected 2 columns '<index> <ClassName>', got {len(fields)}")
        idx = to_int(fields[0], path, line, "index")
        if idx in names:
            raise fail(path, line, "index", f"duplicate class index {idx}")
        names[idx] = fields[1]
    if sorted(names) != list(range(1, len(names) + 1)):
        raise AnnotationError(f"{path}: class indices must be 1..{len(names)}, got {sorted(names)}")
    return [names[i] for i in range(1, len(names) + 1)]


@DATASETS.register("ucf101")
def read_ucf101(*, annotations: str, root: str = "", class_index: str = "") -> ClipList:
    """Read a UCF101 train or test list; ``class_index`` defaults to ``classInd.txt`` beside it."""
    ind_path = class_index or os.path.join(os.path.dirname(os.path.abspath(annotations)), "classInd.txt")
    names = read_ucf_class_index(ind_path)
    by_dir = {n.lower(): i for i, n in enumerate(names)}
    records = ClipList(class_names=names)
    seen: dict[str, int] = {}
    for line, fields in read_lines(annotations):
        if len(fields) not in (1, 2):
            raise fail(annotations, line, None, f"expected '<Class>/<video>.avi [index]', got {len(fields)} columns")
        rel = fields[0]
        class_dir = rel.replace("\\", "/").split("/")[0] if "/" in rel.replace("\\", "/") else ""
        dir_label = by_dir.get(class_dir.lower())
        if len(fields) == 2:
            idx = to_int(fields[1], annotations, line, "label")
            if not 1 <= idx <= len(names):
                raise fail(annotations, line, "label", f"class index {idx} out of range 1..{len(names)} ({ind_path})")
            label = idx - 1
            if dir_label is not None and dir_label != label:
                raise fail(
                    annotations, line, "label", f"index {idx} ({names[label]}) disagrees with directory {class_dir!r}"
                )
        else:
            if dir_label is None:
                raise fail(annotations, line, "path", f"unknown class directory {class_dir!r} (not in {ind_path})")
            label = dir_label
        if rel in seen:
            raise fail(annotations, line, "path", f"duplicate video {rel!r} (first on line {seen[rel]})")
        seen[rel] = line
        records.append(ClipRecord(resolve_video_path(rel, root, annotations), label, meta={"line": line}))
    return records
