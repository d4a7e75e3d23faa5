"""Operation records and support records are pruned by age (``retention``):
their ``created_at`` is indexed, so that the hourly prune does not read the
whole table.

Revision ID: 0027
Revises: 0026
Create Date: 2026-11-30
"""

from __future__ import annotations

from alembic import op

revision = "0027"
down_revision: str | None = "0026"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_index("ix_operations_created_at", "operations", ["created_at"])
    op.create_index("ix_support_records_created_at", "support_records", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_support_records_created_at", "support_records")
    op.drop_index("ix_operations_created_at", "operations")
