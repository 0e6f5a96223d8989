"""The webhook outbox (table ``webhook_outbox``): the webhooks finished jobs owe, delivered at least once.

- :func:`enqueue_webhook` runs inside the transaction that puts a job in a final state (:mod:`.queue`): a job
  that ends SUCCEEDED or FAILED with a ``webhook_url`` gets its ``pending`` row, with the body made then, in that
  transaction: a finished job never lacks its webhook, and a rolled-back ending leaves none. CANCELED jobs owe none
  (see :mod:`.webhooks`).
- :func:`claim_deliveries` leases due rows to a worker, the way jobs are claimed (:func:`.claim.claim_rows`:
  ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, one conditional ``UPDATE ... RETURNING`` on SQLite), so two workers
  never post one row at the same time. Each claim counts a try; a row whose worker died is claimed again once
  its lease expires (a try it may have made before dying is repeated: receivers dedupe by delivery id).
- :func:`record_try` writes the try as a ``webhook_deliveries`` row and, in the same transaction, marks the row
  ``delivered`` (a 2xx), ``failed`` (no 2xx after ``max_attempts`` tries, ``last_error`` says why) or schedules the
  next try after :func:`retry_wait_s` (exponential backoff with jitter).
- :func:`release_deliveries` gives a stopping worker's leased rows back, their claim not counted.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from vidstruct.service.db.models import Job, WebhookDelivery, WebhookOutbox, new_id, utc_now
from vidstruct.service.db.session import transaction
from vidstruct.service.jobs.claim import claim_rows
from vidstruct.service.jobs.webhooks import WEBHOOK_STATUSES, payload

OUTBOX_STATUSES = ("pending", "delivered", "failed")
#: the longest wait between two tries (seconds), whatever the backoff doubles to
MAX_WAIT_S = 3600.0
#: each wait is stretched by a random factor in [1, 1 + JITTER) so receivers are not hit by synchronized retries
JITTER = 0.25


@dataclass(frozen=True)
class Due:
    """A claimed delivery: the outbox row's id (the delivery id), its job, URL, body bytes and this try's number."""

    id: str
    job_id: str
    url: str
    body: bytes
    attempt: int


def enqueue_webhook(session: Session, job_id: str) -> str | None:
    """In the caller's transaction, after the job's final state was written: add job ``job_id``'s pending webhook
    when it has a URL and ended SUCCEEDED or FAILED; returns the delivery id (None: no webhook owed)."""
    job = session.get(Job, job_id, populate_existing=True)
    if job is None or not job.webhook_url or job.status not in WEBHOOK_STATUSES:
        return None
    row = WebhookOutbox(id=new_id(), job_id=job.id, url=job.webhook_url, body=payload(job).decode(), attempts=0,
                        next_attempt_at=utc_now(), status="pending", created_at=utc_now())  # fmt: skip
    session.add(row)
    session.flush()
    return row.id


def retry_wait_s(attempt: int, backoff_s: float, rng: random.Random | None = None) -> float:
    """Seconds before the try after try number ``attempt`` (1-based): ``backoff_s × 2^(attempt-1)`` capped at
    :data:`MAX_WAIT_S`, times a jitter factor in [1, 1 + :data:`JITTER`)."""
    base = min(MAX_WAIT_S, backoff_s * 2 ** (attempt - 1))
    return base * (1.0 + JITTER * (rng or random).random())


def _give_up_stalled(session: Session, now: datetime, max_attempts: int) -> int:
    """Fail the pending rows that used every try and are no longer leased (their last worker died mid-try)."""
    result = session.execute(
        update(WebhookOutbox)
        .where(
            WebhookOutbox.status == "pending",
            WebhookOutbox.attempts >= max_attempts,
            or_(WebhookOutbox.lease_owner.is_(None), WebhookOutbox.lease_expires_at < now),
        )
        .values(status="failed", finished_at=now, lease_owner=None, lease_expires_at=None,
                last_error=f"the worker delivering it stopped answering (lease expired) after {max_attempts} tries")
    )  # fmt: skip
    return result.rowcount or 0


def claim_deliveries(
    factory: sessionmaker[Session], owner: str, *, lease_s: float, max_attempts: int, limit: int = 1
) -> list[Due]:
    """Lease at most ``limit`` due pending rows (oldest due first) to worker ``owner`` for ``lease_s`` seconds,
    counting a try on each (see the module doc)."""
    with transaction(factory) as session:
        now = utc_now()
        _give_up_stalled(session, now, max_attempts)
        due = and_(
            WebhookOutbox.status == "pending",
            WebhookOutbox.next_attempt_at <= now,
            WebhookOutbox.attempts < max_attempts,
            or_(WebhookOutbox.lease_owner.is_(None), WebhookOutbox.lease_expires_at < now),
        )
        values = {"lease_owner": owner, "lease_expires_at": now + timedelta(seconds=lease_s),
                  "attempts": WebhookOutbox.attempts + 1}  # fmt: skip
        ids = claim_rows(session, WebhookOutbox, due, WebhookOutbox.next_attempt_at, values, limit)
        if not ids:
            return []
        rows = session.scalars(
            select(WebhookOutbox).where(WebhookOutbox.id.in_(ids)).execution_options(populate_existing=True)
        ).all()
        rows = sorted(rows, key=lambda r: r.next_attempt_at)
        return [Due(r.id, r.job_id, r.url, r.body.encode(), r.attempts) for r in rows]


def record_try(
    factory: sessionmaker[Session],
    due: Due,
    owner: str,
    status_code: int | None,
    error: str | None,
    *,
    max_attempts: int,
    backoff_s: float,
    final: bool = False,
) -> str:
    """Record try ``due.attempt`` (its HTTP status, or the error that kept it from an answer) and settle the row:
    returns ``delivered | retry | failed`` (``lost`` when another worker took the row over meanwhile: the try is
    still recorded). ``final``: a failed try is not retried (the SSRF guard refused the URL)."""
    ok = status_code is not None and 200 <= status_code < 300
    now = utc_now()
    row = WebhookOutbox.id == due.id
    with transaction(factory) as session:
        session.add(WebhookDelivery(job_id=due.job_id, url=due.url, attempt=due.attempt, status_code=status_code,
                                    error=None if ok else error, delivered=ok, delivery_id=due.id, at=now))  # fmt: skip
        free: dict[str, Any] = {"lease_owner": None, "lease_expires_at": None}
        if ok:  # true whoever holds the row now
            values = {"status": "delivered", "finished_at": now, "last_error": None, **free}
            session.execute(update(WebhookOutbox).where(row, WebhookOutbox.status == "pending").values(**values))
            return "delivered"
        reason = error or f"HTTP {status_code}"
        if due.attempt >= max_attempts or final:
            outcome, values = "failed", {"status": "failed", "finished_at": now, "last_error": reason, **free}
        else:
            wait = timedelta(seconds=retry_wait_s(due.attempt, backoff_s))
            outcome, values = "retry", {"next_attempt_at": now + wait, "last_error": reason, **free}
        held = and_(row, WebhookOutbox.status == "pending", WebhookOutbox.lease_owner == owner)
        if not session.execute(update(WebhookOutbox).where(held).values(**values)).rowcount:
            return "lost"
        return outcome


def release_deliveries(factory: sessionmaker[Session], owner: str) -> int:
    """Give worker ``owner``'s leased pending rows back (their claim not counted); returns how many."""
    with transaction(factory) as session:
        result = session.execute(
            update(WebhookOutbox)
            .where(WebhookOutbox.lease_owner == owner, WebhookOutbox.status == "pending")
            .values(lease_owner=None, lease_expires_at=None, attempts=WebhookOutbox.attempts - 1)
        )
        return result.rowcount or 0


def next_due(session: Session) -> datetime | None:
    """When the earliest pending row is due (None: nothing pending)."""
    return session.scalar(select(func.min(WebhookOutbox.next_attempt_at)).where(WebhookOutbox.status == "pending"))


def outbox_counts(session: Session) -> dict[str, int]:
    """Number of outbox rows per status (every status present, zeros included)."""
    counts = dict(session.execute(select(WebhookOutbox.status, func.count()).group_by(WebhookOutbox.status)).all())
    return {status: int(counts.get(status, 0)) for status in OUTBOX_STATUSES}
