"""A store of the real schema for unit tests, and what SQLite plans for the
statements a piece of code runs (so that a test can pin "searched by an
index, never a scan of the table")."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from passback.server.store import create_engine, session_factory, upgrade


@contextlib.contextmanager
def migrated_store(folder: Path) -> Iterator[sessionmaker[Session]]:
    """Sessions of a new SQLite store in ``folder``, every migration applied."""
    url = f"sqlite:///{folder / 'store.db'}"
    upgrade(url)
    engine = create_engine(url)
    try:
        yield session_factory(engine)
    finally:
        engine.dispose()


def query_plans(sessions: sessionmaker[Session], run: Callable[[Session], object]) -> list[str]:
    """SQLite's plan (``EXPLAIN QUERY PLAN``, its steps on one line) of each
    SELECT that ``run`` executes in a session of ``sessions``."""
    executed: list[tuple[str, Any]] = []

    def seen(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            executed.append((statement, parameters))

    engine = sessions.kw["bind"]
    sa.event.listen(engine, "before_cursor_execute", seen)
    try:
        with sessions() as db:
            run(db)
    finally:
        sa.event.remove(engine, "before_cursor_execute", seen)
    with engine.connect() as connection:
        raw = connection.connection.driver_connection
        assert raw is not None
        return [
            " | ".join(row[-1] for row in raw.execute("EXPLAIN QUERY PLAN " + sql, params))
            for sql, params in executed
        ]
