"""Claiming rows of a work table with a lease, on PostgreSQL and SQLite: the one code path the job queue
(:mod:`.queue`) and the webhook outbox (:mod:`.outbox`) share.

PostgreSQL: ``SELECT id ... FOR UPDATE SKIP LOCKED LIMIT n`` then an ``UPDATE`` of those ids in the same
transaction (rows another transaction is claiming are skipped, never waited for). SQLite: one conditional
``UPDATE ... WHERE id IN (SELECT id ... LIMIT n) AND <claimable> RETURNING id`` (a single statement takes the
write lock, so two processes never claim one row).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session


def claim_rows(
    session: Session, model: Any, claimable: Any, order_by: Any, values: dict[str, Any], limit: int = 1
) -> list[Any]:
    """Set ``values`` on at most ``limit`` rows of ``model`` matching ``claimable`` (first by ``order_by``) in
    ``session``'s transaction; returns their ids (primary key column ``id``), empty when none is claimable."""
    oldest = select(model.id).where(claimable).order_by(order_by).limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        ids = list(session.scalars(oldest.with_for_update(skip_locked=True)).all())
        if ids:
            session.execute(update(model).where(model.id.in_(ids)).values(**values))
        return ids
    statement = update(model).where(model.id.in_(oldest.scalar_subquery()), claimable).values(**values)
    return list(session.scalars(statement.returning(model.id)).all())
