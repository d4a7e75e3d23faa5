"""Portal limits: password attempts, mails sent, the pending request id of a
flow; the never-read ``language`` column goes.

Revision ID: 0003
Revises: 0002
Create Date: 2025-02-15
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None

_UUID = 36


def upgrade() -> None:
    with op.batch_alter_table("portal_flows") as batch:
        batch.add_column(
            sa.Column("write_attempts", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(
            sa.Column("mailed", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("pending_request_id", sa.String(_UUID), nullable=True))
        batch.drop_column("language")
    with op.batch_alter_table("portal_flows") as batch:
        # The defaults only filled the existing rows; the code sets every value.
        batch.alter_column("write_attempts", existing_type=sa.Integer(), server_default=None)
        batch.alter_column("mailed", existing_type=sa.Boolean(), server_default=None)
        batch.create_index("ix_portal_flows_user_id", ["user_id"])


def downgrade() -> None:
    with op.batch_alter_table("portal_flows") as batch:
        batch.drop_index("ix_portal_flows_user_id")
        batch.add_column(sa.Column("language", sa.String(16), nullable=False, server_default="en"))
        batch.drop_column("pending_request_id")
        batch.drop_column("mailed")
        batch.drop_column("write_attempts")
