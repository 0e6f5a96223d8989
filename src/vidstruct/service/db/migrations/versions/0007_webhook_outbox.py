"""Durable webhooks: the ``webhook_outbox`` table (one row per finished job that owes a webhook, written in the
transaction that ends the job, delivered by workers under a lease) and ``webhook_deliveries.delivery_id`` (each try
names its outbox row; tries made before this revision keep None). Webhooks that were being retried in memory when
the service stopped for this upgrade are not carried over.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 23:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "webhook_outbox",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("job_id", sa.String(length=32), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_webhook_outbox_status_due", "webhook_outbox", ["status", "next_attempt_at"])
    op.create_index("ix_webhook_outbox_job", "webhook_outbox", ["job_id"], unique=True)
    with op.batch_alter_table("webhook_deliveries") as batch:
        batch.add_column(sa.Column("delivery_id", sa.String(length=32), nullable=True))
        batch.create_index("ix_webhook_deliveries_delivery_id", ["delivery_id"])


def downgrade() -> None:
    with op.batch_alter_table("webhook_deliveries") as batch:
        batch.drop_index("ix_webhook_deliveries_delivery_id")
        batch.drop_column("delivery_id")
    op.drop_index("ix_webhook_outbox_job", table_name="webhook_outbox")
    op.drop_index("ix_webhook_outbox_status_due", table_name="webhook_outbox")
    op.drop_table("webhook_outbox")
