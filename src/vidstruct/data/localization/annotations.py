"""Temporal-localization annotations of every supported format → ``(videos, class names)``.

Reuses the readers of :mod:`vidstruct.data.formats` (their errors name the
file, the video and the field) and adds what localization training needs:
the class names in index order, and durations for formats that ship none
(THUMOS14, EPIC-Kitchens-100: taken from the feature store).

- ``activitynet`` / ``hacs``: one JSON, ``subset`` (``"training"``,
  ``"validation"``) filters videos; class order as in
  :func:`~vidstruct.data.formats.read_activitynet` (class file, else taxonomy
  leaves, else sorted label names);
- ``thumos14``: the per-class annotation directory, ``subset`` is the split
  (``"val"`` or ``"test"``); classes: the class file, else sorted file names;
- ``epic``: an EPIC-Kitchens-100 CSV; segments are grouped per ``video_id``
  and labelled by ``epic_label`` (``"verb"``, ``"noun"`` or ``"action"``);
  class names come from ``classes`` (``EPIC_100_verb_classes.csv`` style table
  or a plain list), else ``"<label>_<index>"``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from vidstruct.data.formats._common import load_json, read_class_file
from vidstruct.data.formats.activitynet import read_activitynet, taxonomy_leaves
from vidstruct.data.formats.epic_kitchens import read_epic_classes, read_epic_kitchens
from vidstruct.data.formats.thumos14 import read_thumos14
from vidstruct.data.records import Segment, UntrimmedVideo
from vidstruct.errors import AnnotationError

__all__ = ["FORMATS", "LocalizationAnnotations", "read_localization_annotations"]

Format = Literal["activitynet", "hacs", "thumos14", "epic"]
FORMATS: tuple[str, ...] = ("activitynet", "hacs", "thumos14", "epic")


@dataclass
class LocalizationAnnotations:
    """Annotated videos (``Segment.label_index`` indexes ``classes``) and the class names in index order."""

    videos: list[UntrimmedVideo]
    classes: list[str]
    source: str


def _activitynet_classes(annotations: str, classes: str | None, videos: list[UntrimmedVideo]) -> list[str]:
    if classes:
        return read_class_file(classes)
    data = load_json(annotations)
    if isinstance(data.get("taxonomy"), list) and data["taxonomy"]:
        return taxonomy_leaves(data["taxonomy"])
    names = sorted(
        {
            str(a.get("label"))
            for v in data["database"].values()
            if isinstance(v, dict)
            for a in v.get("annotations", [])
            if isinstance(a, dict)
        }
    )
    return names


def _thumos_classes(annotations: str, classes: str | None, split: str) -> list[str]:
    if classes:
        return read_class_file(classes)
    pattern = re.compile(rf"^(.+)_{split}\.txt$")
    return sorted(
        m.group(1) for p in Path(annotations).iterdir() if (m := pattern.match(p.name)) and m.group(1) != "Ambiguous"
    )


def _epic_class_names(classes: str | None, label: str, count: int) -> list[str]:
    if not classes:
        return [f"{label}_{i}" for i in range(count)]
    if classes.endswith(".csv"):
        return [c.key for c in read_epic_classes(classes)]
    return read_class_file(classes)


def _read_epic(
    annotations: str,
    classes: str | None,
    label: str,
    durations: Mapping[str, float] | None,
    num_verbs: int,
    num_nouns: int,
) -> tuple[list[UntrimmedVideo], list[str]]:
    if label not in ("verb", "noun", "action"):
        raise AnnotationError(f"{annotations}: epic_label must be 'verb', 'noun' or 'action', got {label!r}")
    records = read_epic_kitchens(annotations=annotations, primary=label, num_verbs=num_verbs, num_nouns=num_nouns)  # type: ignore[arg-type]
    count = {"verb": num_verbs, "noun": num_nouns, "action": num_verbs * num_nouns}[label]
    names = _epic_class_names(classes, label, count)
    by_video: dict[str, UntrimmedVideo] = {}
    for rec in records:
        vid = str(rec.meta["video_id"])
        if rec.label < 0:
            raise AnnotationError(f"{annotations}, line {rec.meta.get('line')}, field '{label}_class': unlabelled row")
        if rec.label >= len(names):
            raise AnnotationError(
                f"{annotations}, line {rec.meta.get('line')}, field '{label}_class': class {rec.label} has no name "
                f"in {classes} ({len(names)} names)"
            )
        if vid not in by_video:
            duration = float(durations[vid]) if durations and vid in durations else -1.0
            by_video[vid] = UntrimmedVideo(vid, duration, "", [], rec.path, {})
        if rec.start_s is None or rec.end_s is None:  # the EPIC reader always sets them; guard the contract
            raise AnnotationError(f"{annotations}, line {rec.meta.get('line')}: row without start/stop timestamps")
        by_video[vid].segments.append(Segment(rec.start_s, rec.end_s, names[rec.label], rec.label))
    return list(by_video.values()), names


def read_localization_annotations(
    format: str,
    annotations: str,
    *,
    subset: str | None = None,
    classes: str | None = None,
    durations: Mapping[str, float] | None = None,
    epic_label: str = "verb",
    num_verbs: int = 97,
    num_nouns: int = 300,
) -> LocalizationAnnotations:
    """Read ``annotations`` of ``format`` (see module doc); ``durations`` (video id → seconds) fills missing ones."""
    if format in ("activitynet", "hacs"):
        videos = read_activitynet(annotations, subset=subset, classes=classes)
        names = _activitynet_classes(annotations, classes, videos)
    elif format == "thumos14":
        split = subset or "val"
        videos = read_thumos14(annotations, split=split, classes=classes, durations=durations)
        names = _thumos_classes(annotations, classes, split)
    elif format == "epic":
        videos, names = _read_epic(annotations, classes, epic_label, durations, num_verbs, num_nouns)
    else:
        raise AnnotationError(
            f"{annotations}: unknown localization format {format!r} (expected one of {', '.join(FORMATS)})"
        )
    for v in videos:
        for j, s in enumerate(v.segments):
            if not 0 <= s.label_index < len(names) or names[s.label_index] != s.label:
                raise AnnotationError(
                    f"{annotations}, video {v.video_id!r}, segments[{j}], field 'label': {s.label!r} does not match "
                    f"class {s.label_index} of the class list"
                )
    return LocalizationAnnotations(videos, list(names), str(annotations))
