"""Support records keep the language the user saw.

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision: str | None = "0017"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.add_column("support_records", sa.Column("language", sa.String(16), nullable=True))


def downgrade() -> None:
    op.drop_column("support_records", "language")
