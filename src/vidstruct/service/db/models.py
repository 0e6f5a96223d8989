"""The service's tables (SQLAlchemy 2 ORM). The schema itself is made by the Alembic migrations in
``migrations/versions``; a test checks that they and these models agree.

==================== ======================================================================================
table                one row per
==================== ======================================================================================
``videos``           video file, deduplicated by the SHA-256 of its bytes (``stored``: the file lives under
                     the data folder and goes with the row; otherwise it is a server-side file under an
                     allowed root, never deleted by the service)
``analyses``         finished analysis of a video with one profile (name + hash): the models that made it
                     (``models``), the ``vidstruct.structure/1`` document itself (``document``) and its folder
                     (thumbnails, embeddings). Readers see the newest one (``completed_at``); a re-analysis
                     adds a row in the same transaction as its results, so old results stay until then
``jobs``             queued work, ``kind`` ``analysis`` (a video to analyze) or ``reel`` (a highlight reel to
                     render, ``reel_id``): status ``QUEUED | IN_PROGRESS | SUCCEEDED | FAILED | CANCELED``,
                     attempts, the lease (``lease_owner``, ``lease_expires_at``), per-stage progress (percent),
                     the error, and what the client asked (features, profile, token, tag, webhook)
``shots``            shot of an analysis (seconds)
``segments``         labelled time span of an analysis: label, start_s, end_s, score (a probability), the
                     actor ``track`` when it has one; indexed on (label, score) and (video_id, start_s)
``windows``          recognition window: span, top labels, the row of its embedding in the analysis's
                     ``embeddings.npy``
``actors``           actor box at one instant (track, time, box ``[x1, y1, x2, y2]`` in [0, 1], actions)
``thumbnails``       JPEG of a shot or segment, relative to the analysis folder
``api_keys``         API key: only its SHA-256 is stored, with a scope and an optional rate limit
                     (``sessions_not_before``: its web sessions issued earlier were ended by "sign out
                     everywhere")
``web_sessions_ended`` signed-out web session: its token's SHA-256 until the token expires (then purged)
``audit_log``        append-only record of who did what (key created, video deleted, review...)
``webhook_deliveries`` try to call a job's webhook (its outbox row: ``delivery_id``; None for tries made before
                     the outbox, migration 0007)
``webhook_outbox``   webhook a job owes (written in the transaction that ends the job): the signed body, tries,
                     when the next is due, ``pending | delivered | failed``, the last error and the delivering
                     worker's lease (:mod:`vidstruct.service.jobs.outbox`)
``workers``          worker process and its heartbeat (``GET /healthz`` counts those alive)
``moderation_flags`` match of a moderation rule on a segment (or a run of an actor track's keyframes) of a
                     video's newest complete analysis, with its evidence (segment, label, span, probability,
                     thumbnail, rule, analysis, models, policy hash) and status ``open | escalated |
                     reviewed | superseded``; reviews are audit entries
``moderation_policies`` moderation policy applied to the whole collection (its hash; the newest is current)
``indexed_videos``   video content stored by ``vidstruct index`` with one profile hash: its primary key (content
                     SHA-256, profile hash) makes the batch writes exactly-once; goes with its analysis
==================== ======================================================================================

Times of day are UTC; every id the API shows is a 32-character hex string.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

JOB_STATUSES = ("QUEUED", "IN_PROGRESS", "SUCCEEDED", "FAILED", "CANCELED")
JOB_KINDS = ("analysis", "reel")
SCOPES = ("read", "write", "review", "admin")


def new_id() -> str:
    """A fresh random id (32 hex characters)."""
    return uuid.uuid4().hex


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored as UTC and read back timezone-aware on every backend (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("UTCDateTime needs a timezone-aware datetime")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


class Base(DeclarativeBase):
    pass


class Video(Base):
    __tablename__ = "videos"
    # GET /v1/videos pages by (created_at, id) (migration 0009)
    __table_args__ = (Index("ix_videos_created_id", "created_at", "id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    path: Mapped[str] = mapped_column(Text)  # relative to the data folder when stored, else absolute
    stored: Mapped[bool] = mapped_column(Boolean)
    filename: Mapped[str | None] = mapped_column(Text)  # the name the client gave (never logged)
    # files of 2 GiB and more; SQLite's INTEGER is 64-bit already (migration 0003 changes PostgreSQL only)
    size_bytes: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    duration_s: Mapped[float | None] = mapped_column(Float)
    fps: Mapped[float | None] = mapped_column(Float)
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    codec: Mapped[str | None] = mapped_column(String(64))
    probe: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)


class Analysis(Base):
    __tablename__ = "analyses"
    __table_args__ = (Index("ix_analyses_video_completed", "video_id", "completed_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    video_id: Mapped[str] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"))
    job_id: Mapped[str | None] = mapped_column(String(32))
    profile_name: Mapped[str] = mapped_column(String(200))
    profile_sha256: Mapped[str | None] = mapped_column(String(64))
    models: Mapped[dict[str, Any]] = mapped_column(JSON)  # name -> {name, task, checkpoint_sha256, ...}
    status: Mapped[str] = mapped_column(String(16), default="complete")
    folder: Mapped[str] = mapped_column(Text)  # relative to the data folder
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    completed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_status_created", "status", "created_at"),
        Index("ix_jobs_video", "video_id"),
        Index("ix_jobs_kind_created", "kind", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    kind: Mapped[str] = mapped_column(String(16), default="analysis", server_default="analysis")  # JOB_KINDS
    reel_id: Mapped[str | None] = mapped_column(String(32))  # the reel a reel job renders
    client_request_token: Mapped[str | None] = mapped_column(String(64), unique=True)
    video_id: Mapped[str | None] = mapped_column(ForeignKey("videos.id", ondelete="SET NULL"))
    features: Mapped[list[str]] = mapped_column(JSON)
    profile: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default="QUEUED")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    progress: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # stage -> percent
    error: Mapped[str | None] = mapped_column(Text)
    webhook_url: Mapped[str | None] = mapped_column(Text)
    job_tag: Mapped[str | None] = mapped_column(String(256))
    min_confidence: Mapped[float] = mapped_column(Float, default=0.0)
    analysis_id: Mapped[str | None] = mapped_column(String(32))
    api_key_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class _AnalysisRow:
    """Columns every result row has: its analysis (rows go with it) and its video (for time queries)."""

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    analysis_id: Mapped[str] = mapped_column(ForeignKey("analyses.id", ondelete="CASCADE"), index=True)
    video_id: Mapped[str] = mapped_column(String(32))


class Shot(_AnalysisRow, Base):
    __tablename__ = "shots"

    index: Mapped[int] = mapped_column(Integer)
    start_s: Mapped[float] = mapped_column(Float)
    end_s: Mapped[float] = mapped_column(Float)
    confidence: Mapped[float] = mapped_column(Float)
    thumbnail: Mapped[str | None] = mapped_column(Text)
    model: Mapped[str] = mapped_column(String(200))


class Segment(_AnalysisRow, Base):
    __tablename__ = "segments"
    __table_args__ = (
        Index("ix_segments_label_score", "label", "score"),
        Index("ix_segments_video_start", "video_id", "start_s"),
    )

    label: Mapped[str] = mapped_column(String(200))
    start_s: Mapped[float] = mapped_column(Float)
    end_s: Mapped[float] = mapped_column(Float)
    score: Mapped[float] = mapped_column(Float)  # a probability
    source: Mapped[str] = mapped_column(String(32))
    model: Mapped[str] = mapped_column(String(200))
    shot: Mapped[int | None] = mapped_column(Integer)
    track: Mapped[int | None] = mapped_column(Integer)
    thumbnail: Mapped[str | None] = mapped_column(Text)


class Window(_AnalysisRow, Base):
    __tablename__ = "windows"
    __table_args__ = (Index("ix_windows_video_start", "video_id", "start_s"),)

    start_s: Mapped[float] = mapped_column(Float)
    end_s: Mapped[float] = mapped_column(Float)
    embedding_row: Mapped[int | None] = mapped_column(Integer)
    top: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    model: Mapped[str] = mapped_column(String(200))


class Actor(_AnalysisRow, Base):
    __tablename__ = "actors"
    __table_args__ = (Index("ix_actors_video_time", "video_id", "time_s"),)

    track_id: Mapped[int] = mapped_column(Integer)
    time_s: Mapped[float] = mapped_column(Float)
    box: Mapped[list[float]] = mapped_column(JSON)  # [x1, y1, x2, y2] in [0, 1]
    score: Mapped[float] = mapped_column(Float)
    actions: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    model: Mapped[str] = mapped_column(String(200))


class Thumbnail(_AnalysisRow, Base):
    __tablename__ = "thumbnails"

    path: Mapped[str] = mapped_column(Text)  # relative to the analysis folder
    time_s: Mapped[float] = mapped_column(Float)
    kind: Mapped[str] = mapped_column(String(16))
    ref: Mapped[int] = mapped_column(Integer)


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)  # SHA-256 of the key; the key is never stored
    prefix: Mapped[str] = mapped_column(String(16))  # the key's first characters, to tell keys apart
    name: Mapped[str | None] = mapped_column(String(200))
    scope: Mapped[str] = mapped_column(String(16))
    rate_limit_per_min: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # "sign out everywhere" (migration 0008): web sessions issued before this time (whole seconds) are refused
    sessions_not_before: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WebSessionEnded(Base):
    """A signed-out web session: the SHA-256 of its token (never the token), kept until the token expires."""

    __tablename__ = "web_sessions_ended"
    __table_args__ = (Index("ix_web_sessions_ended_expires", "expires_at"),)

    token_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    key_id: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)


class AuditEntry(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    actor: Mapped[str] = mapped_column(String(200))  # "key:<id>" or "cli"
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str | None] = mapped_column(String(200))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class WebhookDelivery(Base):
    __tablename__ = "webhook_deliveries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(String(32), index=True)
    url: Mapped[str] = mapped_column(Text)
    attempt: Mapped[int] = mapped_column(Integer)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    delivered: Mapped[bool] = mapped_column(Boolean, default=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    delivery_id: Mapped[str | None] = mapped_column(String(32), index=True)  # the webhook_outbox row


class WebhookOutbox(Base):
    """A webhook a finished job owes its ``url``: ``body`` is the exact JSON that is signed and sent (UTF-8) on
    every try; ``attempts`` counts claims; due at ``next_attempt_at`` while ``pending``; a worker delivering it
    holds ``lease_owner`` until ``lease_expires_at``."""

    __tablename__ = "webhook_outbox"
    __table_args__ = (
        Index("ix_webhook_outbox_status_due", "status", "next_attempt_at"),
        Index("ix_webhook_outbox_job", "job_id", unique=True),  # one webhook per finished job
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)  # the X-Vidstruct-Delivery id
    job_id: Mapped[str] = mapped_column(String(32))
    url: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | delivered | failed
    last_error: Mapped[str | None] = mapped_column(Text)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # delivered or given up


class Worker(Base):
    __tablename__ = "workers"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    hostname: Mapped[str] = mapped_column(String(200))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    job_id: Mapped[str | None] = mapped_column(String(32))


class ModerationFlag(Base):
    __tablename__ = "moderation_flags"
    __table_args__ = (
        Index("ix_moderation_flags_status_created", "status", "created_at"),
        Index("ix_moderation_flags_video", "video_id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    video_id: Mapped[str] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"))
    analysis_id: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(16), default="segment")  # segment | actor
    segment_id: Mapped[int | None] = mapped_column(Integer)  # the segment (source segment)
    actor_id: Mapped[int | None] = mapped_column(Integer)  # the first actor row of the run (source actor)
    track: Mapped[int | None] = mapped_column(Integer)  # the actor track (source actor)
    rule_key: Mapped[str] = mapped_column(String(16))  # what the rule means (name, labels, limits) hashed
    rule: Mapped[dict[str, Any]] = mapped_column(JSON)  # the rule as resolved (index, name, labels, limits)
    severity: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(16))  # flag | block
    label: Mapped[str] = mapped_column(String(200))
    start_s: Mapped[float] = mapped_column(Float)
    end_s: Mapped[float] = mapped_column(Float)
    probability: Mapped[float] = mapped_column(Float)
    thumbnail: Mapped[str | None] = mapped_column(Text)
    models: Mapped[dict[str, Any]] = mapped_column(JSON)  # the analysis's model versions
    policy_sha256: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="open")
    decision: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)


class ModerationPolicyRun(Base):
    __tablename__ = "moderation_policies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    sha256: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(Text)
    applied_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)


class Reel(Base):
    """A highlight reel of a video's analysis (:mod:`vidstruct.service.reels`): the request and the job rendering
    it (``job_id``); once rendered, the plan (mode, parts in reel order) and the folder (relative to the data
    folder) holding ``reel.mp4`` and ``reel.chapters.vtt`` (None until then). Reels made before reels were jobs
    have no job."""

    __tablename__ = "reels"
    __table_args__ = (Index("ix_reels_video_created", "video_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    video_id: Mapped[str] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"))
    analysis_id: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="SUCCEEDED")  # QUEUED until its job stores it
    request: Mapped[dict[str, Any]] = mapped_column(JSON)  # label | segment_ids | query, min_score, max_s
    job_id: Mapped[str | None] = mapped_column(String(32))
    mode: Mapped[str | None] = mapped_column(String(16))  # copy | encode
    reason: Mapped[str | None] = mapped_column(Text)
    duration_s: Mapped[float | None] = mapped_column(Float)
    frames: Mapped[int | None] = mapped_column(Integer)
    parts: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    folder: Mapped[str | None] = mapped_column(Text)
    api_key_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)


class IndexedVideo(Base):
    """A video content indexed by ``vidstruct index`` (:mod:`vidstruct.service.indexing`) with one profile: the
    primary key (content SHA-256, profile hash) admits one stored analysis per pair, whoever races to write it;
    the row goes when its analysis does (the video deleted)."""

    __tablename__ = "indexed_videos"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    profile_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    # None only inside the storing transaction, until the analysis row exists
    analysis_id: Mapped[str | None] = mapped_column(ForeignKey("analyses.id", ondelete="CASCADE"))
    job_id: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
