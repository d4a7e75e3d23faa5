"""An administrator's self-service password reset: the console session that
carries it keeps the hash of the emailed code.

Revision ID: 0022
Revises: 0021
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision: str | None = "0021"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("admin_sessions") as table:
        table.add_column(sa.Column("code_hash", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("admin_sessions") as table:
        table.drop_column("code_hash")
