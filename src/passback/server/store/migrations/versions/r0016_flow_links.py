"""The code mail's link finds its flow from another device.

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision: str | None = "0015"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.add_column("portal_flows", sa.Column("link_hash", sa.String(64), nullable=True))
    op.create_index("ix_portal_flows_link_hash", "portal_flows", ["link_hash"])


def downgrade() -> None:
    op.drop_index("ix_portal_flows_link_hash", "portal_flows")
    op.drop_column("portal_flows", "link_hash")
