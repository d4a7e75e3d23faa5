"""Wrapped secrets: the package keys and server secrets are kept wrapped under
the master key, in wider columns named for what they hold. The values are
wrapped by the server at its next start (server/keyring.py: ``seal_store``),
which holds the master key; a migration does not.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None

_WRAPPED = 128
_CLEAR = 64


def upgrade() -> None:
    with op.batch_alter_table("package_keys") as batch:
        batch.alter_column(
            "key_b64", new_column_name="key_wrapped", type_=sa.String(_WRAPPED),
            existing_type=sa.String(_CLEAR), existing_nullable=False,
        )  # fmt: skip
    with op.batch_alter_table("server_secrets") as batch:
        batch.alter_column(
            "value_b64", new_column_name="value_wrapped", type_=sa.String(_WRAPPED),
            existing_type=sa.String(_CLEAR), existing_nullable=False,
        )  # fmt: skip


def downgrade() -> None:
    # Only a store whose secrets were never wrapped goes back: 0003 reads them in clear.
    with op.batch_alter_table("package_keys") as batch:
        batch.alter_column(
            "key_wrapped", new_column_name="key_b64", type_=sa.String(_CLEAR),
            existing_type=sa.String(_WRAPPED), existing_nullable=False,
        )  # fmt: skip
    with op.batch_alter_table("server_secrets") as batch:
        batch.alter_column(
            "value_wrapped", new_column_name="value_b64", type_=sa.String(_CLEAR),
            existing_type=sa.String(_WRAPPED), existing_nullable=False,
        )  # fmt: skip
