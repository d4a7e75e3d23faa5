"""passback.server.store.models: what the database holds."""

from __future__ import annotations

import sqlalchemy as sa

from passback.server.store.models import Base

#: The one column that names a password: the current password of a forced
#: change, sealed (AES-GCM) under a key only the user's cookie holds (S7;
#: tests/unit/server/portal/test_account_session.py).
SEALED = {("account_sessions", "sealed_password")}


def test_no_password_column(engine: sa.Engine) -> None:
    for table in Base.metadata.tables.values():
        named = [
            c
            for c in table.columns
            if "password" in c.name.lower() and (table.name, c.name) not in SEALED
        ]
        assert not named, table.name
    for table_name, column in SEALED:
        assert isinstance(Base.metadata.tables[table_name].c[column].type, sa.LargeBinary)
