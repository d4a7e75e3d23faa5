"""Passkeys as an administrator's second factor (G7): a table of their own,
apart from users' gate registrations, and the ceremony's challenge on the
console session.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from passback.server.store.models import UTCDateTime

revision = "0024"
down_revision: str | None = "0023"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("admin_sessions") as table:
        table.add_column(sa.Column("challenge", sa.String(64), nullable=True))
    op.create_table(
        "admin_passkeys",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column(
            "tenant_id",
            sa.String(36),
            sa.ForeignKey("tenants.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "admin_id",
            sa.String(36),
            sa.ForeignKey("admins.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("credential_id", sa.String(1400), nullable=False, unique=True),
        sa.Column("public_key", sa.Text(), nullable=False),
        sa.Column("sign_count", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("last_used_at", UTCDateTime(), nullable=True),
    )
    op.create_index("ix_admin_passkeys_tenant_id", "admin_passkeys", ["tenant_id"])
    op.create_index("ix_admin_passkeys_admin_id", "admin_passkeys", ["admin_id"])


def downgrade() -> None:
    op.drop_table("admin_passkeys")
    with op.batch_alter_table("admin_sessions") as table:
        table.drop_column("challenge")
