"""A migrated SQLite store in the test's folder."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from passback.server.store import create_engine, session_factory, upgrade


@pytest.fixture(scope="session")
def migrated_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store at the newest schema, made once; each test gets a copy."""
    path = tmp_path_factory.mktemp("store") / "store.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture
def url(tmp_path: Path, migrated_store: Path) -> str:
    shutil.copyfile(migrated_store, tmp_path / "store.db")
    return f"sqlite:///{tmp_path / 'store.db'}"


@pytest.fixture
def engine(url: str) -> Iterator[sa.Engine]:
    engine = create_engine(url)
    yield engine
    engine.dispose()


@pytest.fixture
def db(engine: sa.Engine) -> Iterator[Session]:
    with session_factory(engine)() as session:
        yield session
