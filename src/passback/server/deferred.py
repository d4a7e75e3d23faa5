"""Work that need not hold up an answer: it starts once the answer has gone
back, and the server awaits what is left before it stops.

Within an HTTP request (:class:`AfterAnswer`, the app's middleware) work is
held until the last byte of the response has been handed to the server, so
that it does not compete with the answer for the interpreter or the store;
elsewhere (the relay, a test) it starts at once.

Only work whose loss in a crash leaves nothing wrong behind may be deferred:
the caller says why in its own docs (``writeback`` records a success this way).

Work that writes what a reader may look for next (an outcome, an audit event)
is deferred with ``records=True``; readers of those await :meth:`Deferred.settled`
first, so that a client's next request sees what its last answer said was done
(on this server; another node sees it a moment later).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Awaitable, Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger(__name__)

#: Seconds a reader waits at most for records still being written (one
#: transaction each: this is only reached when the store is stuck).
SETTLE_TIMEOUT = 2.0

#: Work held by the request being answered: started when its answer is out.
_held: contextvars.ContextVar[list[Callable[[], None]] | None] = contextvars.ContextVar(
    "passback_deferred_held", default=None
)


class Deferred:
    """Must be used from one event loop."""

    def __init__(self) -> None:
        # Held until done: the loop keeps only weak references to tasks.
        self._tasks: set[asyncio.Task[None]] = set()
        #: Of those, the ones that write what readers look for (``records``).
        self._records: set[asyncio.Task[None]] = set()

    def run(self, work: Callable[[], None], what: str, *, records: bool = False) -> None:
        """Run ``work`` in a worker thread after the answer; a failure is logged
        as ``what``. ``records``: it writes what a reader may look for next."""
        self.run_async(lambda: asyncio.to_thread(work), what, records=records)

    def run_async(
        self, work: Callable[[], Awaitable[None]], what: str, *, records: bool = False
    ) -> None:
        """Await ``work()`` on the loop after the answer; a failure is logged as ``what``."""
        held = _held.get()
        if held is None:
            self._start(work, what, records)
        else:
            held.append(lambda: self._start(work, what, records))

    async def settled(self, timeout: float = SETTLE_TIMEOUT) -> None:
        """Wait (at most ``timeout`` seconds) until the work started so far
        with ``records=True`` is done: its writes are then in the store."""
        if self._records:
            await asyncio.wait(list(self._records), timeout=timeout)

    def _start(self, work: Callable[[], Awaitable[None]], what: str, records: bool) -> None:
        # Out of the request's hold: what the work defers in turn starts at once.
        context = contextvars.copy_context()
        context.run(_held.set, None)
        task = asyncio.get_running_loop().create_task(_awaited(work), context=context)
        self._tasks.add(task)
        if records:
            self._records.add(task)

        def done(finished: asyncio.Task[None]) -> None:
            self._tasks.discard(finished)
            self._records.discard(finished)
            if finished.cancelled():
                logger.warning("deferred work cancelled: %s", what)
            elif (exc := finished.exception()) is not None:
                logger.error("deferred work failed: %s: %s", what, type(exc).__name__, exc_info=exc)

        task.add_done_callback(done)

    @property
    def pending(self) -> int:
        return len(self._tasks)

    async def drain(self) -> None:
        """Wait until every piece of work started so far, and any it started, is done."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


async def _awaited(work: Callable[[], Awaitable[None]]) -> None:
    await work()


class AfterAnswer:
    """ASGI middleware: :meth:`Deferred.run` within an HTTP request starts its
    work once the response's last part has been sent (or the request failed
    without one)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        held: list[Callable[[], None]] = []
        token = _held.set(held)

        def release() -> None:
            starts = held[:]
            held.clear()
            for start in starts:
                start()

        async def send_then_release(message: Message) -> None:
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                release()

        try:
            await self.app(scope, receive, send_then_release)
        finally:
            _held.reset(token)
            release()  # whatever the request held after its answer, or without one
