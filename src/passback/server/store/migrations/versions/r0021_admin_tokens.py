"""Administrators' own API tokens: a token may belong to an administrator
(acting with their role) and carry a name.

Revision ID: 0021
Revises: 0020
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision: str | None = "0020"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("tokens") as table:
        table.add_column(sa.Column("admin_id", sa.String(36), nullable=True))
        table.add_column(sa.Column("name", sa.String(64), nullable=True))
        table.create_foreign_key(
            "fk_tokens_admin_id", "admins", ["admin_id"], ["id"], ondelete="CASCADE"
        )
        table.create_index("ix_tokens_admin_id", ["admin_id"])


def downgrade() -> None:
    with op.batch_alter_table("tokens") as table:
        table.drop_index("ix_tokens_admin_id")
        table.drop_constraint("fk_tokens_admin_id", type_="foreignkey")
        table.drop_column("name")
        table.drop_column("admin_id")
