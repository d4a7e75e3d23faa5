"""Portal flows keep the password rules the agent reported for their user, so a
form shown again does not ask the agent again.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("portal_flows") as batch:
        batch.add_column(sa.Column("rules_json", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("portal_flows") as batch:
        batch.drop_column("rules_json")
