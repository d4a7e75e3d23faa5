"""The verification methods users register (G2, G3): authenticator secrets
(wrapped), security answers (hashed), contact data.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from passback.server.store.models import WRAPPED_LENGTH, UTCDateTime

revision = "0011"
down_revision: str | None = "0010"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "gate_registrations",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column(
            "tenant_id",
            sa.String(36),
            sa.ForeignKey("tenants.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("user_id", sa.String(36), nullable=False, index=True),
        sa.Column("method", sa.String(32), nullable=False),
        sa.Column("secret_wrapped", sa.String(WRAPPED_LENGTH), nullable=True),
        sa.Column("data_json", sa.Text(), nullable=False, server_default="{}"),
        sa.Column("last_step", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("confirmed_at", UTCDateTime(), nullable=True),
        sa.UniqueConstraint("tenant_id", "user_id", "method", name="uq_gate_registrations_method"),
    )


def downgrade() -> None:
    op.drop_table("gate_registrations")
