"""The job queue, kept in the ``jobs`` table: submit, claim with a lease, renew, finish, release, cancel.

A worker claims the oldest claimable job (``QUEUED``, or ``IN_PROGRESS`` whose lease expired: its worker died)
and owns it until ``lease_expires_at``; it renews the lease while working. On PostgreSQL the claim is
``SELECT ... FOR UPDATE SKIP LOCKED`` then an update; on SQLite one conditional ``UPDATE ... RETURNING`` (a
single statement takes the write lock, so two workers never claim one job). Every later write of the worker is
conditional on it still holding the lease (``lease_owner`` and status ``IN_PROGRESS``): a worker whose lease was
taken over, or whose job was canceled, writes nothing. Each claim counts an attempt; a job whose lease expires
with ``max_attempts`` used fails for good with the reason. Results are committed with the status change in one
transaction (:func:`complete_job`), so a job retried after a worker died never stores its results twice. Every
write that ends a job SUCCEEDED or FAILED adds its pending webhook in the same transaction (:mod:`.outbox`).
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Collection, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from vidstruct.service.db.models import Analysis, AuditEntry, Job, Worker, utc_now
from vidstruct.service.db.session import transaction
from vidstruct.service.db.store import add_analysis
from vidstruct.service.errors import ConflictError, NotFoundError
from vidstruct.service.jobs.claim import claim_rows
from vidstruct.service.jobs.outbox import enqueue_webhook

FINAL = ("SUCCEEDED", "FAILED", "CANCELED")


def _claimable(now: datetime, max_attempts: int) -> Any:
    expired = and_(Job.status == "IN_PROGRESS", Job.lease_expires_at < now, Job.attempts < max_attempts)
    return or_(Job.status == "QUEUED", expired)


def submit_job(session: Session, **fields: Any) -> tuple[Job, bool]:
    """Add a job (``fields``: :class:`Job` columns) and commit; with a ``client_request_token`` already used,
    the job that token made instead. Returns ``(job, created)``."""
    token = fields.get("client_request_token")
    if token is not None:
        existing = session.scalar(select(Job).where(Job.client_request_token == token))
        if existing is not None:
            return existing, False
    job = Job(**fields, status="QUEUED", attempts=0, progress={})
    session.add(job)
    try:
        session.commit()
    except IntegrityError:  # the same token, submitted at the same moment by another request
        session.rollback()
        existing = session.scalar(select(Job).where(Job.client_request_token == token))
        if token is None or existing is None:
            raise
        return existing, False
    return job, True


def expire_exhausted(session: Session, max_attempts: int) -> int:
    """Fail for good the jobs whose lease expired after their last allowed attempt (with their webhooks, in the
    caller's transaction); returns how many."""
    now = utc_now()
    expired = session.scalars(
        update(Job)
        .where(Job.status == "IN_PROGRESS", Job.lease_expires_at < now, Job.attempts >= max_attempts)
        .values(
            status="FAILED",
            error=f"the worker running this job stopped answering {max_attempts} time(s) (lease expired)",
            lease_owner=None,
            lease_expires_at=None,
            finished_at=now,
        )
        .returning(Job.id)
    ).all()
    for job_id in expired:
        enqueue_webhook(session, job_id)
    return len(expired)


def claim_job(factory: sessionmaker[Session], worker_id: str, *, lease_s: float, max_attempts: int) -> Job | None:
    """Claim the oldest claimable job for ``worker_id`` with a lease of ``lease_s`` seconds (see the module doc);
    None when there is none."""
    with transaction(factory) as session:
        expire_exhausted(session, max_attempts)
        now = utc_now()
        values = {
            "status": "IN_PROGRESS",
            "lease_owner": worker_id,
            "lease_expires_at": now + timedelta(seconds=lease_s),
            "attempts": Job.attempts + 1,
            "started_at": now,
            "error": None,
            "progress": {},
        }
        claimed = claim_rows(session, Job, _claimable(now, max_attempts), Job.created_at, values)
        if not claimed:
            return None
        return session.get(Job, claimed[0], populate_existing=True)


def _held(job_id: str, worker_id: str) -> Any:
    return and_(Job.id == job_id, Job.lease_owner == worker_id, Job.status == "IN_PROGRESS")


def renew_lease(
    factory: sessionmaker[Session], job_id: str, worker_id: str, lease_s: float, progress: dict | None = None
) -> bool:
    """Extend the lease (and store ``progress`` when given); False when the worker no longer holds the job
    (canceled, or taken over after its lease expired)."""
    values: dict[str, Any] = {"lease_expires_at": utc_now() + timedelta(seconds=lease_s)}
    if progress is not None:
        values["progress"] = dict(progress)
    with transaction(factory) as session:
        return bool(session.execute(update(Job).where(_held(job_id, worker_id)).values(**values)).rowcount)


def complete_job(
    factory: sessionmaker[Session],
    job: Job,
    worker_id: str,
    document: dict[str, Any],
    folder: str,
    progress: dict | None = None,
    check: Callable[[Session, Analysis], None] | None = None,
    features: Collection[str] | None = None,
) -> bool:
    """Store ``document``'s results and mark the job SUCCEEDED, in one transaction; False (nothing stored) when
    the worker no longer holds the job. ``check`` (moderation) runs on the new analysis in that transaction.
    ``features``: the rows stored (default: the job's)."""
    with transaction(factory) as session:
        now = utc_now()
        held = session.execute(
            update(Job)
            .where(_held(job.id, worker_id))
            .values(status="SUCCEEDED", finished_at=now, lease_owner=None, lease_expires_at=None,
                    progress=dict(progress or job.progress or {}))
        ).rowcount  # fmt: skip
        if not held:
            session.rollback()
            return False
        analysis = add_analysis(
            session, document, video_id=job.video_id or "", job_id=job.id, folder=folder,
            min_confidence=job.min_confidence, features=job.features if features is None else features,
        )  # fmt: skip
        session.execute(update(Job).where(Job.id == job.id).values(analysis_id=analysis.id))
        if check is not None:
            check(session, analysis)
        enqueue_webhook(session, job.id)
    return True


def complete_held(
    factory: sessionmaker[Session], job: Job, worker_id: str, store: Callable[[Session], None], progress: dict
) -> bool:
    """Mark a held job SUCCEEDED and run ``store`` (its results: a reel's row) in the same transaction; False
    (nothing stored) when the worker no longer holds the job."""
    with transaction(factory) as session:
        values = {"status": "SUCCEEDED", "finished_at": utc_now(), "lease_owner": None, "lease_expires_at": None,
                  "progress": dict(progress)}  # fmt: skip
        if not session.execute(update(Job).where(_held(job.id, worker_id)).values(**values)).rowcount:
            session.rollback()
            return False
        store(session)
        enqueue_webhook(session, job.id)
    return True


def fail_job(factory: sessionmaker[Session], job_id: str, worker_id: str, error: str) -> bool:
    """Mark a held job FAILED for good with ``error`` (one line); False when the worker no longer holds it."""
    with transaction(factory) as session:
        values = {"status": "FAILED", "error": error, "finished_at": utc_now(), "lease_owner": None,
                  "lease_expires_at": None}  # fmt: skip
        if not session.execute(update(Job).where(_held(job_id, worker_id)).values(**values)).rowcount:
            return False
        enqueue_webhook(session, job_id)
    return True


def release_job(factory: sessionmaker[Session], job_id: str, worker_id: str) -> bool:
    """Give a held job back to the queue (a worker shutting down): QUEUED again, this attempt not counted."""
    with transaction(factory) as session:
        values = {"status": "QUEUED", "lease_owner": None, "lease_expires_at": None, "attempts": Job.attempts - 1,
                  "progress": {}}  # fmt: skip
        return bool(session.execute(update(Job).where(_held(job_id, worker_id)).values(**values)).rowcount)


def cancel_job(session: Session, job_id: str, actor: str = "cli") -> Job:
    """Cancel a job that has not finished (a worker running it stops at its next lease renewal), noted in the
    audit log as done by ``actor``; 404 / 409."""
    job = session.get(Job, job_id)
    if job is None:
        raise NotFoundError(f"no job {job_id!r}")
    result = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status.in_(("QUEUED", "IN_PROGRESS")))
        .values(status="CANCELED", finished_at=utc_now(), lease_owner=None, lease_expires_at=None)
    )
    if not result.rowcount:
        session.rollback()
        raise ConflictError(f"job {job_id} has already finished ({job.status})")
    session.add(AuditEntry(actor=actor, action="job.cancel", target=f"job:{job_id}", detail={}))
    session.commit()
    session.refresh(job)
    return job


