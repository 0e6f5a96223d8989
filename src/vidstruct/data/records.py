"""Plain records that annotation readers produce and datasets consume.

Readers in :mod:`vidstruct.data.formats` parse files into these; datasets
turn them into clips. Times are seconds; labels are class indices.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class ClipRecord:
    """One labelled sample of a recognition dataset.

    - ``path``: video file (absolute, or relative to the dataset root already joined);
    - ``label``: class index, or ``-1`` when unlabelled (test split);
    - ``start_s`` / ``end_s``: segment of an untrimmed video (``None``: whole video),
      e.g. EPIC-Kitchens narrations cut from the long recording;
    - ``labels``: extra named labels (EPIC: ``{"verb": 3, "noun": 17}``);
    - ``meta``: anything else worth carrying (video id, narration, source line).
    """

    path: str
    label: int = -1
    start_s: float | None = None
    end_s: float | None = None
    labels: dict[str, int] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class Segment:
    """A labelled temporal segment ``[start_s, end_s]`` of an untrimmed video."""

    start_s: float
    end_s: float
    label: str
    label_index: int = -1


@dataclass
class UntrimmedVideo:
    """A video with temporal annotations (ActivityNet / HACS / THUMOS / EPIC)."""

    video_id: str
    duration_s: float
    subset: str
    segments: list[Segment] = field(default_factory=list)
    path: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class BoxAnnotation:
    """One AVA-style row: a person box at a keyframe with one action (and person id)."""

    video_id: str
    timestamp_s: float
    box: tuple[float, float, float, float]  # [x1, y1, x2, y2] normalized to [0, 1]
    action_id: int
    person_id: int = -1
    score: float = 1.0  # detection / proposal confidence; 1.0 for ground truth


class ClipList(list[ClipRecord]):
    """A ``list[ClipRecord]`` that also carries the dataset's ``class_names`` (index → name), when known."""

    def __init__(self, records: list[ClipRecord] | None = None, class_names: list[str] | None = None) -> None:
        super().__init__(records or [])
        self.class_names: list[str] | None = class_names
