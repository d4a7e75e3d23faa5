"""Each agent's last full sync: when it ended, what it carried and removed,
and whether every batch arrived (the console's dashboard shows it).

Revision ID: 0026
Revises: 0025
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from passback.server.store.models import UTCDateTime

revision = "0026"
down_revision: str | None = "0025"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("agents") as table:
        table.add_column(sa.Column("last_sync_at", UTCDateTime(), nullable=True))
        table.add_column(sa.Column("last_sync_users", sa.Integer(), nullable=True))
        table.add_column(sa.Column("last_sync_groups", sa.Integer(), nullable=True))
        table.add_column(sa.Column("last_sync_removed", sa.Integer(), nullable=True))
        table.add_column(sa.Column("last_sync_complete", sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("agents") as table:
        for name in (
            "last_sync_complete",
            "last_sync_removed",
            "last_sync_groups",
            "last_sync_users",
            "last_sync_at",
        ):
            table.drop_column(name)
