"""passback.agent.journal: what the agent remembers of recent requests (S5, S7)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from passback.agent.journal import RETENTION_SECONDS, Entry, Journal
from passback.protocol.outcomes import Outcome

NOW = 1_700_000_000


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "journal.db"


@pytest.fixture
def journal(path: Path) -> Iterator[Journal]:
    j = Journal(path)
    yield j
    j.close()


def test_unknown_request(journal: Journal) -> None:
    assert journal.get("nope") is None


def test_lifecycle(journal: Journal) -> None:
    journal.start("r1", "digest-1", "anchor-1", "reset", NOW)
    assert journal.get("r1") == Entry("r1", "digest-1", None, None, {}, 0)
    assert not journal.get("r1").finished  # type: ignore[union-attr]

    journal.before_write("r1", 1234)
    entry = journal.get("r1")
    assert entry is not None and entry.pwd_last_set_before == 1234 and not entry.finished

    journal.finish("r1", Outcome.TOO_SHORT, {"min_length": 12, "source": "domain"}, 33008, NOW + 1)
    entry = journal.get("r1")
    assert entry == Entry(
        "r1", "digest-1", 1234, Outcome.TOO_SHORT, {"min_length": 12, "source": "domain"}, 33008
    )
    assert entry is not None and entry.finished


def test_start_again_keeps_the_first(journal: Journal) -> None:
    """A re-delivery must not wipe what the first delivery recorded."""
    journal.start("r1", "digest-1", "a", "reset", NOW)
    journal.before_write("r1", 99)
    journal.start("r1", "digest-2", "b", "admin_reset", NOW + 5)
    entry = journal.get("r1")
    assert entry is not None and entry.digest == "digest-1" and entry.pwd_last_set_before == 99


def test_updates_to_an_unknown_request_do_nothing(journal: Journal) -> None:
    journal.before_write("ghost", 1)
    journal.finish("ghost", Outcome.OK, {}, 31002, NOW)
    assert journal.get("ghost") is None


def test_prune(journal: Journal) -> None:
    journal.start("old", "d", "a", "reset", NOW - RETENTION_SECONDS - 1)
    journal.finish("old", Outcome.OK, {}, 31002, NOW - RETENTION_SECONDS)
    journal.start("edge", "d", "a", "reset", NOW - RETENTION_SECONDS)
    journal.start("new", "d", "a", "reset", NOW)
    assert journal.prune(NOW) == 1
    assert journal.get("old") is None
    assert journal.get("edge") is not None and journal.get("new") is not None
    assert journal.prune(NOW) == 0


def test_survives_reopen(path: Path) -> None:
    first = Journal(path)
    first.start("r1", "d1", "a", "reset", NOW)
    first.before_write("r1", 7)
    first.start("r2", "d2", "a", "reset", NOW)
    first.finish("r2", Outcome.LOCKED, {}, 33006, NOW)
    first.close()
    again = Journal(path)
    try:
        assert again.get("r1") == Entry("r1", "d1", 7, None, {}, 0)
        assert again.get("r2") == Entry("r2", "d2", None, Outcome.LOCKED, {}, 33006)
    finally:
        again.close()


def test_file_holds_no_password_column(journal: Journal, path: Path) -> None:
    """S7: the schema has nowhere to put a password."""
    with sqlite3.connect(path) as db:
        columns = {row[1] for row in db.execute("PRAGMA table_info(requests)")}
    db.close()
    assert not any("pass" in c or "secret" in c for c in columns)
    assert "pwd_last_set_before" in columns
