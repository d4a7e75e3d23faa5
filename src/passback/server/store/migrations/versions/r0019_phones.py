"""Phone gates: contact numbers from the directory, the tenant's phone
region, numbers typed wrong per flow, every code message sent (T1's caps
count them by their time; a code sent again counts), the addresses of the
tenant's administrators for users no code reaches (G5), and the tenant's own
security questions (G2).

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from passback.server.store.models import UTCDateTime

revision = "0019"
down_revision: str | None = "0018"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "code_sends",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column(
            "tenant_id",
            sa.String(36),
            sa.ForeignKey("tenants.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("user_id", sa.String(36), nullable=False),
        sa.Column("client_hash", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(8), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_code_sends_user_id", "code_sends", ["user_id"])
    op.create_index("ix_code_sends_at", "code_sends", ["at"])
    with op.batch_alter_table("directory_users") as table:
        table.add_column(sa.Column("mobile", sa.String(64), nullable=True))
        table.add_column(sa.Column("telephone", sa.String(64), nullable=True))
    with op.batch_alter_table("portal_flows") as table:
        table.add_column(
            sa.Column("number_misses", sa.Integer(), nullable=False, server_default="0")
        )
        table.add_column(sa.Column("contacted_at", UTCDateTime(), nullable=True))
        table.add_column(sa.Column("sends", sa.Integer(), nullable=False, server_default="0"))
    op.execute("UPDATE portal_flows SET sends = 1 WHERE mailed")
    with op.batch_alter_table("gate_policies") as table:
        table.add_column(sa.Column("phone_region", sa.String(2), nullable=True))
        table.add_column(sa.Column("admin_contacts", sa.Text(), nullable=False, server_default=""))
        table.add_column(
            sa.Column("custom_questions", sa.Text(), nullable=False, server_default="[]")
        )


def downgrade() -> None:
    op.drop_index("ix_code_sends_at", "code_sends")
    op.drop_index("ix_code_sends_user_id", "code_sends")
    op.drop_table("code_sends")
    with op.batch_alter_table("gate_policies") as table:
        table.drop_column("custom_questions")
        table.drop_column("admin_contacts")
        table.drop_column("phone_region")
    with op.batch_alter_table("portal_flows") as table:
        table.drop_column("sends")
        table.drop_column("contacted_at")
        table.drop_column("number_misses")
    with op.batch_alter_table("directory_users") as table:
        table.drop_column("telephone")
        table.drop_column("mobile")
