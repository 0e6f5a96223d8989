"""The database side of ``vidstruct index``: is a video already indexed, register its row, store its results once.

:func:`store_indexed` writes one video's results in one transaction: a ``jobs`` row (``SUCCEEDED``, the run's
``job_tag``, so ``GET /v1/jobs`` lists indexed videos beside the service's own jobs), the analysis and its rows
through :func:`vidstruct.service.db.store.add_analysis` (what a finished service job stores), the moderation check
in that transaction, and the ``indexed_videos`` row whose primary key (content SHA-256, profile hash) makes the
write exactly-once: a second writer of the same key (a task retried after its worker died, two runs at once)
fails on the key and rolls back everything it wrote, whatever its timing.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from vidstruct.service.db.models import Analysis, IndexedVideo, Job, Video, utc_now
from vidstruct.service.db.session import transaction
from vidstruct.service.db.store import add_analysis
from vidstruct.service.jobs.intake import find_video, new_video

__all__ = ["is_indexed", "register_video", "store_indexed"]

#: ``check(session, analysis)``: the moderation check run in the storing transaction
CheckFn = Callable[[Session, Analysis], None]


def is_indexed(session: Session, sha256: str, profile_sha256: str) -> bool:
    """The content ``sha256`` has results made with ``profile_sha256``: stored by an index run, or by a service job
    with the same profile (identical results: analysing again would only add a copy)."""
    if session.get(IndexedVideo, (sha256, profile_sha256)) is not None:
        return True
    same = (
        select(Analysis.id)
        .join(Video, Video.id == Analysis.video_id)
        .where(Video.sha256 == sha256, Analysis.profile_sha256 == profile_sha256, Analysis.status == "complete")
    )
    return bool(session.scalar(select(exists(same))))


def register_video(factory: sessionmaker[Session], path: Path, sha256: str, size: int, info: dict[str, Any]) -> str:
    """The id of the video row of content ``sha256``, added (a server-side file at the absolute ``path``, never
    deleted by the service) when there is none; two processes registering the same content get one row."""
    with factory() as session:
        existing = find_video(session, sha256)
        if existing is not None:
            return existing.id
        video = new_video(sha256, str(path.resolve()), stored=False, size=size, info=info, filename=path.name)
        session.add(video)
        try:
            session.commit()
        except IntegrityError:  # the same content registered at the same moment by another process
            session.rollback()
            existing = find_video(session, sha256)
            if existing is None:
                raise
            return existing.id
        return video.id


def store_indexed(
    factory: sessionmaker[Session],
    *,
    job_id: str,
    video_id: str,
    sha256: str,
    profile_name: str,
    document: dict[str, Any],
    folder: str,
    features: Collection[str],
    job_tag: str,
    started_at: datetime | None,
    check: CheckFn | None = None,
) -> bool:
    """Store ``document`` (an analysis of video ``video_id``, its files in ``folder`` relative to the data folder)
    as job ``job_id`` (started at ``started_at``, UTC) in one transaction (see the module doc); False, with nothing
    stored, when its key (content ``sha256``, the document's profile hash) is stored already."""
    profile_sha256 = (document.get("profile") or {}).get("sha256")
    if not profile_sha256:
        raise ValueError("an indexed document names its profile hash")
    try:
        with transaction(factory) as session:
            # the key first: on PostgreSQL a concurrent writer of the same key waits here for this transaction
            # and then fails; on SQLite this write takes the database's write lock
            session.add(IndexedVideo(sha256=sha256, profile_sha256=profile_sha256, job_id=job_id))
            session.flush()
            now = utc_now()
            session.add(
                Job(id=job_id, video_id=video_id, features=list(features), profile=profile_name, status="SUCCEEDED",
                    attempts=1, progress={}, job_tag=job_tag, min_confidence=0.0, started_at=started_at,
                    finished_at=now)
            )  # fmt: skip
            session.flush()
            analysis = add_analysis(session, document, video_id=video_id, job_id=job_id, folder=folder,
                                    features=features)  # fmt: skip
            session.get(Job, job_id).analysis_id = analysis.id  # type: ignore[union-attr]
            key = session.get(IndexedVideo, (sha256, profile_sha256))
            key.analysis_id = analysis.id  # type: ignore[union-attr]
            if check is not None:
                check(session, analysis)
    except IntegrityError:
        with factory() as session:
            if session.get(IndexedVideo, (sha256, profile_sha256)) is None:
                raise  # not the key: a real error
        return False
    return True
