"""The store: migrations build exactly the models' schema; tenants and tokens."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.orm import Session

from passback.crypto.tokens import ADMIN_PREFIX, ONBOARDING_PREFIX, token_matches
from passback.server.errors import UnknownTenant
from passback.server.keyring import open_package_key
from passback.server.store import create_engine, session_factory, upgrade
from passback.server.store.models import Base, StoredPackageKey, Token
from passback.server.tenants import (
    create_tenant,
    list_tenants,
    new_admin_token,
    new_onboarding_token,
)
from tests.support.keys import TEST_MASTER_KEY


@pytest.fixture
def url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    upgrade(url)
    return url


@pytest.fixture
def engine(url: str) -> Iterator[sa.Engine]:
    engine = create_engine(url)
    yield engine
    engine.dispose()


@pytest.fixture
def db(engine: sa.Engine) -> Iterator[Session]:
    with session_factory(engine)() as session:
        yield session


def test_migrations_match_the_models(engine: sa.Engine) -> None:
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == []


def test_upgrade_twice_is_harmless(url: str) -> None:
    upgrade(url)


def test_sqlite_pragmas(engine: sa.Engine) -> None:
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_no_password_column(engine: sa.Engine) -> None:
    for table in Base.metadata.tables.values():
        assert not [c for c in table.columns if "password" in c.name.lower()], table.name


def test_create_tenant(db: Session) -> None:
    created = create_tenant(db, "Acme", master_key=TEST_MASTER_KEY)
    db.commit()
    assert created.admin_token.startswith(ADMIN_PREFIX)
    assert created.onboarding_token.startswith(ONBOARDING_PREFIX)
    assert created.admin_token not in repr(created)
    tokens = {t.kind: t for t in db.scalars(sa.select(Token))}
    assert token_matches(created.admin_token, tokens["admin"].token_hash)
    assert token_matches(created.onboarding_token, tokens["onboarding"].token_hash)
    stored = db.scalars(sa.select(StoredPackageKey)).one()
    assert open_package_key(TEST_MASTER_KEY, stored).key_id == stored.key_id
    assert stored.key_wrapped.startswith(f"mk1.{TEST_MASTER_KEY.key_id}.")
    [summary] = list_tenants(db)
    assert (summary.tenant_id, summary.name, summary.agents) == (created.tenant_id, "Acme", 0)
    assert summary.created_at.tzinfo is not None


def test_more_tokens(db: Session) -> None:
    tenant = create_tenant(db, "Acme", master_key=TEST_MASTER_KEY).tenant_id
    assert new_onboarding_token(db, tenant).startswith(ONBOARDING_PREFIX)
    assert new_admin_token(db, tenant).startswith(ADMIN_PREFIX)
    db.commit()
    assert db.scalar(sa.select(sa.func.count(Token.id))) == 4


def test_tokens_for_an_unknown_tenant(db: Session) -> None:
    with pytest.raises(UnknownTenant):
        new_onboarding_token(db, "00000000-0000-0000-0000-000000000000")
    with pytest.raises(UnknownTenant):
        new_admin_token(db, "00000000-0000-0000-0000-000000000000")


def test_tenant_needs_a_name(db: Session) -> None:
    with pytest.raises(ValueError, match="name"):
        create_tenant(db, "  ", master_key=TEST_MASTER_KEY)


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
