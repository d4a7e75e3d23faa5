"""Portal flows ask security questions (G2): which ones, and the keyed
username they are chosen by.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision: str | None = "0013"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.add_column("portal_flows", sa.Column("who_hash", sa.String(64), nullable=True))
    op.add_column("portal_flows", sa.Column("challenge", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("portal_flows", "challenge")
    op.drop_column("portal_flows", "who_hash")
