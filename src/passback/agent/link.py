"""The agent's outbound link to the relay: a thin asyncio adapter around
``protocol.link.AgentLink`` (which holds all protocol logic).

The agent dials out over TLS (SPEC S4: ``ws://`` only with the development
flag), keeps the link alive with WebSocket pings well inside the 2–3 minutes
after which proxies cut idle connections (S9), sends a heartbeat every few
minutes, and dials again with jittered backoff when the link drops.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from passback import __version__
from passback.agent.config import AgentConfig
from passback.agent.directory.base import Directory
from passback.agent.events import EventId, EventLog, Level
from passback.agent.rules import read_rules
from passback.agent.sync import batches
from passback.agent.writeback import Writeback
from passback.crypto.envelope import read_metadata
from passback.crypto.errors import Malformed
from passback.protocol import features
from passback.protocol.backoff import backoff, should_retry
from passback.protocol.errors import CloseCode
from passback.protocol.link import AgentLink, Closed, OperationReceived, Received, State
from passback.protocol.messages import (
    PROTOCOL_VERSION,
    Heartbeat,
    Hello,
    Ready,
    Result,
    Rules,
    RulesRequest,
    SyncBatch,
    SyncRequest,
)
from passback.protocol.outcomes import Outcome

#: Ping every 20 s: proxies cut idle TCP after 2–3 minutes (S9).
PING_INTERVAL = 20.0
PING_TIMEOUT = 20.0
OPEN_TIMEOUT = 10.0
#: What the hub may send: operations are < 1 KB, control frames < 4 KB.
MAX_INCOMING = 16 * 1024
#: No per-message compression: an operation is a sealed envelope (random bytes,
#: nothing to gain) and every other frame is small; deflating each frame on
#: both ends cost about 0.3 ms per operation (docs/benchmarks.md).
COMPRESSION = None


class LinkRefused(Exception):
    """The hub closed the link for good (bad secret, revoked, wrong version):
    dialling again cannot help; the operator must act."""

    def __init__(self, code: CloseCode | int, reason: str) -> None:
        super().__init__(f"the relay refused this agent ({int(code)} {reason})")
        self.code = code
        self.reason = reason


class InsecureTransport(Exception):
    """A plain ws:// relay without the development flag (S4)."""


def tls_context(config: AgentConfig) -> ssl.SSLContext:
    context = ssl.create_default_context(
        cafile=str(config.server_ca_file) if config.server_ca_file else None
    )
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


