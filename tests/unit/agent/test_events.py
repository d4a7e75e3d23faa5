"""passback.agent.events: the agent's JSON-lines event log (E3, S7)."""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from passback.agent.events import MAX_VALUE_LENGTH, EventId, EventLog, Level


def read(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines()]


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "logs" / "events.jsonl"


@pytest.fixture
def log(path: Path) -> Iterator[EventLog]:
    events = EventLog(path)
    yield events
    events.close()


def test_record_fields(log: EventLog, path: Path) -> None:
    """E3: each event names its id, the seeds' name, the request id and the anchor."""
    returned = log.emit(
        EventId.PasswordResetStart, "reset received", request_id="req-1", anchor="QUJD"
    )
    (record,) = read(path)
    assert record == returned
    assert record["id"] == 31001
    assert record["name"] == "PasswordResetStart"
    assert record["level"] == "info"
    assert record["message"] == "reset received"
    assert (record["request_id"], record["anchor"]) == ("req-1", "QUJD")
    when = dt.datetime.fromisoformat(record["time"])
    assert when.utcoffset() == dt.timedelta(0)  # time with zone (E2)
    assert abs(dt.datetime.now(dt.UTC) - when) < dt.timedelta(minutes=1)


def test_one_line_per_event_and_extra_fields(log: EventLog, path: Path) -> None:
    log.emit(EventId.DecryptionError, "refused", level=Level.ERROR, reason="expired")
    log.emit(
        EventId.ADPasswordPolicyError,
        "line one\nline two",
        level=Level.WARNING,
        count=3,
        flag=True,
        empty=None,
    )
    first, second = read(path)
    assert first["reason"] == "expired" and first["level"] == "error"
    assert first["request_id"] is None and first["anchor"] is None
    assert second["message"] == "line one\nline two"
    assert (second["count"], second["flag"], second["empty"]) == (3, True, None)
    assert path.read_text("utf-8").count("\n") == 2


def test_long_values_are_cut(log: EventLog, path: Path) -> None:
    long = "x" * (MAX_VALUE_LENGTH + 500)
    log.emit(EventId.UnknownError, long, server_message=long, exact="y" * MAX_VALUE_LENGTH)
    (record,) = read(path)
    assert record["message"] == "x" * MAX_VALUE_LENGTH + "…"
    assert record["server_message"] == "x" * MAX_VALUE_LENGTH + "…"
    assert record["exact"] == "y" * MAX_VALUE_LENGTH


def test_unicode_is_kept(log: EventLog, path: Path) -> None:
    log.emit(EventId.ADUserNotFoundError, "usuário não encontrado")
    assert "usuário não encontrado" in path.read_text("utf-8")


def test_file_mode(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        events = EventLog(tmp_path / "events.jsonl")
    finally:
        os.umask(old)
    events.close()
    assert stat.S_IMODE((tmp_path / "events.jsonl").stat().st_mode) == 0o640


def test_appends_across_opens(path: Path) -> None:
    for n in range(2):
        events = EventLog(path)
        events.emit(EventId.WriteBackServiceStarted, f"start {n}")
        events.close()
    assert [r["message"] for r in read(path)] == ["start 0", "start 1"]


def test_close(path: Path) -> None:
    events = EventLog(path)
    events.emit(EventId.WriteBackServiceStopped, "before")
    events.close()
    events.close()  # twice is fine
    events.emit(EventId.WriteBackServiceStopped, "after")  # goes nowhere, no error
    assert [r["message"] for r in read(path)] == ["before"]


def test_stream(caplog: pytest.LogCaptureFixture) -> None:
    stream = io.StringIO()
    events = EventLog(stream=stream)
    with caplog.at_level(logging.INFO, logger="passback.agent.events"):
        events.emit(EventId.ADUserAccountLockedOut, "locked", level=Level.WARNING)
    events.close()
    assert not stream.closed  # not ours to close
    assert json.loads(stream.getvalue())["id"] == 33006
    (rec,) = caplog.records
    assert rec.levelno == logging.WARNING
    assert "33006 ADUserAccountLockedOut locked" in rec.getMessage()


def test_no_destination() -> None:
    record = EventLog().emit(EventId.UnknownError, "x", level=Level.ERROR)
    assert record["id"] == 32000
