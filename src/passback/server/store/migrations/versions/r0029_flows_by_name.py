"""T1's counts of one username as typed from one address search the flows
of that name, not every flow of the tenant (which strangers' starts make
many).

Revision ID: 0029
Revises: 0028
Create Date: 2026-11-30
"""

from __future__ import annotations

from alembic import op

revision = "0029"
down_revision: str | None = "0028"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_index("ix_portal_flows_who_hash", "portal_flows", ["tenant_id", "who_hash"])


def downgrade() -> None:
    op.drop_index("ix_portal_flows_who_hash", "portal_flows")
