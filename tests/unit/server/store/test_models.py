"""passback.server.store.models: what the database holds."""

from __future__ import annotations

import sqlalchemy as sa

from passback.server.store.models import Base


def test_no_password_column(engine: sa.Engine) -> None:
    for table in Base.metadata.tables.values():
        assert not [c for c in table.columns if "password" in c.name.lower()], table.name
