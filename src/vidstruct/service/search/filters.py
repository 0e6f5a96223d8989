"""SQL conditions every search shares, as SQLAlchemy expressions (values are bound parameters).

:func:`current_analysis_condition` keeps the newest complete analysis of each video, exactly as
:func:`vidstruct.service.db.store.current_analysis` picks it (latest ``completed_at``, then the larger id):
an older analysis's rows never appear. :func:`video_conditions` filters on the ``videos`` row; tags are a JSON
list, searched with the database's own JSON functions (``json_each`` on SQLite,
``json_array_elements_text`` on PostgreSQL).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, ColumnElement, and_, exists, func, literal, or_, select
from sqlalchemy.orm import aliased

from vidstruct.service.db.models import Analysis, Video
from vidstruct.service.search.params import VideoFilter


def current_analysis_condition(analysis: Any = Analysis) -> ColumnElement[bool]:
    """``analysis`` (the Analysis entity or an alias of it) is the newest complete one of its video."""
    newer = aliased(Analysis)
    return and_(
        analysis.status == "complete",
        ~exists(
            select(literal(1)).where(
                newer.video_id == analysis.video_id,
                newer.status == "complete",
                or_(
                    newer.completed_at > analysis.completed_at,
                    and_(newer.completed_at == analysis.completed_at, newer.id > analysis.id),
                ),
            )
        ),
    )


def _has_tag(dialect: str, tag: str) -> ColumnElement[bool]:
    if dialect == "postgresql":
        elements = func.json_array_elements_text(Video.tags).table_valued("value")
    else:
        elements = func.json_each(Video.tags).table_valued("value")
    return exists(select(literal(1)).select_from(elements).where(elements.c.value == tag))


def video_conditions(video: VideoFilter, dialect: str) -> list[ColumnElement[bool]]:
    """Conditions on ``videos`` for ``video`` (join ``videos`` to the rows searched)."""
    conditions: list[ColumnElement[bool]] = []
    if video.min_duration_s is not None:
        conditions.append(Video.duration_s >= video.min_duration_s)
    if video.max_duration_s is not None:
        conditions.append(Video.duration_s <= video.max_duration_s)
    # sizes bound as 64-bit integers: a bound past 2**31 must not be cast to the column's 32-bit INTEGER
    if video.min_size_bytes is not None:
        conditions.append(Video.size_bytes >= literal(video.min_size_bytes, BigInteger))
    if video.max_size_bytes is not None:
        conditions.append(Video.size_bytes <= literal(video.max_size_bytes, BigInteger))
    if video.uploaded_after is not None:
        conditions.append(Video.created_at >= video.uploaded_after)
    if video.uploaded_before is not None:
        conditions.append(Video.created_at < video.uploaded_before)
    conditions.extend(_has_tag(dialect, tag) for tag in video.tags)
    return conditions
