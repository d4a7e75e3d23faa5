"""Store work that need not hold up an answer: it runs in a worker thread
while the answer goes back, and the server awaits what is left before it stops.

Only work whose loss in a crash leaves nothing wrong behind may be deferred:
the caller says why in its own docs (``writeback`` records a success this way).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

logger = logging.getLogger(__name__)


class Deferred:
    """Must be used from one event loop."""

    def __init__(self) -> None:
        # Held until done: the loop keeps only weak references to tasks.
        self._tasks: set[asyncio.Task[None]] = set()

    def run(self, work: Callable[[], None], what: str) -> None:
        """Start ``work`` in a worker thread now; a failure is logged as ``what``."""
        task = asyncio.ensure_future(asyncio.to_thread(work))
        self._tasks.add(task)

        def done(finished: asyncio.Task[None]) -> None:
            self._tasks.discard(finished)
            if finished.cancelled():
                logger.warning("deferred store work cancelled: %s", what)
            elif (exc := finished.exception()) is not None:
                logger.error(
                    "deferred store work failed: %s: %s", what, type(exc).__name__, exc_info=exc
                )

        task.add_done_callback(done)

    @property
    def pending(self) -> int:
        return len(self._tasks)

    async def drain(self) -> None:
        """Wait until every piece of work started so far, and any it started, is done."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
