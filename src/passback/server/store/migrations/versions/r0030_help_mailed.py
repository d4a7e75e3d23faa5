"""A help request (G5) remembers whether it was mailed: the caps count the
mails that went, so that requests held back by them (a stranger's flood) do
not use up the owner's.

Revision ID: 0030
Revises: 0029
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from passback.server.store.models import UTCDateTime

revision = "0030"
down_revision: str | None = "0029"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("portal_flows") as batch:
        batch.add_column(sa.Column("help_mailed_at", UTCDateTime(), nullable=True))
    op.create_index(
        "ix_portal_flows_help_mailed_at", "portal_flows", ["tenant_id", "help_mailed_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_portal_flows_help_mailed_at", "portal_flows")
    with op.batch_alter_table("portal_flows") as batch:
        batch.drop_column("help_mailed_at")
