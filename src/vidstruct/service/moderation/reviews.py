"""Reviewing a flag: the decision changes the flag's status and is appended to the audit log.

Decisions: ``confirm`` (a violation: the flag is ``reviewed``; a ``block`` flag keeps its video blocked),
``dismiss`` (not a violation: ``reviewed``, and it no longer blocks), ``escalate`` (needs another reviewer:
``escalated``, still blocking if it is a ``block`` flag, and may be reviewed again). A ``reviewed`` or
``superseded`` flag takes no new decision (409). Nothing in the code updates or deletes audit entries; the
migration also makes the database refuse it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from vidstruct.service.db.models import ApiKey, AuditEntry, ModerationFlag, utc_now
from vidstruct.service.errors import ConflictError, NotFoundError

DECISIONS = ("confirm", "dismiss", "escalate")
REVIEW_ACTION = "moderation.review"


def review_flag(session: Session, flag_id: str, decision: str, note: str | None, key: ApiKey) -> AuditEntry:
    """Record ``key``'s ``decision`` on flag ``flag_id`` (status change + audit entry); the caller commits."""
    flag = session.get(ModerationFlag, flag_id, with_for_update=True)
    if flag is None:
        raise NotFoundError(f"no flag {flag_id[:64]!r}")
    if flag.status not in ("open", "escalated"):
        raise ConflictError(f"flag {flag_id} is {flag.status}: it takes no new decision")
    previous = flag.status
    flag.status = "escalated" if decision == "escalate" else "reviewed"
    flag.decision = decision
    flag.updated_at = utc_now()
    entry = AuditEntry(
        actor=f"key:{key.id}", action=REVIEW_ACTION, target=f"flag:{flag_id}", at=flag.updated_at,
        detail={"decision": decision, "note": note, "key_prefix": key.prefix, "previous_status": previous,
                "status": flag.status, "video_id": flag.video_id},
    )  # fmt: skip
    session.add(entry)
    return entry


def reviews_of(session: Session, flag_id: str) -> list[dict[str, Any]]:
    """The audit entries of ``flag_id``'s reviews, oldest first."""
    entries = session.scalars(
        select(AuditEntry)
        .where(AuditEntry.action == REVIEW_ACTION, AuditEntry.target == f"flag:{flag_id}")
        .order_by(AuditEntry.id)
    )
    return [audit_view(e) for e in entries]


def audit_view(entry: AuditEntry) -> dict[str, Any]:
    return {
        "audit_id": entry.id,
        "at": entry.at.isoformat(),
        "who": entry.actor,
        "key_prefix": entry.detail.get("key_prefix"),
        "decision": entry.detail.get("decision"),
        "note": entry.detail.get("note"),
        "status": entry.detail.get("status"),
    }
