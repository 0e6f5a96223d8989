"""Batch indexing: the ``indexed_videos`` table, one row per (content SHA-256, profile hash) that ``vidstruct index``
stored; its primary key makes those writes exactly-once.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07 22:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "indexed_videos",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("profile_sha256", sa.String(length=64), nullable=False),
        sa.Column("analysis_id", sa.String(length=32), nullable=True),
        sa.Column("job_id", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["analysis_id"], ["analyses.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("sha256", "profile_sha256"),
    )


def downgrade() -> None:
    op.drop_table("indexed_videos")
