"""Portal: tenant slugs, the deployment's secret, portal flows, support records.

Revision ID: 0002
Revises: 0001
Create Date: 2025-02-01
"""

from __future__ import annotations

import base64
import secrets

import sqlalchemy as sa
from alembic import op

from passback.server.slugs import slugify
from passback.server.store.models import UTCDateTime, utcnow

revision = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None

_UUID = 36
#: Bytes of the key that hashes one-time codes and CSRF tokens (HMAC-SHA256).
_SECRET_BYTES = 32


def upgrade() -> None:
    with op.batch_alter_table("tenants") as batch:
        batch.add_column(sa.Column("slug", sa.String(64), nullable=True))
    _fill_slugs()
    with op.batch_alter_table("tenants") as batch:
        batch.alter_column("slug", existing_type=sa.String(64), nullable=False)
        batch.create_unique_constraint("uq_tenants_slug", ["slug"])

    secrets_table = op.create_table(
        "server_secrets",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("value_b64", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    key = base64.b64encode(secrets.token_bytes(_SECRET_BYTES)).decode()
    op.bulk_insert(secrets_table, [{"name": "portal", "value_b64": key, "created_at": utcnow()}])
    op.create_table(
        "portal_flows",
        sa.Column("id_hash", sa.String(64), primary_key=True),
        sa.Column(
            "tenant_id",
            sa.String(_UUID),
            sa.ForeignKey("tenants.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("user_id", sa.String(_UUID), nullable=True),
        sa.Column("step", sa.String(16), nullable=False),
        sa.Column("blocked", sa.String(32), nullable=True),
        sa.Column("language", sa.String(16), nullable=False),
        sa.Column("code_hash", sa.String(64), nullable=True),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("completed_at", UTCDateTime(), nullable=True),
    )
    op.create_table(
        "support_records",
        sa.Column("code", sa.String(_UUID), primary_key=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("tenant_id", sa.String(_UUID), nullable=True, index=True),
        sa.Column("user_id", sa.String(_UUID), nullable=True),
        sa.Column("username", sa.String(256), nullable=True),
        sa.Column("request_id", sa.String(_UUID), nullable=True),
        sa.Column("error", sa.String(64), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=True),
        sa.Column("agent_id", sa.String(_UUID), nullable=True),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("method", sa.String(8), nullable=False),
        sa.Column("path", sa.String(1024), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
    )


def _fill_slugs() -> None:
    """Existing tenants get a slug from their name, made unique with a suffix."""
    connection = op.get_bind()
    tenants = sa.table("tenants", sa.column("id"), sa.column("name"), sa.column("slug"))
    taken: set[str] = set()
    for tenant_id, name in connection.execute(sa.select(tenants.c.id, tenants.c.name)).all():
        try:
            base = slugify(name)[:55]
        except ValueError:
            base = "tenant"
        slug, n = base, 1
        while slug in taken:
            n += 1
            slug = f"{base}-{n}"
        taken.add(slug)
        connection.execute(tenants.update().where(tenants.c.id == tenant_id).values(slug=slug))


def downgrade() -> None:
    op.drop_table("support_records")
    op.drop_table("portal_flows")
    op.drop_table("server_secrets")
    with op.batch_alter_table("tenants") as batch:
        batch.drop_constraint("uq_tenants_slug", type_="unique")
        batch.drop_column("slug")
