"""passback.server.store.engine: SQLite as the server uses it (WAL, foreign
keys, private files, the locks of open connections)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa

from passback.server.store import create_engine, session_factory, upgrade
from passback.server.tenants import create_tenant
from tests.support.keys import TEST_MASTER_KEY


def test_sqlite_pragmas(engine: sa.Engine) -> None:
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_sqlite_files_are_private(tmp_path: Path) -> None:
    """The database holds tenant keys: it and its -wal/-shm files are 0600."""
    database = tmp_path / "private.db"
    url = f"sqlite:///{database}"
    upgrade(url)
    engine = create_engine(url)
    try:
        with session_factory(engine)() as session:
            create_tenant(session, "Modes", master_key=TEST_MASTER_KEY)
            side_files = [Path(f"{database}-wal"), Path(f"{database}-shm")]
            assert all(p.exists() for p in side_files)  # WAL: present while connected
            for path in (database, *side_files):
                assert path.stat().st_mode & 0o777 == 0o600, path
    finally:
        engine.dispose()


def test_an_existing_open_database_is_narrowed(tmp_path: Path) -> None:
    database = tmp_path / "old.db"
    upgrade(f"sqlite:///{database}")
    database.chmod(0o644)
    create_engine(f"sqlite:///{database}").dispose()
    assert database.stat().st_mode & 0o777 == 0o600


def test_a_new_engine_keeps_the_locks_of_open_connections(tmp_path: Path) -> None:
    """Making a second engine for a database this process has open must not drop
    the first one's locks (closing any descriptor of the file drops them all):
    another process would then believe itself the database's last user, and on
    closing checkpoint and delete the write-ahead log under this process's feet
    ("database disk image is malformed")."""
    database = tmp_path / "locks.db"
    url = f"sqlite:///{database}"
    upgrade(url)
    first = create_engine(url)
    try:
        with first.connect() as connection:
            connection.exec_driver_sql("SELECT count(*) FROM tenants").scalar()
            create_engine(url).dispose()
            subprocess.run(
                [sys.executable, "-c", OPEN_AND_CLOSE, str(database)], check=True, timeout=30
            )
            assert Path(f"{database}-wal").exists()  # still in use here: not removed
    finally:
        first.dispose()


OPEN_AND_CLOSE = """
import sqlite3, sys
connection = sqlite3.connect(sys.argv[1])
connection.execute("SELECT count(*) FROM tenants").fetchall()
connection.close()
"""
