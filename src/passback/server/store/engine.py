"""Engines and sessions for the store: SQLite (embedded default) or PostgreSQL."""

from __future__ import annotations

from typing import Any

import sqlalchemy
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

#: Milliseconds a SQLite writer waits for another one before "database is locked".
SQLITE_BUSY_TIMEOUT_MS = 5000


def create_engine(database_url: str) -> Engine:
    """An engine for ``database_url``; on SQLite with WAL (readers never wait for
    the writer) and foreign keys on (SQLite leaves them off by default)."""
    engine = sqlalchemy.create_engine(database_url)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    finally:
        cursor.close()


def session_factory(engine: Engine) -> sessionmaker[Session]:
    # Rows outlive their transaction as plain values (read after commit).
    return sessionmaker(engine, expire_on_commit=False)
