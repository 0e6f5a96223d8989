"""The database side of ``vidstruct index``: is a video already indexed, store its row and results once.

:func:`store_indexed` writes one video's results in one transaction: the video row when its content has none yet
(so a video whose analysis fails leaves no row: the collection holds only what was indexed), a ``jobs`` row
(``SUCCEEDED``, the run's ``job_tag``, so ``GET /v1/jobs`` lists indexed videos beside the service's own jobs),
the analysis and its rows through :func:`vidstruct.service.db.store.add_analysis` (what a finished service job
stores), the moderation check in that transaction, and the ``indexed_videos`` row whose primary key (content
SHA-256, profile hash) makes the write exactly-once: a second writer of the same key (a task retried after its
worker died, two runs at once) fails on the key and rolls back everything it wrote, whatever its timing.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from vidstruct.service.db.models import Analysis, IndexedVideo, Job, Video, utc_now
from vidstruct.service.db.session import transaction
from vidstruct.service.db.store import add_analysis
from vidstruct.service.jobs.intake import find_video, new_video
from vidstruct.service.settings import DEFAULT_FEATURES

__all__ = ["NewVideo", "is_indexed", "own_earlier_attempt", "store_indexed"]

#: ``check(session, analysis)``: the moderation check run in the storing transaction
CheckFn = Callable[[Session, Analysis], None]


def is_indexed(
    session: Session, sha256: str, profile_sha256: str, features: Collection[str] = DEFAULT_FEATURES
) -> bool:
    """The content ``sha256`` has results made with ``profile_sha256``: stored by an index run, or by a service job
    with the same profile whose analysis has every one of ``features`` (identical results: analysing again would
    only add a copy). An analysis has the features of its job (``jobs.features``, the job that
    ``analyses.job_id`` names): the rows stored, and since jobs choose their stages by them, the stages that ran; a
    job that asked for fewer (``shots`` alone) leaves the video to be analysed again."""
    if session.get(IndexedVideo, (sha256, profile_sha256)) is not None:
        return True
    same = (
        select(Job.features)
        .join(Analysis, Analysis.job_id == Job.id)
        .join(Video, Video.id == Analysis.video_id)
        .where(Video.sha256 == sha256, Analysis.profile_sha256 == profile_sha256, Analysis.status == "complete")
    )
    wanted = set(features) - {"moderation"}
    return any(wanted <= set(had or ()) for had in session.scalars(same))


@dataclass(frozen=True)
class NewVideo:
    """A probed file whose content may have no video row yet: ``path`` absolute (a server-side file, never deleted
    by the service), ``size`` in bytes, ``info`` the probe's :meth:`VideoInfo.to_dict`."""

    path: Path
    size: int
    info: dict[str, Any]


def own_earlier_attempt(session: Session, sha256: str, profile_sha256: str, job_id: str) -> Analysis | None:
    """The analysis stored under the key (content ``sha256``, ``profile_sha256``) by job ``job_id`` itself: an
    earlier attempt of the same job (its worker process died after the commit, before reporting), else None."""
    key = session.get(IndexedVideo, (sha256, profile_sha256))
    if key is None or key.job_id != job_id or key.analysis_id is None:
        return None
    return session.get(Analysis, key.analysis_id)


def _video_row(session: Session, video_id: str, sha256: str, new: NewVideo) -> str:
    """The id of the video row of content ``sha256`` in the caller's transaction: the existing one (registered
    by the service or another run, maybe while this video was analysed), else a new row with id ``video_id``."""
    existing = find_video(session, sha256)
    if existing is not None:
        return existing.id
    row = new_video(sha256, str(new.path), stored=False, size=new.size, info=new.info, filename=new.path.name)
    row.id = video_id
    session.add(row)
    session.flush()
    return video_id


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
    new: NewVideo | None = None,
) -> str | None:
    """Store ``document`` (an analysis of video ``video_id``, its files in ``folder`` relative to the data folder)
    as job ``job_id`` (started at ``started_at``, UTC) in one transaction (see the module doc).

    ``new``: the file, when the video row is to be added in this transaction if its content has none; a row of
    that content registered meanwhile under another id is used instead (``document["video"]["id"]`` then names
    it). Returns the id of the video row the results were stored under; None, with nothing stored, when its key
    (content ``sha256``, the document's profile hash) is stored already."""
    profile_sha256 = (document.get("profile") or {}).get("sha256")
    if not profile_sha256:
        raise ValueError("an indexed document names its profile hash")
    for last_try in (False, True):
        try:
            with transaction(factory) as session:
                # the key first: on PostgreSQL a concurrent writer of the same key waits here for this transaction
                # and then fails; on SQLite this write takes the database's write lock
                key = IndexedVideo(sha256=sha256, profile_sha256=profile_sha256, job_id=job_id)
                session.add(key)
                session.flush()
                row_id = video_id if new is None else _video_row(session, video_id, sha256, new)
                if row_id != video_id:
                    document["video"] = {**document["video"], "id": row_id}
                _store_rows(session, key, job_id=job_id, video_id=row_id, profile_name=profile_name,
                            document=document, folder=folder, features=features, job_tag=job_tag,
                            started_at=started_at, check=check)  # fmt: skip
            return row_id
        except IntegrityError:
            with factory() as session:
                if session.get(IndexedVideo, (sha256, profile_sha256)) is not None:
                    return None  # the key: stored by another writer
                # on PostgreSQL, the same content registered by another transaction between this one's look-up
                # and its insert (the insert waited for it, then failed): once more, using that row
                raced = new is not None and find_video(session, sha256) is not None
            if last_try or not raced:
                raise  # a real error
    raise AssertionError("unreachable")


def _store_rows(
    session: Session,
    key: IndexedVideo,
    *,
    job_id: str,
    video_id: str,
    profile_name: str,
    document: dict[str, Any],
    folder: str,
    features: Collection[str],
    job_tag: str,
    started_at: datetime | None,
    check: CheckFn | None,
) -> None:
    """The job, the analysis and its rows, ``key``'s link to the analysis, the moderation check: the storing
    transaction after its key and video row."""
    session.add(
        Job(id=job_id, video_id=video_id, features=list(features), profile=profile_name, status="SUCCEEDED",
            attempts=1, progress={}, job_tag=job_tag, min_confidence=0.0, started_at=started_at,
            finished_at=utc_now())
    )  # fmt: skip
    session.flush()
    analysis = add_analysis(session, document, video_id=video_id, job_id=job_id, folder=folder, features=features)
    session.get(Job, job_id).analysis_id = analysis.id  # type: ignore[union-attr]
    key.analysis_id = analysis.id
    if check is not None:
        check(session, analysis)
