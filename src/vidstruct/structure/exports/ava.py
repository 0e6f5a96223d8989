"""AVA detections CSV of a structure's actors, with the label map that gives its action ids.

``PATH``: no header, one row per (actor, action), the layout of AVA v2.2 result files that the
official evaluator (``ava_eval``) and :func:`vidstruct.data.formats.ava.read_ava_proposals` read::

    video_id, keyframe_s, x1, y1, x2, y2, action_id, score

- ``keyframe_s``: the actor's ``time_s``; whole seconds are written as AVA does (``0002``), other
  times with their milliseconds (``2.5``; the official evaluator reads whole seconds only);
- box normalized to [0, 1], full precision; ``score``: the action's probability;
- ``action_id``: 1 + the action's position in the actor model's ``classes``;
- actors without actions have no row (the format has no action-less detections).

``<stem>.label_map.pbtxt``: ``item { name: "..." id: N }`` per class, as AVA's
``ava_action_list_v2.2_for_activitynet_2019.pbtxt`` (read by
:func:`vidstruct.data.formats.ava.read_ava_label_map`). Every actor model must list the same
``classes``, and at least one actor model must exist.
"""

from __future__ import annotations

import csv
from pathlib import Path

from vidstruct.atomic import atomic_open, write_text_atomic
from vidstruct.structure.builders import StructureDocument
from vidstruct.structure.errors import StructureError, json_path
from vidstruct.structure.exports import companion
from vidstruct.structure.files import Structure

__all__ = ["action_classes", "export", "keyframe", "label_map_pbtxt"]

_ACTOR_TASKS = ("person-detection", "action-detection")


def action_classes(doc: StructureDocument, source: str) -> list[str]:
    """The class list shared by the actor models (the label map); StructureError when there is none."""
    by_task = {task: [k for k, m in doc["models"].items() if m["task"] == task] for task in _ACTOR_TASKS}
    # the actors' own models; without actors, the action detector's classes (a person detector beside it only
    # names where the boxes came from), else a person detector's
    keys = sorted({a["model"] for a in doc["actors"]}) or by_task["action-detection"] or by_task["person-detection"]
    if not keys:
        raise StructureError(
            source,
            "$.models",
            "AVA export needs an actor model (task person-detection or action-detection); this document has none",
        )
    classes = None
    for key in keys:
        own = doc["models"][key]["classes"]
        if own is None:
            raise StructureError(
                source,
                json_path(("models", key, "classes")),
                "AVA export needs the model's action classes (action ids are positions in it); it is null",
            )
        if classes is not None and own != classes:
            raise StructureError(
                source,
                json_path(("models", key, "classes")),
                f"actor models {keys[0]!r} and {key!r} list different classes: one label map cannot hold both",
            )
        classes = own
    assert classes is not None
    return classes


def keyframe(t: float) -> str:
    """AVA's keyframe column: whole seconds as 4 digits (``0902``), else seconds with milliseconds."""
    return f"{int(t):04d}" if float(t).is_integer() else repr(round(t, 3))


def label_map_pbtxt(classes: list[str]) -> str:
    """``item { name: "..." id: N }`` blocks, ids from 1 in class order."""
    lines = []
    for i, name in enumerate(classes):
        quoted = name.replace("\\", "\\\\").replace('"', '\\"')
        lines += ["item {", f'  name: "{quoted}"', f"  id: {i + 1}", "}"]
    return "\n".join(lines) + "\n"


def export(structure: Structure, out: Path) -> list[Path]:
    """Write the detections to ``out`` and the label map to ``<stem>.label_map.pbtxt``."""
    doc = structure.document
    classes = action_classes(doc, str(structure.path))
    ids = {name: i + 1 for i, name in enumerate(classes)}
    video_id = doc["video"]["id"]
    with atomic_open(out, "w") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        for actor in doc["actors"]:
            x1, y1, x2, y2 = actor["box"]
            for action in actor["actions"]:
                row = [video_id, keyframe(actor["time_s"]), x1, y1, x2, y2, ids[action["label"]], action["prob"]]
                writer.writerow([str(v) for v in row])
    label_map = companion(out, "label_map", "pbtxt")
    write_text_atomic(label_map, label_map_pbtxt(classes))
    return [out, label_map]
