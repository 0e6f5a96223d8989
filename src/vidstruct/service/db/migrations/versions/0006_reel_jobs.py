"""Reels as queued jobs: ``jobs.kind`` (``analysis | reel``) and ``jobs.reel_id``; ``reels.job_id``, and the
rendered reel's columns empty until its job stores them.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 22:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# columns a queued reel does not have yet (SQLite: batch mode rebuilds ``reels``, which no table references)
_RENDERED = (
    ("mode", sa.String(length=16)),
    ("reason", sa.Text()),
    ("duration_s", sa.Float()),
    ("frames", sa.Integer()),
    ("parts", sa.JSON()),
    ("folder", sa.Text()),
)


def upgrade() -> None:
    op.add_column("jobs", sa.Column("kind", sa.String(length=16), server_default="analysis", nullable=False))
    op.add_column("jobs", sa.Column("reel_id", sa.String(length=32), nullable=True))
    op.create_index("ix_jobs_kind_created", "jobs", ["kind", "created_at"])
    with op.batch_alter_table("reels") as batch:
        batch.add_column(sa.Column("job_id", sa.String(length=32), nullable=True))
        for name, type_ in _RENDERED:
            batch.alter_column(name, existing_type=type_, nullable=True)


def downgrade() -> None:
    op.execute("DELETE FROM reels WHERE folder IS NULL")  # reels never rendered cannot satisfy NOT NULL
    with op.batch_alter_table("reels") as batch:
        for name, type_ in _RENDERED:
            batch.alter_column(name, existing_type=type_, nullable=False)
        batch.drop_column("job_id")
    op.drop_index("ix_jobs_kind_created", table_name="jobs")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("reel_id")
        batch.drop_column("kind")
