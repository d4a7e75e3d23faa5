"""What the agent remembers of recent requests, so that none is applied twice.

A request delivered again (a reconnect, the server retrying after it lost the
agent, a second agent) is answered with the outcome it already had. A request
that was started but never finished (the agent died in between) is resolved
by looking at the directory: if the account's ``pwdLastSet`` moved since just
before the write, the write happened.

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

    def start(self, request_id: str, digest: str, anchor: str, operation: str, now: int) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR IGNORE INTO requests (request_id, digest, anchor, operation, started_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (request_id, digest, anchor, operation, now),
            )

    def before_write(self, request_id: str, pwd_last_set: int) -> None:
        """Record the account's pwdLastSet just before the write."""
        with self._lock:
            self._db.execute(
                "UPDATE requests SET pwd_last_set_before = ? WHERE request_id = ?",
                (pwd_last_set, request_id),
            )

    def finish(
        self,
        request_id: str,
        outcome: Outcome,
        detail: dict[str, int | str],
        event_id: int,
        now: int,
    ) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE requests SET outcome = ?, detail = ?, event_id = ?, finished_at = ?"
                " WHERE request_id = ?",
                (str(outcome), json.dumps(detail), event_id, now, request_id),
            )

    def prune(self, now: int) -> int:
        with self._lock:
            cursor = self._db.execute(
                "DELETE FROM requests WHERE started_at < ?", (now - RETENTION_SECONDS,)
            )
        return cursor.rowcount

    def close(self) -> None:
        with self._lock:
            self._db.close()
