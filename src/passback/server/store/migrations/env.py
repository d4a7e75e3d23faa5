"""Alembic environment: runs migrations online against ``database_url``.

Logging is left as the server configured it (no ``fileConfig``).
"""

from __future__ import annotations

from alembic import context

from passback.server.store.engine import create_engine
from passback.server.store.models import Base


def run_migrations() -> None:
    database_url = context.config.attributes["database_url"]
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            context.configure(
                connection=connection,
                target_metadata=Base.metadata,
                # SQLite alters tables by copying them: batch mode does that.
                render_as_batch=connection.dialect.name == "sqlite",
            )
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise RuntimeError("offline (SQL script) migrations are not supported")
run_migrations()