class RelayClient:
    def __init__(
        self,
        config: AgentConfig,
        writeback: Writeback,
        directory: Directory,
        events: EventLog,
        *,
        insecure_dev: bool = False,
        history_on_reset: Callable[[], bool] = lambda: False,
        delays: Callable[[], Iterator[float]] = backoff,
    ) -> None:
        if config.plain_transport and not insecure_dev:
            raise InsecureTransport(
                f"{config.server_url} is not TLS; the agent refuses plain connections "
                "unless started with --insecure-dev"
            )
        self._config = config
        self._writeback = writeback
        self._directory = directory
        self._events = events
        self._history_on_reset = history_on_reset
        self._delays = delays
        self._ssl = None if config.plain_transport else tls_context(config)
        self._started = time.monotonic()
        self._send_lock = asyncio.Lock()
        self._sync_lock = threading.Lock()  # held in worker threads
        self.ready = asyncio.Event()  # set while a link is READY
        self.connections = 0

    async def run(self, stop: asyncio.Event) -> None:
        """Keep a link up until ``stop`` is set.

        Raises:
            LinkRefused: the hub refused the agent for good.
        """
        delays = self._delays()
        failures = 0
        while not stop.is_set():
            code: int | None = None
            reason = ""
            was_ready = False
            try:
                code, reason, was_ready = await self._session(stop)
            except (OSError, InvalidHandshake, InvalidURI, TimeoutError, ConnectionClosed) as exc:
                failures += 1
                event, level = (
                    (EventId.ServiceBusError, Level.ERROR)
                    if failures == 1
                    else (EventId.ServiceBusWarning, Level.WARNING)
                )
                self._events.emit(
                    event, f"cannot reach the relay: {type(exc).__name__}: {exc}", level=level
                )
            self.ready.clear()
            if stop.is_set():
                return
            if not should_retry(code):
                assert code is not None
                self._events.emit(
                    EventId.ServiceBusError,
                    f"the relay refused this agent ({code} {reason}); "
                    "re-run onboarding or check the agent's config",
                    level=Level.ERROR,
                    close_code=code,
                )
                raise LinkRefused(code, reason)
            if was_ready:
                failures, delays = 0, self._delays()  # it was up: start the backoff anew
            delay = next(delays)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)

    async def _session(self, stop: asyncio.Event) -> tuple[int | None, str, bool]:
        """One link, from dialling to its end: (close code, reason, whether it
        reached READY). A link that never got ready does not reset the backoff:
        a hub that closes every handshake must not be redialled every second."""
        hello = Hello(
            PROTOCOL_VERSION,
            self._config.agent_id,
            self._config.tenant_id,
            __version__,
            features=tuple(f.value for f in features.ALL),
        )
        link = AgentLink(hello, self._config.relay_secret)
        async with connect(
            self._config.relay_url,
            ssl=self._ssl,
            ping_interval=PING_INTERVAL,
            ping_timeout=PING_TIMEOUT,
            open_timeout=OPEN_TIMEOUT,
            max_size=MAX_INCOMING,
            compression=COMPRESSION,
            user_agent_header=f"passback-agent/{__version__}",
        ) as ws:
            self.connections += 1
            tasks: set[asyncio.Task[None]] = set()
            try:
                await self._flush(ws, link)
                receiving = asyncio.ensure_future(self._receive(ws, link, tasks))
                stopping = asyncio.ensure_future(stop.wait())
                await asyncio.wait({receiving, stopping}, return_when=asyncio.FIRST_COMPLETED)
                if stopping.done():
                    receiving.cancel()
                    await ws.close(CloseCode.GOING_AWAY, "agent stopping")
                    return CloseCode.GOING_AWAY, "agent stopping", link.ready is not None
                stopping.cancel()
                code, reason = receiving.result()
                return code, reason, link.ready is not None
            finally:
                for task in tasks:
                    task.cancel()

    async def _receive(
        self, ws: ClientConnection, link: AgentLink, tasks: set[asyncio.Task[None]]
    ) -> tuple[int | None, str]:
        try:
            async for frame in ws:
                for event in link.receive(frame):
                    if isinstance(event, OperationReceived):
                        self._spawn(tasks, self._operate(ws, link, event.envelope))
                    elif isinstance(event, Received) and isinstance(event.message, Ready):
                        self._on_ready(link, event.message)
                        self._spawn(tasks, self._heartbeats(ws, link, event.message))
                    elif isinstance(event, Received) and isinstance(event.message, SyncRequest):
                        self._spawn(tasks, self._sync(ws, link, event.message.sync_id))
                    elif isinstance(event, Received) and isinstance(event.message, RulesRequest):
                        self._spawn(tasks, self._rules(ws, link, event.message))
                    elif isinstance(event, Closed):
                        await ws.close(event.code, event.reason)
                        return int(event.code), event.reason
                await self._flush(ws, link)
        except ConnectionClosed:
            pass
        received = ws.close_code
        return received, ws.close_reason or ""

    def _spawn(self, tasks: set[asyncio.Task[None]], coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    def _on_ready(self, link: AgentLink, ready: Ready) -> None:
        self.ready.set()
        self._events.emit(
            EventId.WriteBackServiceStarted,
            "connected to the relay; accepting operations",
            session=ready.session_id,
            clock_skew_seconds=int(time.time()) - ready.server_time,
        )

    async def _flush(self, ws: ClientConnection, link: AgentLink) -> None:
        async with self._send_lock:
            for frame in link.outgoing():
                await ws.send(frame)

    async def _operate(self, ws: ClientConnection, link: AgentLink, envelope: bytes) -> None:
        try:
            result = await asyncio.to_thread(self._writeback.handle, envelope)
        except Exception as exc:  # noqa: BLE001 - the caller must get an answer
            # The journal or the event log failed; the directory may or may
            # not have been written, so the answer is "unknown", at once.
            self._events.emit(
                EventId.UnknownError,
                f"operation failed in the agent: {type(exc).__name__}: {exc}",
                level=Level.ERROR,
            )
            result = _unknown(envelope)
        if result is not None and link.state is State.READY:
            link.send(result)
            await self._flush(ws, link)

    async def _rules(self, ws: ClientConnection, link: AgentLink, request: RulesRequest) -> None:
        try:
            rules = await asyncio.to_thread(read_rules, self._directory, request)
        except Exception as exc:  # noqa: BLE001 - the hub waits for an answer
            self._events.emit(
                EventId.ADUnKnownError,
                f"reading the password rules failed: {type(exc).__name__}: {exc}",
                level=Level.ERROR,
            )
            rules = Rules(request.request_id, Outcome.UNKNOWN)
        if link.state is State.READY:
            link.send(rules)
            await self._flush(ws, link)

    def _read_all_users(self, sync_id: str) -> list[SyncBatch]:
        # One sync at a time: a second one waits (holding no LDAP connection)
        # instead of taking a second connection from the writes' pool.
        with self._sync_lock:
            return list(
                batches(self._directory.iter_users(), sync_id, self._directory.iter_groups())
            )

    async def _heartbeats(self, ws: ClientConnection, link: AgentLink, ready: Ready) -> None:
        interval = max(ready.heartbeat_interval, 1)
        while True:
            await asyncio.sleep(interval)
            try:
                link.send(
                    Heartbeat(
                        uptime=int(time.monotonic() - self._started),
                        operations=self._writeback.operations,
                        failures=self._writeback.failures,
                        agent_time=int(time.time()),
                        history_on_reset=self._history_on_reset(),
                    )
                )
                await self._flush(ws, link)
            except (ConnectionClosed, RuntimeError) as exc:
                self._events.emit(
                    EventId.ReportServiceHealthError,
                    f"heartbeat not sent: {type(exc).__name__}",
                    level=Level.WARNING,
                )
                return

    async def _sync(self, ws: ClientConnection, link: AgentLink, sync_id: str) -> None:
        try:
            found = await asyncio.to_thread(self._read_all_users, sync_id)
        except Exception as exc:  # noqa: BLE001 - reported, the link stays up
            self._events.emit(
                EventId.ADUnKnownError,
                f"sync failed: {type(exc).__name__}: {exc}",
                level=Level.ERROR,
            )
            return
        for batch in found:
            link.send(batch)
            await self._flush(ws, link)


def _unknown(envelope: bytes) -> Result | None:
    try:
        request_id = read_metadata(envelope).request_id
    except Malformed:
        return None
    return Result(request_id, Outcome.OUTCOME_UNKNOWN, event_id=EventId.UnknownError)
