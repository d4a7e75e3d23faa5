"""Initial schema: tenants, tokens, agents, package keys, directory users, operations.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from passback.server.store.models import UTCDateTime

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

_UUID = 36


def _fk_tenant() -> sa.Column[str]:
    return sa.Column(
        "tenant_id",
        sa.String(_UUID),
        sa.ForeignKey("tenants.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    )


def upgrade() -> None:
    op.create_table(
        "tenants",
        sa.Column("id", sa.String(_UUID), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("unlock_on_reset", sa.Boolean(), nullable=False, server_default=sa.true()),
    )
    op.create_table(
        "tokens",
        sa.Column("id", sa.String(_UUID), primary_key=True),
        _fk_tenant(),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("used_at", UTCDateTime(), nullable=True),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
    )
    op.create_table(
        "agents",
        sa.Column("id", sa.String(_UUID), primary_key=True),
        _fk_tenant(),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("public_key_pem", sa.Text(), nullable=False),
        sa.Column("relay_secret_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("software", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("last_seen_at", UTCDateTime(), nullable=True),
        sa.Column("history_on_reset", sa.Boolean(), nullable=True),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
    )
    op.create_table(
        "package_keys",
        sa.Column(
            "tenant_id",
            sa.String(_UUID),
            sa.ForeignKey("tenants.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("key_id", sa.String(16), primary_key=True),
        sa.Column("key_b64", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("retired_at", UTCDateTime(), nullable=True),
    )
    op.create_table(
        "directory_users",
        sa.Column("id", sa.String(_UUID), primary_key=True),
        _fk_tenant(),
        sa.Column("anchor", sa.String(128), nullable=False),
        sa.Column("sam_account_name", sa.String(256), nullable=False),
        sa.Column("user_principal_name", sa.String(1024), nullable=True),
        sa.Column("mail", sa.String(1024), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("synced_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("tenant_id", "anchor", name="uq_directory_users_anchor"),
    )
    op.create_table(
        "operations",
        sa.Column("request_id", sa.String(_UUID), primary_key=True),
        _fk_tenant(),
        sa.Column("user_id", sa.String(_UUID), nullable=False),
        sa.Column("agent_id", sa.String(_UUID), nullable=True),
        sa.Column("operation", sa.String(32), nullable=False),
        sa.Column("outcome", sa.String(32), nullable=True),
        sa.Column("event_id", sa.Integer(), nullable=True),
        sa.Column("detail_json", sa.Text(), nullable=False),
        sa.Column("support_code", sa.String(_UUID), nullable=False, unique=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
    )


def downgrade() -> None:
    for table in (
        "operations",
        "directory_users",
        "package_keys",
        "agents",
        "tokens",
        "tenants",
    ):
        op.drop_table(table)
