"""Request ids belong to their tenant: the operations table is keyed by
(tenant_id, request_id), so one tenant can neither see nor take another's ids.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from passback.server.store.models import UTCDateTime

revision = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None

_UUID = 36
_COLUMNS = (
    "request_id, tenant_id, user_id, agent_id, operation, outcome, event_id, "
    "detail_json, support_code, created_at, finished_at"
)


def _operations(name: str, *, tenant_key: bool) -> None:
    op.create_table(
        name,
        sa.Column("tenant_id", sa.String(_UUID), sa.ForeignKey("tenants.id", ondelete="CASCADE"),
                  primary_key=tenant_key, nullable=False),
        sa.Column("request_id", sa.String(_UUID), primary_key=True),
        sa.Column("user_id", sa.String(_UUID), nullable=False),
        sa.Column("agent_id", sa.String(_UUID), nullable=True),
        sa.Column("operation", sa.String(32), nullable=False),
        sa.Column("outcome", sa.String(32), nullable=True),
        sa.Column("event_id", sa.Integer(), nullable=True),
        sa.Column("detail_json", sa.Text(), nullable=False),
        sa.Column("support_code", sa.String(_UUID), nullable=False, unique=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
    )  # fmt: skip


def _replace_operations(*, tenant_key: bool) -> None:
    _operations("operations_new", tenant_key=tenant_key)
    # Fixed column names, no input.
    op.execute(f"INSERT INTO operations_new ({_COLUMNS}) SELECT {_COLUMNS} FROM operations")  # noqa: S608
    op.drop_index("ix_operations_tenant_id", table_name="operations")
    op.drop_table("operations")
    op.rename_table("operations_new", "operations")
    op.create_index("ix_operations_tenant_id", "operations", ["tenant_id"])


def upgrade() -> None:
    _replace_operations(tenant_key=True)


def downgrade() -> None:
    _replace_operations(tenant_key=False)