def job_counts(session: Session) -> dict[str, int]:
    """Number of jobs per status (every status present, zeros included)."""
    counts = dict(session.execute(select(Job.status, func.count()).group_by(Job.status)).all())
    return {status: int(counts.get(status, 0)) for status in ("QUEUED", "IN_PROGRESS", *FINAL)}


# ------------------------------------------------------------------------------------------ worker registry
def worker_heartbeat(factory: sessionmaker[Session], worker_id: str, pid: int, job_id: str | None) -> None:
    """Record that ``worker_id`` is alive (and which job it runs)."""
    with transaction(factory) as session:
        row = session.get(Worker, worker_id)
        if row is None:
            session.add(Worker(id=worker_id, hostname=socket.gethostname(), pid=pid, job_id=job_id))
        else:
            row.last_seen, row.job_id = utc_now(), job_id


def worker_gone(factory: sessionmaker[Session], worker_id: str) -> None:
    with transaction(factory) as session:
        session.execute(delete(Worker).where(Worker.id == worker_id))


def live_workers(session: Session, within_s: float) -> Sequence[Worker]:
    """Workers seen in the last ``within_s`` seconds."""
    since = utc_now() - timedelta(seconds=within_s)
    return session.scalars(select(Worker).where(Worker.last_seen >= since)).all()
