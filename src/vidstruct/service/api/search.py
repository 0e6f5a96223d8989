"""``/v1/search``: segments across the collection (labels, scores, time, video metadata) and temporal
"A then B within Δ seconds" pairs; scope ``read``; keyset pagination with ``next_token``.

Every hit names the model version that made it (``model_version``: name, task, checkpoint hash) and the
analysis it comes from; only the newest complete analysis of each video is searched. Times are seconds,
scores probabilities in [0, 1]. A bad label, an empty range or a token from another query is refused with
problem JSON (422 / 400).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Query
from sqlalchemy.orm import Session

from vidstruct.service.api.deps import db_session, require
from vidstruct.service.db.models import ApiKey
from vidstruct.service.errors import UnprocessableError
from vidstruct.service.search.clips import search_clips
from vidstruct.service.search.params import ClipQuery, SequenceQuery, VideoFilter, parse_labels, parse_tags, utc
from vidstruct.service.search.sequence import search_sequence

router = APIRouter(prefix="/v1/search", tags=["search"])
_MAX_RESULTS = 1000
_MAX_TIME_S = 1e7  # far beyond any video; keeps the values finite and comparable on every database


class VideoParams:
    """The video metadata filters shared by both searches (a FastAPI dependency)."""

    def __init__(
        self,
        min_duration_s: float | None = Query(None, ge=0, le=_MAX_TIME_S, description="shortest video (seconds)"),
        max_duration_s: float | None = Query(None, ge=0, le=_MAX_TIME_S, description="longest video (seconds)"),
        min_size_bytes: int | None = Query(None, ge=0, le=2**62, description="smallest video file (bytes)"),
        max_size_bytes: int | None = Query(None, ge=0, le=2**62, description="largest video file (bytes)"),
        tags: list[str] | None = Query(None, description="the video carries every tag (repeat or comma list)"),
        uploaded_after: datetime | None = Query(None, description="uploaded at or after (ISO 8601; UTC if no zone)"),
        uploaded_before: datetime | None = Query(None, description="uploaded before (ISO 8601; UTC if no zone)"),
    ) -> None:
        self.filter = VideoFilter(
            min_duration_s=min_duration_s,
            max_duration_s=max_duration_s,
            min_size_bytes=min_size_bytes,
            max_size_bytes=max_size_bytes,
            tags=parse_tags(tags),
            uploaded_after=utc(uploaded_after),
            uploaded_before=utc(uploaded_before),
        )


@router.get("", summary="segments across the collection by label, score, time and video metadata")
def search(
    label: list[str] | None = Query(None, description="one or several labels (repeat or comma list); any if absent"),
    min_score: float | None = Query(None, ge=0.0, le=1.0, description="lowest score (a probability)"),
    max_score: float | None = Query(None, ge=0.0, le=1.0, description="highest score (a probability)"),
    start_s: float | None = Query(None, ge=0, le=_MAX_TIME_S, description="segments ending after this time"),
    end_s: float | None = Query(None, ge=0, le=_MAX_TIME_S, description="segments starting before this time"),
    group_by: str = Query("clip", pattern="^(clip|video)$", description="clip: a hit per segment; video: per video"),
    sort: str = Query("score", pattern="^(score|time)$", description="score: best first; time: upload, then start"),
    max_results: int = Query(100, ge=1, le=_MAX_RESULTS),
    next_token: str | None = Query(None, max_length=2000),
    video: VideoParams = Depends(),
    session: Session = Depends(db_session),
    _: ApiKey = Depends(require("read")),
) -> dict[str, Any]:
    """Segments of the newest complete analysis of each video that have one of the labels, a score in
    [min_score, max_score] and overlap [start_s, end_s] (a segment that only touches the range is not in it),
    from videos matching the metadata filters. ``group_by=video``: one hit per video with its best segment and
    ``hit_count``."""
    query = ClipQuery(
        labels=parse_labels(label),
        min_score=min_score,
        max_score=max_score,
        start_s=start_s,
        end_s=end_s,
        video=video.filter,
        group_by=group_by,
        sort=sort,
    )
    page = search_clips(session, query, limit=max_results, token=next_token)
    return {"group_by": group_by, "sort": sort, **page}


@router.get("/sequence", summary='"A then B within N seconds": pairs of segments in the same video')
def sequence(
    first: str = Query(..., max_length=200, description="label of the first segment (A)"),
    then: str = Query(..., max_length=200, description="label of the segment that follows (B)"),
    within_s: float = Query(..., ge=0, le=_MAX_TIME_S, description="largest gap B.start_s - A.end_s (seconds)"),
    allow_overlap: bool = Query(False, description="B may start before A ends (after A starts)"),
    same_track: bool = Query(False, description="A and B carry the same actor track"),
    min_score: float | None = Query(None, ge=0.0, le=1.0, description="both segments score at least this"),
    sort: str = Query("time", pattern="^(score|time)$", description="time: upload, then A's start; score: A*B"),
    max_results: int = Query(100, ge=1, le=_MAX_RESULTS),
    next_token: str | None = Query(None, max_length=2000),
    video: VideoParams = Depends(),
    session: Session = Depends(db_session),
    _: ApiKey = Depends(require("read")),
) -> dict[str, Any]:
    """Pairs (A, B) of one analysis with ``A.end_s <= B.start_s <= A.end_s + within_s`` (``allow_overlap``:
    ``A.start_s < B.start_s``), ``gap_s = B.start_s - A.end_s``; ``score`` is ``A.score * B.score``."""
    (first_label,) = _one_label(first, "first")
    (then_label,) = _one_label(then, "then")
    query = SequenceQuery(
        first=first_label,
        then=then_label,
        within_s=within_s,
        allow_overlap=allow_overlap,
        same_track=same_track,
        min_score=min_score,
        video=video.filter,
        sort=sort,
    )
    page = search_sequence(session, query, limit=max_results, token=next_token)
    return {"first": first_label, "then": then_label, "within_s": within_s, "sort": sort, **page}


def _one_label(value: str, name: str) -> tuple[str]:
    """Exactly one valid label (422 otherwise)."""
    labels = parse_labels([value], name=name)
    if len(labels) != 1:
        raise UnprocessableError(f"{name}: exactly one label")
    return (labels[0],)
