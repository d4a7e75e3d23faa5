"""Users' names as typed names are compared with them (``models.name_key``),
each indexed with the tenant: a look-up by name was a scan of every user of
the tenant (36 ms at 100,000 users), and SQLite's ``lower`` folds ASCII only.

Revision ID: 0028
Revises: 0027
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from passback.server.store.models import name_key

revision = "0028"
down_revision: str | None = "0027"
branch_labels: str | None = None
depends_on: str | None = None

#: Users read and filled in per statement.
BATCH = 1000


def upgrade() -> None:
    with op.batch_alter_table("directory_users") as table:
        table.add_column(sa.Column("sam_key", sa.String(256), nullable=False, server_default=""))
        table.add_column(sa.Column("upn_key", sa.String(1024), nullable=True))
    users = sa.table(
        "directory_users",
        sa.column("id", sa.String),
        sa.column("sam_account_name", sa.String),
        sa.column("user_principal_name", sa.String),
        sa.column("sam_key", sa.String),
        sa.column("upn_key", sa.String),
    )
    connection = op.get_bind()
    fill = (
        users.update()
        .where(users.c.id == sa.bindparam("user_id"))
        .values(sam_key=sa.bindparam("sam"), upn_key=sa.bindparam("upn"))
    )
    # A page of users at a time, by id: millions of names are never all in memory.
    last = ""
    while True:
        rows = connection.execute(
            sa.select(users.c.id, users.c.sam_account_name, users.c.user_principal_name)
            .where(users.c.id > last)
            .order_by(users.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            break
        connection.execute(
            fill,
            [
                {
                    "user_id": user_id,
                    "sam": name_key(sam or ""),
                    "upn": None if upn is None else name_key(upn),
                }
                for user_id, sam, upn in rows
            ],
        )
        last = rows[-1][0]
    op.create_index("ix_directory_users_sam_key", "directory_users", ["tenant_id", "sam_key"])
    op.create_index("ix_directory_users_upn_key", "directory_users", ["tenant_id", "upn_key"])


def downgrade() -> None:
    op.drop_index("ix_directory_users_upn_key", "directory_users")
    op.drop_index("ix_directory_users_sam_key", "directory_users")
    with op.batch_alter_table("directory_users") as table:
        table.drop_column("upn_key")
        table.drop_column("sam_key")
