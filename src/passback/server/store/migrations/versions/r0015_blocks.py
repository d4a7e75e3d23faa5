"""T1 blocks of self-service, and the audit columns they count by.

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from passback.server.store.models import UTCDateTime

revision = "0015"
down_revision: str | None = "0014"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "self_service_blocks",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column(
            "tenant_id",
            sa.String(36),
            sa.ForeignKey("tenants.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("subject", sa.String(64), nullable=False, index=True),
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("client_hash", sa.String(64), nullable=True),
        sa.Column("until", UTCDateTime(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.add_column("audit_events", sa.Column("method", sa.String(32), nullable=True))
    op.add_column("audit_events", sa.Column("subject", sa.String(64), nullable=True))
    op.create_index("ix_audit_events_subject", "audit_events", ["subject"])


def downgrade() -> None:
    op.drop_index("ix_audit_events_subject", "audit_events")
    op.drop_column("audit_events", "subject")
    op.drop_column("audit_events", "method")
    op.drop_table("self_service_blocks")
