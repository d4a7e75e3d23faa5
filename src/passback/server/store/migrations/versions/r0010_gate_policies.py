"""Each tenant's self-service policy: allowed methods, gates required,
security questions, registration (G1, G2, G8).

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from passback.server.store.models import UTCDateTime

revision = "0010"
down_revision: str | None = "0009"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "gate_policies",
        sa.Column(
            "tenant_id",
            sa.String(36),
            sa.ForeignKey("tenants.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("methods", sa.String(256), nullable=False),
        sa.Column("required", sa.Integer(), nullable=False),
        sa.Column("questions_to_register", sa.Integer(), nullable=False),
        sa.Column("questions_to_ask", sa.Integer(), nullable=False),
        sa.Column("registration_required", sa.Boolean(), nullable=False),
        sa.Column("reconfirm_days", sa.Integer(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("gate_policies")
