"""``videos.size_bytes`` as a 64-bit integer: files of 2 GiB and more overflowed PostgreSQL's INTEGER.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07 20:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


# SQLite's INTEGER already holds 64 bits, and rebuilding ``videos`` there (batch mode) would drop and recreate a
# table other tables reference: only PostgreSQL's column changes.


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column("videos", "size_bytes", existing_type=sa.Integer(), type_=sa.BigInteger(), nullable=False)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column("videos", "size_bytes", existing_type=sa.BigInteger(), type_=sa.Integer(), nullable=False)
