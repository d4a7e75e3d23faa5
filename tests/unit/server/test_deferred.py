"""Store work run after an answer: awaited at shutdown, its failures logged."""

from __future__ import annotations

import logging
import threading

import pytest

from passback.server.deferred import Deferred


async def test_work_runs_in_a_worker_thread_and_is_awaited() -> None:
    deferred = Deferred()
    ran: list[str] = []
    deferred.run(lambda: ran.append(threading.current_thread().name), "one")
    assert deferred.pending == 1
    await deferred.drain()
    assert deferred.pending == 0
    assert len(ran) == 1 and ran[0] != threading.main_thread().name


async def test_a_failure_is_logged_and_does_not_stop_the_rest(
    caplog: pytest.LogCaptureFixture,
) -> None:
    deferred = Deferred()
    ran: list[int] = []

    def fail() -> None:
        raise RuntimeError("store down")

    deferred.run(fail, "the outcome of request r1")
    deferred.run(lambda: ran.append(1), "two")
    with caplog.at_level(logging.ERROR, logger="passback.server.deferred"):
        await deferred.drain()
    assert ran == [1]
    [record] = caplog.records
    assert record.getMessage() == (
        "deferred store work failed: the outcome of request r1: RuntimeError"
    )


async def test_draining_nothing_returns_at_once() -> None:
    await Deferred().drain()
