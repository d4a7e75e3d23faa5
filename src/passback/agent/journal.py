"""What the agent remembers of recent requests, so that none is applied twice.

A request delivered again (a reconnect, the server retrying after it lost the
agent, a second agent) is answered with the outcome it already had. A request
that was started but never finished (the agent died in between) is resolved
by looking at the directory: if the account's ``pwdLastSet`` moved since just
before the write, the write happened.

A request is written at most twice: just before its write goes to the
directory (``before_write``, synced to disk first: the one record a crash must
not lose) and when it ends (``finish``). A request that ends without writing
is written once, at its end, or, when it may be tried again (the directory
could not be asked), as started (``start``). Until then it leaves no entry: a
crash before the write leaves nothing to settle, and a re-delivery applies it
afresh.

The end is committed without waiting for the disk: an application crash does
not lose it (the write-ahead log is in the file system), and if a power loss
did, the request would look started, or unseen, and be settled as above —
``pwdLastSet`` tells whether its write happened; one that never wrote is
applied again.

The journal is a SQLite file in the agent's state folder. It holds request
ids, anchors, outcomes and times — never a password (SPEC S7).
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import threading
from pathlib import Path

from passback.protocol.outcomes import Outcome

#: How long a finished request is remembered. Retries come within minutes; a
#: week leaves room for an operator reading a support case.
RETENTION_SECONDS = 7 * 24 * 3600

_SCHEMA = """
CREATE TABLE IF NOT EXISTS requests (
    request_id TEXT PRIMARY KEY,
    digest TEXT NOT NULL,
    anchor TEXT NOT NULL,
    operation TEXT NOT NULL,
    started_at INTEGER NOT NULL,
    pwd_last_set_before INTEGER,
    outcome TEXT,
    detail TEXT,
    event_id INTEGER,
    finished_at INTEGER
)
"""


@dataclasses.dataclass(frozen=True)
class Request:
    """A request as the journal first records it."""

    request_id: str
    digest: str
    anchor: str
    operation: str
    started_at: int


@dataclasses.dataclass(frozen=True)
class Entry:
    request_id: str
    digest: str
    pwd_last_set_before: int | None
    outcome: Outcome | None
    detail: dict[str, int | str]
    event_id: int

    @property
    def finished(self) -> bool:
        return self.outcome is not None


class Journal:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # an outcome must survive a crash
        self._db.execute(_SCHEMA)

    def get(self, request_id: str) -> Entry | None:
        with self._lock:
            row = self._db.execute(
                "SELECT request_id, digest, pwd_last_set_before, outcome, detail, event_id"
                " FROM requests WHERE request_id = ?",
                (request_id,),
            ).fetchone()
        if row is None:
            return None
        rid, digest, before, outcome, detail, event_id = row
        return Entry(
            rid,
            digest,
            before,
            Outcome(outcome) if outcome is not None else None,
            json.loads(detail) if detail else {},
            event_id or 0,
        )

    def start(self, request: Request) -> None:
        """Record ``request`` as started and not finished (a request here already
        is left as it is)."""
        with self._lock:
            self._db.execute(
                "INSERT OR IGNORE INTO requests"
                " (request_id, digest, anchor, operation, started_at) VALUES (?, ?, ?, ?, ?)",
                dataclasses.astuple(request),
            )

    def before_write(self, request: Request, pwd_last_set: int) -> None:
        """Record the account's pwdLastSet just before the write; on disk when
        this returns (a request already here keeps its first digest and start)."""
        with self._lock:
            self._db.execute(
                "INSERT INTO requests"
                " (request_id, digest, anchor, operation, started_at, pwd_last_set_before)"
                " VALUES (?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (request_id) DO UPDATE"
                " SET pwd_last_set_before = excluded.pwd_last_set_before",
                (*dataclasses.astuple(request), pwd_last_set),
            )

    def finish(
        self,
        request: Request,
        outcome: Outcome,
        detail: dict[str, int | str],
        event_id: int,
        now: int,
    ) -> None:
        """Record how ``request`` ended; committed without waiting for the disk
        (module doc)."""
        ended = (str(outcome), json.dumps(detail), event_id, now)
        with self._lock:
            self._db.execute("PRAGMA synchronous=NORMAL")
            try:
                self._db.execute(
                    "INSERT INTO requests (request_id, digest, anchor, operation, started_at,"
                    " outcome, detail, event_id, finished_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT (request_id) DO UPDATE SET outcome = excluded.outcome,"
                    " detail = excluded.detail, event_id = excluded.event_id,"
                    " finished_at = excluded.finished_at",
                    (*dataclasses.astuple(request), *ended),
                )
            finally:
                self._db.execute("PRAGMA synchronous=FULL")

    def prune(self, now: int) -> int:
        with self._lock:
            cursor = self._db.execute(
                "DELETE FROM requests WHERE started_at < ?", (now - RETENTION_SECONDS,)
            )
        return cursor.rowcount

    def close(self) -> None:
        with self._lock:
            self._db.close()
