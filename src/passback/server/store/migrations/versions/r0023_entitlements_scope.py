"""Entitlements (E1): a tenant's plan and per-user assignment; the
self-service scope (G6): the groups a user is a member of and the groups the
scope may name; the notification settings (G9).

Existing tenants keep what they had: the plan with every feature, no
assignment required, every user in scope, notifications on.

Revision ID: 0023
Revises: 0022
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from passback.server.store.models import UTCDateTime

revision = "0023"
down_revision: str | None = "0022"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("tenants") as table:
        table.add_column(sa.Column("plan", sa.String(16), nullable=False, server_default="premium"))
    with op.batch_alter_table("directory_users") as table:
        table.add_column(sa.Column("group_sids", sa.Text(), nullable=False, server_default=""))
        table.add_column(
            sa.Column("assigned", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("gate_policies") as table:
        table.add_column(sa.Column("scope", sa.String(8), nullable=False, server_default="all"))
        table.add_column(
            sa.Column(
                "assignment_required", sa.Boolean(), nullable=False, server_default=sa.false()
            )
        )
        table.add_column(sa.Column("scope_group", sa.String(184), nullable=True))
        table.add_column(
            sa.Column("notify_users", sa.Boolean(), nullable=False, server_default=sa.true())
        )
        table.add_column(
            sa.Column("notify_admins", sa.Boolean(), nullable=False, server_default=sa.true())
        )
    op.create_table(
        "directory_groups",
        sa.Column(
            "tenant_id",
            sa.String(36),
            sa.ForeignKey("tenants.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("sid", sa.String(184), primary_key=True),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("synced_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("directory_groups")
    with op.batch_alter_table("gate_policies") as table:
        for name in (
            "notify_admins",
            "notify_users",
            "scope_group",
            "assignment_required",
            "scope",
        ):
            table.drop_column(name)
    with op.batch_alter_table("directory_users") as table:
        table.drop_column("assigned")
        table.drop_column("group_sids")
    with op.batch_alter_table("tenants") as table:
        table.drop_column("plan")
