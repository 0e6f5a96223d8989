"""Something-Something-v2 JSON annotations.

- ``labels.json``: ``{"<class name>": "<index>", ...}`` (174 classes, names
  with the bare word "something": ``"Pushing something from left to right"``);
- ``train.json`` / ``validation.json``: a list of
  ``{"id": "78687", "label": ..., "template": "Pushing [something] from left to right", "placeholders": [...]}``;
  the class is the ``template`` with its brackets removed (``"[something]"`` →
  ``"something"``, ``"[Something]"`` → ``"Something"``), looked up in ``labels.json``;
- ``test.json``: ``[{"id": "1420"}, ...]`` (no template → label -1).

Videos are ``{id}.webm`` under ``root`` (or the annotation file's directory).
JSON errors are located as ``entry <i>`` (0-based position in the list).
"""

from __future__ import annotations

import os
import re

from vidstruct.data.formats._common import fail, load_json, resolve_video_path, to_int
from vidstruct.data.records import ClipList, ClipRecord
from vidstruct.errors import AnnotationError
from vidstruct.registry import DATASETS

__all__ = ["normalize_template", "read_ssv2", "read_ssv2_labels"]


def normalize_template(template: str) -> str:
    """``"Putting [something] onto [something]"`` → ``"Putting something onto something"``."""
    return re.sub(r"\[([^\]]*)\]", r"\1", template).strip()


def read_ssv2_labels(path: str) -> list[str]:
    """``labels.json`` → class names ordered by index (indices must be 0..K-1, each once)."""
    data = load_json(path)
    if not isinstance(data, dict) or not data:
        raise AnnotationError(f"{path}: expected a JSON object {{class name: index}}")
    names: dict[int, str] = {}
    for name, raw in data.items():
        idx = to_int(raw, path, f"key {name!r}", "index")
        if idx in names:
            raise fail(path, f"key {name!r}", "index", f"index {idx} is also used by {names[idx]!r}")
        names[idx] = normalize_template(name)
    if sorted(names) != list(range(len(names))):
        raise AnnotationError(f"{path}: class indices must be 0..{len(names) - 1}, got {sorted(names)}")
    return [names[i] for i in range(len(names))]


@DATASETS.register("ssv2")
def read_ssv2(*, annotations: str, root: str = "", labels: str = "", ext: str = ".webm") -> ClipList:
    """Read an SSv2 split JSON; ``labels`` defaults to ``labels.json`` next to ``annotations``."""
    labels_path = labels or os.path.join(os.path.dirname(os.path.abspath(annotations)), "labels.json")
    names = read_ssv2_labels(labels_path)
    index = {name: i for i, name in enumerate(names)}
    data = load_json(annotations)
    if not isinstance(data, list):
        raise AnnotationError(f"{annotations}: expected a JSON list of {{id, label, template}} entries")
    records = ClipList(class_names=names)
    seen: dict[str, int] = {}
    for i, entry in enumerate(data):
        where = f"entry {i}"
        if not isinstance(entry, dict) or "id" not in entry:
            raise fail(annotations, where, "id", "expected an object with an 'id'")
        vid = str(entry["id"]).strip()
        if not vid:
            raise fail(annotations, where, "id", "empty video id")
        if vid in seen:
            raise fail(annotations, where, "id", f"duplicate video id {vid!r} (entry {seen[vid]})")
        seen[vid] = i
        label = -1
        meta: dict[str, object] = {"id": vid, "entry": i}
        if "template" in entry:
            if not isinstance(entry["template"], str):
                raise fail(annotations, where, "template", f"expected a string, got {entry['template']!r}")
            name = normalize_template(entry["template"])
            if name not in index:
                raise fail(
                    annotations, f"{where} (id {vid})", "template", f"unknown class {name!r} (not in {labels_path})"
                )
            label = index[name]
            meta.update(class_name=name, narration=entry.get("label", ""), placeholders=entry.get("placeholders", []))
        records.append(ClipRecord(resolve_video_path(f"{vid}{ext}", root, annotations), label, meta=meta))
    return records
