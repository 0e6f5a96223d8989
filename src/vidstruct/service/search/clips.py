"""``GET /v1/search``: segments across the collection by label, score, time and video metadata.

``group_by=clip``: each matching segment is a hit. ``group_by=video``: one hit per video, its best segment
(highest score, then lowest id) and how many segments matched (``hit_count``), from one query with window
functions. ``sort=score``: highest score first, ties by segment id (clips) or video id (videos);
``sort=time``: videos in upload order (``created_at``, then video id), segments by ``start_s`` then id.
Only the newest complete analysis of each video is searched.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import Session

from vidstruct.service.db.models import Analysis, Segment, Video
from vidstruct.service.search import cursor
from vidstruct.service.search.cursor import SortKey
from vidstruct.service.search.filters import current_analysis_condition, video_conditions
from vidstruct.service.search.params import ClipQuery
from vidstruct.service.search.results import analysis_models, segment_hit

_SEGMENT_COLUMNS = (
    Segment.id.label("segment_id"),
    Segment.video_id,
    Segment.analysis_id,
    Segment.label,
    Segment.score,
    Segment.start_s,
    Segment.end_s,
    Segment.track,
    Segment.source,
    Segment.model,
    Segment.thumbnail,
    Video.created_at,
)


def segment_conditions(query: ClipQuery) -> list[ColumnElement[bool]]:
    """Label, score and time-overlap conditions on ``segments``."""
    conditions: list[ColumnElement[bool]] = []
    if query.labels:
        conditions.append(Segment.label.in_(query.labels))
    if query.min_score is not None:
        conditions.append(Segment.score >= query.min_score)
    if query.max_score is not None:
        conditions.append(Segment.score <= query.max_score)
    if query.start_s is not None:
        conditions.append(Segment.end_s > query.start_s)
    if query.end_s is not None:
        conditions.append(Segment.start_s < query.end_s)
    return conditions


def _matching(query: ClipQuery, dialect: str, *extra: Any) -> Select[Any]:
    return (
        select(*_SEGMENT_COLUMNS, *extra)
        .join(Analysis, Analysis.id == Segment.analysis_id)
        .join(Video, Video.id == Segment.video_id)
        .where(current_analysis_condition(), *segment_conditions(query), *video_conditions(query.video, dialect))
    )


def search_clips(session: Session, query: ClipQuery, *, limit: int, token: str | None) -> dict[str, Any]:
    """A page of ``limit`` hits after ``token``: ``{"hits": [...], "next_token": str | None}``."""
    dialect = session.get_bind().dialect.name
    fp = cursor.fingerprint({"kind": "clips", **asdict(query)})
    if query.group_by == "video":
        ranked = _matching(
            query,
            dialect,
            func.row_number()
            .over(partition_by=Segment.video_id, order_by=(Segment.score.desc(), Segment.id))
            .label("rank"),
            func.count().over(partition_by=Segment.video_id).label("hit_count"),
        ).subquery()
        c = ranked.c
        keys = (
            [SortKey(c.score, True, float), SortKey(c.video_id, False, str)]
            if query.sort == "score"
            else [SortKey(c.created_at, False, datetime), SortKey(c.video_id, False, str)]
        )
        stmt = select(ranked).where(c.rank == 1)
    else:
        keys = (
            [SortKey(Segment.score, True, float), SortKey(Segment.id, False, int)]
            if query.sort == "score"
            else [
                SortKey(Video.created_at, False, datetime),
                SortKey(Segment.video_id, False, str),
                SortKey(Segment.start_s, False, float),
                SortKey(Segment.id, False, int),
            ]
        )
        stmt = _matching(query, dialect)
    if token:
        stmt = stmt.where(cursor.after(keys, cursor.decode(token, fp, keys)))
    rows = session.execute(stmt.order_by(*(k.order() for k in keys)).limit(limit + 1)).all()
    page, more = rows[:limit], len(rows) > limit
    analyses = analysis_models(session, (r.analysis_id for r in page))
    if query.group_by == "video":
        hits = [
            {"video_id": r.video_id, "analysis_id": r.analysis_id, "best_score": r.score, "hit_count": r.hit_count,
             "best_segment": segment_hit(r, analyses), "models": analyses[r.analysis_id]["models"]}
            for r in page
        ]  # fmt: skip
    else:
        hits = [segment_hit(r, analyses) for r in page]
    token_out = cursor.encode(fp, [getattr(page[-1], name) for name in _names(query)]) if more else None
    return {"hits": hits, "next_token": token_out}


def _names(query: ClipQuery) -> list[str]:
    """The row attributes of the sort key (in the order of the SortKeys)."""
    if query.group_by == "video":
        return ["score", "video_id"] if query.sort == "score" else ["created_at", "video_id"]
    return ["score", "segment_id"] if query.sort == "score" else ["created_at", "video_id", "start_s", "segment_id"]
