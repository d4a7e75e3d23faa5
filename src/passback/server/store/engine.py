"""Engines and sessions for the store: SQLite (embedded default) or PostgreSQL."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

import sqlalchemy
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

#: Milliseconds a SQLite writer waits for another one before "database is locked".
SQLITE_BUSY_TIMEOUT_MS = 5000


#: SQLite's files beside the database: its write-ahead log and shared memory.
SQLITE_SIDE_FILES = ("-wal", "-shm")


def create_engine(database_url: str) -> Engine:
    """An engine for ``database_url``; on SQLite with WAL (readers never wait for
    the writer) and foreign keys on (SQLite leaves them off by default).

    A SQLite database file is created, or narrowed, to mode 0600 before the first
    connection: it holds tenant keys. SQLite gives its ``-wal`` and ``-shm`` files
    the database file's mode; those left by an earlier version are narrowed too."""
    engine = sqlalchemy.create_engine(database_url)
    if engine.dialect.name == "sqlite":
        database = engine.url.database
        if database and database != ":memory:" and not database.startswith("file:"):
            private_sqlite_files(Path(database))
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def private_sqlite_files(database: Path) -> None:
    """Create ``database`` empty with mode 0600 if it is missing; set 0600 on it and
    on its side files where they exist.

    An existing database is never opened here: closing any descriptor of the file
    drops every POSIX lock this process holds on it, those of SQLite connections
    included, and a writer elsewhere could then corrupt the database."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(database, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    for path in (database, *(Path(f"{database}{s}") for s in SQLITE_SIDE_FILES)):
        if path.exists():
            path.chmod(0o600)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        # Deleted and replaced content is zeroed, not left in free pages: a
        # secret replaced by its wrapped form leaves no copy in the file.
        cursor.execute("PRAGMA secure_delete=ON")
    finally:
        cursor.close()


def session_factory(engine: Engine) -> sessionmaker[Session]:
    # Rows outlive their transaction as plain values (read after commit).
    return sessionmaker(engine, expire_on_commit=False)
