"""Search parameters, parsed and validated before any SQL is built.

Labels are class names (``give_object``, ``answer phone``, ``massaging person's head``): letters, digits,
spaces and ``_ - . / ( ) ' & : +``, at most 200 characters; a comma separates several. Anything else (``=``,
``;``, quotes other than the apostrophe, control characters) is refused with one message, before the
database is asked. Values always reach the database as bound parameters.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone

from vidstruct.service.errors import UnprocessableError

MAX_LABELS = 50
LABEL_RE = re.compile(r"^[\w][\w \-./()'&:+]{0,199}$")


def parse_labels(values: Iterable[str] | None, *, name: str = "label") -> tuple[str, ...]:
    """Labels from repeated and/or comma-separated values, deduplicated in order; refuses a bad one (422)."""
    labels: list[str] = []
    for value in values or ():
        for part in value.split(","):
            label = part.strip()
            if not label:
                raise UnprocessableError(f"{name}: an empty label (a comma list needs a label between commas)")
            if not LABEL_RE.match(label) or label.endswith(" "):
                raise UnprocessableError(
                    f"{name}: a label is 1-200 letters, digits, spaces or _-./()'&:+ (starting with a letter or digit)"
                )
            if label not in labels:
                labels.append(label)
    if len(labels) > MAX_LABELS:
        raise UnprocessableError(f"{name}: at most {MAX_LABELS} labels")
    return tuple(labels)


def parse_tags(values: Iterable[str] | None) -> tuple[str, ...]:
    """Video tags (same syntax as labels): a video must carry every one."""
    return parse_labels(values, name="tags")


def check_range(low: float | datetime | None, high: float | datetime | None, low_name: str, high_name: str) -> None:
    """422 when both bounds are given and ``low`` is above ``high``."""
    if low is not None and high is not None and low > high:
        raise UnprocessableError(f"{low_name} is above {high_name}: the range is empty")


def utc(value: datetime | None) -> datetime | None:
    """A timestamp as UTC (one without a zone is taken as UTC)."""
    if value is None:
        return None
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


@dataclass(frozen=True)
class VideoFilter:
    """Conditions on the video a hit comes from (all optional; ``tags``: the video carries every one)."""

    min_duration_s: float | None = None
    max_duration_s: float | None = None
    min_size_bytes: int | None = None
    max_size_bytes: int | None = None
    tags: tuple[str, ...] = ()
    uploaded_after: datetime | None = None
    uploaded_before: datetime | None = None

    def __post_init__(self) -> None:
        check_range(self.min_duration_s, self.max_duration_s, "min_duration_s", "max_duration_s")
        check_range(self.min_size_bytes, self.max_size_bytes, "min_size_bytes", "max_size_bytes")
        check_range(self.uploaded_after, self.uploaded_before, "uploaded_after", "uploaded_before")


@dataclass(frozen=True)
class ClipQuery:
    """``GET /v1/search``: segments with one of ``labels`` (any label when empty), a score in
    [``min_score``, ``max_score``], overlapping [``start_s``, ``end_s``] (open overlap: a segment that only
    touches the range is not in it), from videos matching ``video``."""

    labels: tuple[str, ...] = ()
    min_score: float | None = None
    max_score: float | None = None
    start_s: float | None = None
    end_s: float | None = None
    video: VideoFilter = VideoFilter()
    group_by: str = "clip"
    sort: str = "score"

    def __post_init__(self) -> None:
        check_range(self.min_score, self.max_score, "min_score", "max_score")
        check_range(self.start_s, self.end_s, "start_s", "end_s")


@dataclass(frozen=True)
class SequenceQuery:
    """``GET /v1/search/sequence``: a ``first`` segment followed by a ``then`` segment of the same analysis.

    ``B`` follows ``A`` when ``A.end_s <= B.start_s <= A.end_s + within_s`` (the gap ``B.start_s - A.end_s``
    is in [0, ``within_s``], both edges included). With ``allow_overlap`` the lower bound becomes
    ``B.start_s > A.start_s`` (B may begin before A ends: a negative gap). ``same_track``: both segments carry
    the same actor track (segments without a track never match then).
    """

    first: str
    then: str
    within_s: float
    allow_overlap: bool = False
    same_track: bool = False
    min_score: float | None = None
    video: VideoFilter = VideoFilter()
    sort: str = "time"
