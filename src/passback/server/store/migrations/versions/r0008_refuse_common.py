"""Tenants refuse common and easily guessed passwords (on by default), and keep
their own banned words.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision: str | None = "0007"
branch_labels: str | None = None
depends_on: str | None = None


# Plain ALTER TABLE, never a batch: SQLite's batch copies and drops ``tenants``,
# and dropping it deletes every row that references a tenant (ON DELETE CASCADE).


def upgrade() -> None:
    op.add_column(
        "tenants",
        sa.Column("refuse_common", sa.Boolean(), nullable=False, server_default=sa.true()),
    )
    op.add_column(
        "tenants", sa.Column("banned_words", sa.Text(), nullable=False, server_default="")
    )


def downgrade() -> None:
    op.drop_column("tenants", "banned_words")
    op.drop_column("tenants", "refuse_common")
