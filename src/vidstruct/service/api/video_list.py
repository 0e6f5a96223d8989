"""``GET /v1/videos`` (scope ``read``): the collection's videos, a page at a time, with what a list shows of each.

Every video row is listed, analysed or not (an upload has its row from the moment it is submitted; ``vidstruct
index`` adds rows with their analysis): ``analysis_status`` is ``SUCCEEDED`` when the video has a finished
analysis, else the status of its newest analysis job (``QUEUED | IN_PROGRESS | FAILED | CANCELED``), or ``NONE``
without one. Each item names its current analysis (the newest complete one, as ``GET /v1/videos/{id}`` picks it:
profile name and hash, ``completed_at``), its number of segments, its top labels (at most
:data:`TOP_LABELS`: the labels with the most segments, then the highest score, then by name), the URL of its
first thumbnail (earliest in time; null without one, and for a blocked video when the key cannot review: the
thumbnail route would refuse it) and its moderation state exactly as ``GET /v1/videos/{id}`` says it
(``blocked``, ``blocking_flags``, ``pending_flags``). Durations are seconds, scores probabilities.

Filters: ``label`` (one or more, comma-separated or repeated: the current analysis has a segment with one of them)
and ``min_score`` (such a segment scores at least this; without ``label``, any segment), ``tag`` (repeated: the
video carries every one), ``blocked`` (true / false). ``sort=created`` (upload or indexing time, the default) or
``duration`` (videos of unknown duration last in both orders), ``order=desc`` (default) or ``asc``; ties are broken
by the video id.

Paging is by key (``next_token`` carries the sort key of the page's last video, opaque, base64 of a small JSON), so
a video added or deleted between two pages neither repeats nor hides another one. A page costs one query for the
videos and at most four bounded ones (segment counts and top labels, first thumbnails, live moderation flags, newest
analysis jobs), each over the page's ids: no query per video.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from pathlib import PurePosixPath
from typing import Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, and_, case, exists, func, literal, or_, select
from sqlalchemy.orm import Session, aliased, load_only

from vidstruct.service.api.catalog import blocked_videos
from vidstruct.service.api.deps import db_session, require
from vidstruct.service.auth import grants
from vidstruct.service.db.models import Analysis, ApiKey, Job, ModerationFlag, Segment, Thumbnail, Video
from vidstruct.service.errors import ServiceError
from vidstruct.service.moderation.checker import LIVE_STATUSES, is_blocking
from vidstruct.service.search.filters import current_analysis_condition, video_conditions
from vidstruct.service.search.params import VideoFilter, parse_labels, parse_tags

router = APIRouter(prefix="/v1/videos", tags=["videos"])
TOP_LABELS = 3
MAX_RESULTS = 200


class LabelTally(BaseModel):
    label: str
    segments: int = Field(description="segments with this label in the current analysis")
    max_score: float = Field(description="the highest score of those segments (a probability)")


class ProfileRef(BaseModel):
    name: str
    sha256: str | None


class AnalysisRef(BaseModel):
    analysis_id: str
    profile: ProfileRef
    completed_at: str = Field(description="when it was stored (ISO 8601, UTC)")


class JobRef(BaseModel):
    job_id: str
    status: str = Field(description="QUEUED | IN_PROGRESS | SUCCEEDED | FAILED | CANCELED")


class ModerationState(BaseModel):
    blocked: bool = Field(description="as GET /v1/videos/{id} says it: a block flag awaits a decision or is confirmed")
    blocking_flags: list[str]
    pending_flags: int = Field(description="live flags awaiting a decision (open or escalated)")


class VideoSummary(BaseModel):
    video_id: str
    duration_s: float | None
    width: int | None
    height: int | None
    tags: list[str]
    created_at: str = Field(description="when the video was registered (ISO 8601, UTC)")
    analysis_status: str = Field(description="SUCCEEDED (it has a finished analysis), else its newest analysis "
                                 "job's status (QUEUED | IN_PROGRESS | FAILED | CANCELED), or NONE")  # fmt: skip
    analysis: AnalysisRef | None = Field(description="the current (newest complete) analysis; null: none yet")
    latest_job: JobRef | None = Field(description="the newest analysis job of the video")
    segments: int = Field(description="segments of the current analysis")
    top_labels: list[LabelTally] = Field(description=f"at most {TOP_LABELS}, most segments first")
    thumbnail_url: str | None
    moderation: ModerationState


class VideoList(BaseModel):
    videos: list[VideoSummary]
    next_token: str | None


# --- keyset paging


def _sort_keys(sort: str, descending: bool) -> list[tuple[ColumnElement[Any], bool]]:
    """(expression, descending) pairs ordering the list; none of them is ever NULL."""
    if sort == "created":
        return [(Video.created_at, descending), (Video.id, descending)]
    unknown = case((Video.duration_s.is_(None), 1), else_=0)  # unknown durations last in both orders
    return [(unknown, False), (func.coalesce(Video.duration_s, 0.0), descending), (Video.id, descending)]


def _after(keys: list[tuple[ColumnElement[Any], bool]], values: list[Any]) -> ColumnElement[bool]:
    """Rows after ``values`` in the order of ``keys`` (lexicographic: the first key that differs decides)."""
    terms = []
    for i, (expr, desc) in enumerate(keys):
        equal = [keys[j][0] == values[j] for j in range(i)]
        terms.append(and_(*equal, expr < values[i] if desc else expr > values[i]))
    return or_(*terms)


def _token(sort: str, order: str, values: list[Any]) -> str:
    raw = json.dumps({"s": sort, "d": order, "k": [v.isoformat() if isinstance(v, datetime) else v for v in values]})
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _token_values(token: str, sort: str, order: str) -> list[Any]:
    """The sort key a ``next_token`` carries; 400 for a token this route did not make for this sort and order."""
    bad = ServiceError("next_token is not a token this API returned for this sort and order")
    try:
        value = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        keys = value["k"]
        if value["s"] != sort or value["d"] != order or not isinstance(keys, list):
            raise bad
        if sort == "created" and len(keys) == 2 and isinstance(keys[0], str) and isinstance(keys[1], str):
            created = datetime.fromisoformat(keys[0])
            if created.tzinfo is None:
                raise bad
            return [created, keys[1]]
        if sort == "duration" and len(keys) == 3 and keys[0] in (0, 1) and isinstance(keys[2], str):
            if isinstance(keys[1], (int, float)) and not isinstance(keys[1], bool):
                return [keys[0], float(keys[1]), keys[2]]
    except (binascii.Error, ValueError, TypeError, KeyError, UnicodeDecodeError):
        raise bad from None
    raise bad


# --- the page's aggregates (one query each, over the page's ids)


def _labels(session: Session, analysis_ids: list[str]) -> dict[str, tuple[int, list[LabelTally]]]:
    """analysis id -> (segments, top labels)."""
    if not analysis_ids:
        return {}
    counts = (
        select(Segment.analysis_id, Segment.label, func.count().label("n"), func.max(Segment.score).label("best"))
        .where(Segment.analysis_id.in_(analysis_ids))
        .group_by(Segment.analysis_id, Segment.label)
        .subquery()
    )
    rank = func.row_number().over(
        partition_by=counts.c.analysis_id, order_by=(counts.c.n.desc(), counts.c.best.desc(), counts.c.label)
    )
    total = func.sum(counts.c.n).over(partition_by=counts.c.analysis_id)
    ranked = select(counts, rank.label("rank"), total.label("total")).subquery()
    rows = session.execute(
        select(ranked).where(ranked.c.rank <= TOP_LABELS).order_by(ranked.c.analysis_id, ranked.c.rank)
    )
    out: dict[str, tuple[int, list[LabelTally]]] = {}
    for row in rows:
        _, tops = out.setdefault(row.analysis_id, (int(row.total), []))
        tops.append(LabelTally(label=row.label, segments=int(row.n), max_score=float(row.best)))
    return out


def _first_thumbnails(session: Session, analysis_ids: list[str]) -> dict[str, str]:
    """analysis id -> the file name of its earliest thumbnail."""
    if not analysis_ids:
        return {}
    rank = func.row_number().over(partition_by=Thumbnail.analysis_id, order_by=(Thumbnail.time_s, Thumbnail.id))
    ranked = (
        select(Thumbnail.analysis_id, Thumbnail.path, rank.label("rank"))
        .where(Thumbnail.analysis_id.in_(analysis_ids))
        .subquery()
    )
    rows = session.execute(select(ranked.c.analysis_id, ranked.c.path).where(ranked.c.rank == 1))
    return {analysis_id: PurePosixPath(path).name for analysis_id, path in rows}


def _moderation(session: Session, video_ids: list[str]) -> dict[str, ModerationState]:
    """video id -> its moderation state, computed as :func:`~vidstruct.service.moderation.checker.video_moderation`
    does for one video."""
    fields = (ModerationFlag.id, ModerationFlag.video_id, ModerationFlag.action, ModerationFlag.status,
              ModerationFlag.decision)  # fmt: skip
    flags = session.scalars(
        select(ModerationFlag)
        .options(load_only(*fields))
        .where(ModerationFlag.video_id.in_(video_ids), ModerationFlag.status.in_(LIVE_STATUSES))
    ).all()
    by_video: dict[str, list[ModerationFlag]] = {}
    for flag in flags:
        by_video.setdefault(flag.video_id, []).append(flag)
    out = {}
    for video_id in video_ids:
        live = by_video.get(video_id, [])
        blocking = sorted(f.id for f in live if is_blocking(f))
        pending = sum(1 for f in live if f.status in ("open", "escalated"))
        out[video_id] = ModerationState(blocked=bool(blocking), blocking_flags=blocking, pending_flags=pending)
    return out


def _latest_jobs(session: Session, video_ids: list[str]) -> dict[str, JobRef]:
    """video id -> its newest analysis job."""
    rank = func.row_number().over(partition_by=Job.video_id, order_by=(Job.created_at.desc(), Job.id.desc()))
    ranked = (
        select(Job.video_id, Job.id, Job.status, rank.label("rank"))
        .where(Job.video_id.in_(video_ids), Job.kind == "analysis")
        .subquery()
    )
    rows = session.execute(select(ranked.c.video_id, ranked.c.id, ranked.c.status).where(ranked.c.rank == 1))
    return {video_id: JobRef(job_id=job_id, status=status) for video_id, job_id, status in rows}


# --- the route


@router.get("", summary="the videos of the collection, newest first, with filters and pagination")
def list_videos(
    label: list[str] | None = Query(None, description="the current analysis has a segment with one of these labels"),
    min_score: float | None = Query(None, ge=0.0, le=1.0, description="such a segment scores at least this"),
    tag: list[str] | None = Query(None, description="the video carries every one of these tags"),
    blocked: bool | None = Query(None, description="only blocked (true) or unblocked (false) videos"),
    sort: Literal["created", "duration"] = "created",
    order: Literal["desc", "asc"] = "desc",
    max_results: int = Query(50, ge=1, le=MAX_RESULTS),
    next_token: str | None = Query(None, max_length=1000),
    session: Session = Depends(db_session),
    key: ApiKey = Depends(require("read")),
) -> VideoList:
    """Videos analysed or not, with their current analysis, segment count, top labels, first thumbnail and
    moderation state (see the module doc)."""
    labels = parse_labels(label)
    tags = parse_tags(tag)
    keys = _sort_keys(sort, order == "desc")
    current = aliased(Analysis)
    query = select(
        Video.id, Video.duration_s, Video.width, Video.height, Video.tags, Video.created_at, current.id.label("aid"),
        current.profile_name, current.profile_sha256, current.completed_at,
        *(expr.label(f"k{i}") for i, (expr, _) in enumerate(keys)),
    ).outerjoin(current, and_(current.video_id == Video.id, current_analysis_condition(current)))  # fmt: skip
    if labels or min_score is not None:
        wanted = select(literal(1)).where(Segment.analysis_id == current.id)
        if labels:
            wanted = wanted.where(Segment.label.in_(labels))
        if min_score is not None:
            wanted = wanted.where(Segment.score >= min_score)
        query = query.where(exists(wanted))
    query = query.where(*video_conditions(VideoFilter(tags=tags), session.get_bind().dialect.name))
    if blocked is not None:
        query = query.where(Video.id.in_(blocked_videos()) if blocked else Video.id.not_in(blocked_videos()))
    if next_token:
        query = query.where(_after(keys, _token_values(next_token, sort, order)))
    order_by = [expr.desc() if desc else expr.asc() for expr, desc in keys]
    rows = session.execute(query.order_by(*order_by).limit(max_results + 1)).all()
    page, more = rows[:max_results], len(rows) > max_results
    video_ids = [row.id for row in page]
    analysis_ids = [row.aid for row in page if row.aid is not None]
    labels_of = _labels(session, analysis_ids)
    thumbs = _first_thumbnails(session, analysis_ids)
    moderation = _moderation(session, video_ids) if video_ids else {}
    jobs = _latest_jobs(session, video_ids) if video_ids else {}
    may_review = grants(key.scope, "review")
    items = []
    for row in page:
        state, job = moderation[row.id], jobs.get(row.id)
        count, tops = labels_of.get(row.aid, (0, []))
        thumb = thumbs.get(row.aid) if may_review or not state.blocked else None  # the route would refuse it
        analysis = None
        if row.aid is not None:
            profile = ProfileRef(name=row.profile_name, sha256=row.profile_sha256)
            analysis = AnalysisRef(analysis_id=row.aid, profile=profile, completed_at=row.completed_at.isoformat())
        status = "SUCCEEDED" if analysis is not None else (job.status if job is not None else "NONE")
        items.append(VideoSummary(
            video_id=row.id, duration_s=row.duration_s, width=row.width, height=row.height, tags=list(row.tags or []),
            created_at=row.created_at.isoformat(), analysis_status=status, analysis=analysis, latest_job=job,
            segments=count, top_labels=tops, moderation=state,
            thumbnail_url=f"/v1/videos/{row.id}/thumbnails/{quote(thumb)}" if thumb else None,
        ))  # fmt: skip
    last = page[-1] if page and more else None
    token = _token(sort, order, [getattr(last, f"k{i}") for i in range(len(keys))]) if last is not None else None
    return VideoList(videos=items, next_token=token)
