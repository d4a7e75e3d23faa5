"""Signed-in sessions of "My account" (U4, forced change), and portal flows
that unlock an account (W3).

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from passback.server.store.models import UTCDateTime

revision = "0009"
down_revision: str | None = "0008"
branch_labels: str | None = None
depends_on: str | None = None

_UUID = 36


def upgrade() -> None:
    op.create_table(
        "account_sessions",
        sa.Column("id_hash", sa.String(64), primary_key=True),
        sa.Column(
            "tenant_id",
            sa.String(_UUID),
            sa.ForeignKey("tenants.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("user_id", sa.String(_UUID), nullable=False, index=True),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("sealed_password", sa.LargeBinary(), nullable=True),
        sa.Column("account_json", sa.Text(), nullable=False, server_default="{}"),
        sa.Column("rules_json", sa.Text(), nullable=True),
        sa.Column("change_attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("pending_request_id", sa.String(_UUID), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("last_seen_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
    )
    # Plain ALTER TABLE (see 0008): a batch would copy and drop the table.
    op.add_column(
        "portal_flows",
        sa.Column("purpose", sa.String(16), nullable=False, server_default="reset"),
    )
    op.add_column("portal_flows", sa.Column("unlocked_at", UTCDateTime(), nullable=True))


def downgrade() -> None:
    op.drop_column("portal_flows", "unlocked_at")
    op.drop_column("portal_flows", "purpose")
    op.drop_table("account_sessions")
