"""ActivityNet-1.3 and HACS Segments JSON → :class:`UntrimmedVideo` list.

Layout (both datasets)::

    {"taxonomy": [{"nodeName": ..., "nodeId": ..., "parentId": ...}, ...],   # optional
     "database": {"<video id>": {"duration": 82.7, "subset": "training",
                                 "annotations": [{"segment": [t0, t1], "label": "Long jump"}]}}}

Class indices (``Segment.label_index``), first that applies:
1. ``classes``: a file of class names, one per line, in index order;
2. the taxonomy's leaf nodes (nodes nobody names as parent), sorted by name;
3. the sorted label names found in the file.

Segments are kept as given (ActivityNet has a few ending slightly past the
duration); ``t0 > t1`` and unknown labels are errors. ``video_template``
(e.g. ``"v_{video_id}.mp4"``) sets ``path`` under ``root``.
"""

from __future__ import annotations

import os
from typing import Any

from vidstruct.data.formats._common import fail, index_classes, load_json, read_class_file, to_float
from vidstruct.data.records import Segment, UntrimmedVideo
from vidstruct.errors import AnnotationError

__all__ = ["read_activitynet", "read_hacs", "taxonomy_leaves"]


def taxonomy_leaves(taxonomy: list[dict[str, Any]]) -> list[str]:
    """Sorted names of the taxonomy nodes that are nobody's parent (ActivityNet-1.3: 200 classes)."""
    parents = {node.get("parentId") for node in taxonomy}
    return sorted({node["nodeName"] for node in taxonomy if node.get("nodeId") not in parents})


def read_activitynet(
    annotations: str,
    *,
    subset: str | None = None,
    classes: str | None = None,
    root: str = "",
    video_template: str | None = None,
) -> list[UntrimmedVideo]:
    """Read an ActivityNet-style JSON; ``subset`` (``"training"``, ``"validation"``, ``"testing"``) filters videos."""
    data = load_json(annotations)
    if not isinstance(data, dict) or not isinstance(data.get("database"), dict):
        raise AnnotationError(f"{annotations}: expected a JSON object with a 'database' object")
    database: dict[str, Any] = data["database"]
    if classes:
        names = read_class_file(classes)
    elif isinstance(data.get("taxonomy"), list) and data["taxonomy"]:
        try:
            names = taxonomy_leaves(data["taxonomy"])
        except (KeyError, TypeError, AttributeError):
            raise fail(annotations, "taxonomy", "nodeName", "every node needs nodeName / nodeId / parentId") from None
    else:
        names = sorted(
            {
                str(a.get("label"))
                for v in database.values()
                if isinstance(v, dict)
                for a in v.get("annotations", [])
                if isinstance(a, dict)
            }
        )
    index = index_classes(names)
    base = root if root else os.path.dirname(os.path.abspath(annotations))
    videos: list[UntrimmedVideo] = []
    for vid, entry in database.items():
        where = f"database[{vid!r}]"
        if not isinstance(entry, dict):
            raise fail(annotations, where, None, "expected an object")
        video_subset = str(entry.get("subset", ""))
        if subset is not None and video_subset != subset:
            continue
        if "duration" not in entry:
            raise fail(annotations, where, "duration", "missing")
        duration = to_float(entry["duration"], annotations, where, "duration")
        if duration <= 0:
            raise fail(annotations, where, "duration", f"expected > 0 seconds, got {duration}")
        anns = entry.get("annotations", [])
        if not isinstance(anns, list):
            raise fail(annotations, where, "annotations", "expected a list")
        segments: list[Segment] = []
        for j, ann in enumerate(anns):
            at = f"{where}.annotations[{j}]"
            seg = ann.get("segment") if isinstance(ann, dict) else None
            if not isinstance(seg, (list, tuple)) or len(seg) != 2:
                raise fail(annotations, at, "segment", f"expected [start, end], got {seg!r}")
            start = to_float(seg[0], annotations, at, "segment")
            end = to_float(seg[1], annotations, at, "segment")
            if start > end:
                raise fail(annotations, at, "segment", f"start {start} is after end {end}")
            label = str(ann.get("label", ""))
            if label not in index:
                raise fail(annotations, at, "label", f"unknown label {label!r}")
            segments.append(Segment(start, end, label, index[label]))
        path = os.path.join(base, video_template.format(video_id=vid)) if video_template else None
        meta = {k: entry[k] for k in ("url", "resolution") if k in entry}
        videos.append(UntrimmedVideo(vid, duration, video_subset, segments, path, meta))
    return videos


def read_hacs(
    annotations: str,
    *,
    subset: str | None = None,
    classes: str | None = None,
    root: str = "",
    video_template: str | None = None,
) -> list[UntrimmedVideo]:
    """HACS Segments JSON (same layout as ActivityNet-1.3); see :func:`read_activitynet`."""
    return read_activitynet(annotations, subset=subset, classes=classes, root=root, video_template=video_template)
