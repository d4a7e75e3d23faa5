"""Portal flows remember the client address that started them, keyed (code mails
are capped per user and address, T1).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("portal_flows") as batch:
        batch.add_column(sa.Column("client_hash", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("portal_flows") as batch:
        batch.drop_column("client_hash")
