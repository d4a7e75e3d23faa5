"""Portal flows pass one or two gates of different methods (G1).

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision: str | None = "0012"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    # Plain ALTER TABLE (see 0008). A flow of an earlier version is at the email gate.
    op.add_column("portal_flows", sa.Column("gate", sa.String(32), nullable=True))
    op.add_column(
        "portal_flows",
        sa.Column("gates_passed", sa.String(128), nullable=False, server_default=""),
    )
    op.execute("UPDATE portal_flows SET gate = 'email' WHERE step = 'code'")


def downgrade() -> None:
    op.drop_column("portal_flows", "gates_passed")
    op.drop_column("portal_flows", "gate")
