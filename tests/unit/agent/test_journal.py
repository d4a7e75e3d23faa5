"""passback.agent.journal: what the agent remembers of recent requests (S5, S7)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from passback.agent.journal import RETENTION_SECONDS, Entry, Journal, Request
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


def request(request_id: str, digest: str = "d", started_at: int = NOW) -> Request:
    return Request(request_id, digest, "anchor-1", "reset", started_at)


def test_a_write_is_recorded_before_and_after(journal: Journal) -> None:
    r1 = request("r1", "digest-1")
    journal.before_write(r1, 1234)
    entry = journal.get("r1")
    assert entry == Entry("r1", "digest-1", 1234, None, {}, 0)
    assert not entry.finished

    journal.finish(r1, Outcome.TOO_SHORT, {"min_length": 12, "source": "domain"}, 33008, NOW + 1)
    entry = journal.get("r1")
    assert entry == Entry(
        "r1", "digest-1", 1234, Outcome.TOO_SHORT, {"min_length": 12, "source": "domain"}, 33008
    )
    assert entry is not None and entry.finished


def test_a_request_that_writes_nothing_is_recorded_once_at_its_end(journal: Journal) -> None:
    journal.finish(request("r1"), Outcome.PROTECTED, {"reason": "protected-group"}, 31011, NOW)
    assert journal.get("r1") == Entry(
        "r1", "d", None, Outcome.PROTECTED, {"reason": "protected-group"}, 31011
    )


def test_started_and_not_finished(journal: Journal) -> None:
    journal.start(request("r1", "digest-1"))
    assert journal.get("r1") == Entry("r1", "digest-1", None, None, {}, 0)


def test_again_keeps_what_the_first_delivery_recorded(journal: Journal) -> None:
    """A re-delivery must not wipe what the first delivery recorded."""
    journal.before_write(request("r1", "digest-1"), 99)
    journal.start(request("r1", "digest-2", NOW + 5))
    entry = journal.get("r1")
    assert entry is not None and entry.digest == "digest-1" and entry.pwd_last_set_before == 99
    journal.before_write(request("r1", "digest-2", NOW + 9), 100)  # written again after a check
    journal.finish(request("r1", "digest-2", NOW + 9), Outcome.OK, {}, 31002, NOW + 9)
    assert journal.get("r1") == Entry("r1", "digest-1", 100, Outcome.OK, {}, 31002)
    assert journal.prune(NOW + RETENTION_SECONDS + 1) == 1  # its first start counts


def test_the_end_does_not_wait_for_the_disk_and_the_write_does(
    journal: Journal, path: Path
) -> None:
    """Only the record before a write must survive a power loss (module doc)."""
    seen: list[str] = []
    journal._db.set_trace_callback(seen.append)
    journal.finish(request("r1"), Outcome.OK, {}, 31002, NOW)
    assert [s.split(" (")[0] for s in seen] == [
        "PRAGMA synchronous=NORMAL",
        "INSERT INTO requests",
        "PRAGMA synchronous=FULL",
    ]
    seen.clear()
    journal.before_write(request("r2"), 5)
    assert [s.split(" (")[0] for s in seen] == ["INSERT INTO requests"]
    assert journal._db.execute("PRAGMA synchronous").fetchone() == (2,)  # FULL


def test_prune(journal: Journal) -> None:
    journal.finish(request("old", started_at=NOW - RETENTION_SECONDS - 1), Outcome.OK, {}, 1, NOW)
    journal.start(request("edge", started_at=NOW - RETENTION_SECONDS))
    journal.before_write(request("new"), 3)
    assert journal.prune(NOW) == 1
    assert journal.get("old") is None
    assert journal.get("edge") is not None and journal.get("new") is not None
    assert journal.prune(NOW) == 0


def test_survives_reopen(path: Path) -> None:
    first = Journal(path)
    first.before_write(request("r1", "d1"), 7)
    first.finish(request("r2", "d2"), Outcome.LOCKED, {}, 33006, NOW)
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
