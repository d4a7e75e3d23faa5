"""The admin console: administrators of a tenant (password and authenticator
app, invited by a one-time set-up link) and their sessions.

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from passback.server.store.models import UTCDateTime

revision = "0020"
down_revision: str | None = "0019"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "admins",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column(
            "tenant_id",
            sa.String(36),
            sa.ForeignKey("tenants.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("credential_hash", sa.String(256), nullable=True),
        sa.Column("totp_wrapped", sa.String(128), nullable=True),
        sa.Column("totp_last_step", sa.Integer(), nullable=False),
        sa.Column("setup_hash", sa.String(64), nullable=True, unique=True),
        sa.Column("setup_expires_at", UTCDateTime(), nullable=True),
        sa.Column("invited_by", sa.String(36), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("activated_at", UTCDateTime(), nullable=True),
        sa.Column("disabled_at", UTCDateTime(), nullable=True),
        sa.Column("last_sign_in_at", UTCDateTime(), nullable=True),
        sa.UniqueConstraint("tenant_id", "email", name="uq_admins_email"),
    )
    op.create_index("ix_admins_tenant_id", "admins", ["tenant_id"])
    op.create_table(
        "admin_sessions",
        sa.Column("id_hash", sa.String(64), primary_key=True),
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
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("code_attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("last_seen_at", UTCDateTime(), nullable=False),
        sa.Column("verified_at", UTCDateTime(), nullable=True),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_admin_sessions_tenant_id", "admin_sessions", ["tenant_id"])
    op.create_index("ix_admin_sessions_admin_id", "admin_sessions", ["admin_id"])


def downgrade() -> None:
    op.drop_table("admin_sessions")
    op.drop_table("admins")
