"""The language each person last used: an administrator's in the console, a
user's in the portal, so that a notice about them (G9) is written in it,
whoever's action it tells of.

Revision ID: 0025
Revises: 0024
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0025"
down_revision: str | None = "0024"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("admins") as table:
        table.add_column(sa.Column("language", sa.String(16), nullable=True))
    with op.batch_alter_table("directory_users") as table:
        table.add_column(sa.Column("language", sa.String(16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("directory_users") as table:
        table.drop_column("language")
    with op.batch_alter_table("admins") as table:
        table.drop_column("language")
