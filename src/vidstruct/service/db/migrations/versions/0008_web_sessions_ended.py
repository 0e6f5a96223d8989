"""Web sign-out ends the session on the server: the ``web_sessions_ended`` table (one row per signed-out session
token, named by the token's SHA-256, never the token, kept until the token would have expired) and
``api_keys.sessions_not_before`` ("sign out everywhere": the key's sessions issued before this time are refused).
Sessions made before this revision stay valid until they expire, as before.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-08 01:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "web_sessions_ended",
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("key_id", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("token_sha256"),
    )
    op.create_index("ix_web_sessions_ended_expires", "web_sessions_ended", ["expires_at"])
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("sessions_not_before", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("sessions_not_before")
    op.drop_index("ix_web_sessions_ended_expires", table_name="web_sessions_ended")
    op.drop_table("web_sessions_ended")
