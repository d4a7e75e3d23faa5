"""Work run after an answer: held until the answer is out, awaited at shutdown,
its failures logged."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable

import pytest
from starlette.types import Message, Receive, Scope, Send

from passback.server.deferred import AfterAnswer, Deferred


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
    assert record.getMessage() == ("deferred work failed: the outcome of request r1: RuntimeError")


async def test_draining_nothing_returns_at_once() -> None:
    await Deferred().drain()


async def test_a_coroutine_runs_on_the_loop() -> None:
    deferred = Deferred()
    ran: list[str] = []

    async def work() -> None:
        ran.append(threading.current_thread().name)

    deferred.run_async(work, "one")
    await deferred.drain()
    assert ran == [threading.main_thread().name]


def _app(deferred: Deferred, log: list[str], *, fail: bool = False) -> AfterAnswer:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        deferred.run(lambda: log.append("work"), "work")
        deferred.run_async(_appending(log, "coroutine"), "coroutine")
        log.append(f"held: {deferred.pending}")
        if fail:
            raise RuntimeError("the handler broke")
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"a", "more_body": True})
        log.append(f"after the first part: {deferred.pending}")
        await send({"type": "http.response.body", "body": b"b"})
        log.append(f"after the last part: {deferred.pending}")

    return AfterAnswer(app)


def _appending(log: list[str], what: str) -> Callable[[], Awaitable[None]]:
    async def work() -> None:
        log.append(what)

    return work


async def _receive() -> Message:
    return {"type": "http.request", "body": b""}


async def test_work_of_a_request_starts_once_its_last_part_is_sent() -> None:
    deferred = Deferred()
    log: list[str] = []
    sent: list[str] = []

    async def send(message: Message) -> None:
        sent.append(message["type"])

    await _app(deferred, log)({"type": "http"}, _receive, send)
    await deferred.drain()
    assert log[:3] == ["held: 0", "after the first part: 0", "after the last part: 2"]
    assert sorted(log[3:]) == ["coroutine", "work"]
    assert sent == ["http.response.start", "http.response.body", "http.response.body"]


async def test_work_of_a_request_that_failed_still_runs() -> None:
    deferred = Deferred()
    log: list[str] = []

    async def send(message: Message) -> None:
        raise AssertionError("nothing is sent")

    with pytest.raises(RuntimeError):
        await _app(deferred, log, fail=True)({"type": "http"}, _receive, send)
    await deferred.drain()
    assert log[0] == "held: 0"
    assert sorted(log[1:]) == ["coroutine", "work"]


async def test_outside_http_work_starts_at_once() -> None:
    deferred = Deferred()
    log: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        deferred.run(lambda: log.append("work"), "work")
        log.append(f"pending: {deferred.pending}")

    async def send(message: Message) -> None:
        pass

    await AfterAnswer(app)({"type": "websocket"}, _receive, send)
    await deferred.drain()
    assert log == ["pending: 1", "work"]


async def test_work_deferred_by_deferred_work_starts_at_once() -> None:
    deferred = Deferred()
    log: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        async def outer() -> None:
            deferred.run(lambda: log.append("inner"), "inner")
            log.append("outer")

        deferred.run_async(outer, "outer")
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def send(message: Message) -> None:
        pass

    await AfterAnswer(app)({"type": "http"}, _receive, send)
    await deferred.drain()
    assert log == ["outer", "inner"]


async def test_a_reader_waits_for_records_being_written_not_for_other_work() -> None:
    """``settled``: records started so far are in once it returns; a mail
    still being sent does not hold a reader up; a stuck store holds it at
    most ``timeout``."""
    deferred = Deferred()
    record, mail = asyncio.Event(), asyncio.Event()
    written: list[str] = []

    async def write() -> None:
        await record.wait()
        written.append("outcome")

    deferred.run_async(write, "an outcome", records=True)
    deferred.run_async(mail.wait, "a notice")  # never set: still sending
    reader = asyncio.ensure_future(deferred.settled())
    await asyncio.sleep(0.01)
    assert not reader.done()
    record.set()
    await asyncio.wait_for(reader, 1)
    assert written == ["outcome"]

    deferred.run_async(asyncio.Event().wait, "a stuck store", records=True)
    started = asyncio.get_running_loop().time()
    await deferred.settled(timeout=0.05)
    assert asyncio.get_running_loop().time() - started < 1
    mail.set()
