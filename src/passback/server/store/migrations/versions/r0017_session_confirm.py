"""Changing Security info needs an emailed code besides the password.

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from passback.server.store.models import UTCDateTime

revision = "0017"
down_revision: str | None = "0016"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.add_column("account_sessions", sa.Column("confirm_code_hash", sa.String(64), nullable=True))
    op.add_column(
        "account_sessions",
        sa.Column("confirm_attempts", sa.Integer(), nullable=False, server_default="0"),
    )
    op.add_column(
        "account_sessions",
        sa.Column("confirm_mails", sa.Integer(), nullable=False, server_default="0"),
    )
    op.add_column("account_sessions", sa.Column("confirmed_until", UTCDateTime(), nullable=True))


def downgrade() -> None:
    for column in ("confirmed_until", "confirm_mails", "confirm_attempts", "confirm_code_hash"):
        op.drop_column("account_sessions", column)
