"""The relay endpoint ``/relay/v1``: one agent's link over a WebSocket (SPEC S1, S5).

A thin asyncio adapter around ``protocol.link.HubLink``: it feeds the frames
it receives into the link, flushes what the link wants sent, and closes the
socket with the link's close code when the link ends. What the messages mean
is decided here, once the link is ready: results go to the hub, heartbeats
and sync batches to the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import logging
import time
import uuid

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from starlette.responses import PlainTextResponse
from starlette.websockets import WebSocket, WebSocketDisconnect

from passback.printable import printable
from passback.protocol.errors import CloseCode
from passback.protocol.link import AuthRequested, Closed, Frame, HubLink, Received, State
from passback.protocol.messages import Heartbeat, Hello, Result, Rules, SyncBatch
from passback.server import agents, sync
from passback.server.gate import HandshakeGate
from passback.server.hub import Hub
from passback.server.settings import ServerSettings
from passback.server.store.models import utcnow

logger = logging.getLogger(__name__)

RELAY_PATH = "/relay/v1"
#: Refused upgrades are logged at most this often (seconds), with their count:
#: a flood must not become a flood of log lines.
REFUSAL_LOG_INTERVAL = 60.0
#: Seconds a refused peer is asked to wait; agents back off on their own anyway.
REFUSAL_RETRY_AFTER = 5


class _Socket:
    """The WebSocket as the link needs it: frames in, frames out, one close."""

    def __init__(self, websocket: WebSocket) -> None:
        self._ws = websocket
        self._send_lock = asyncio.Lock()
        self.gone = False  # the peer went away: nothing more can be sent

    async def receive(self) -> Frame | None:
        """The next frame, or ``None`` once the peer has disconnected."""
        if self.gone:
            return None
        message = await self._ws.receive()
        if message["type"] == "websocket.disconnect":
            self.gone = True
            return None
        text = message.get("text")
        if text is not None:
            return str(text)
        return bytes(message.get("bytes") or b"")

    async def flush(self, link: HubLink) -> None:
        # Under the lock, drain and send at once, so frames leave in link order
        # whichever task (reader or a hub request) flushes.
        async with self._send_lock:
            for frame in link.outgoing():
                if isinstance(frame, bytes):
                    await self._ws.send_bytes(frame)
                else:
                    await self._ws.send_text(frame)

    async def close(self, code: int, reason: str) -> None:
        if self.gone:
            return
        self.gone = True
        try:
            async with self._send_lock:
                await self._ws.close(code=code, reason=reason)
        except (WebSocketDisconnect, RuntimeError, OSError):
            pass  # the peer left first


#: Full syncs one link may have under way at once; an agent runs one at a time,
#: so more means a misbehaving agent (the oldest is forgotten, and so deletes nothing).
MAX_FULL_SYNCS = 4


@dataclasses.dataclass
class _FullSync:
    """One full sync as its batches arrive. Users it did not see are deleted at
    its end only if every batch arrived, in order, and was stored."""

    started: dt.datetime
    next_sequence: int = 0
    complete: bool = True


class _AgentSession:
    """An authenticated link, as ``hub.AgentSession``."""

    def __init__(self, hello: Hello, link: HubLink, socket: _Socket) -> None:
        self._hello = hello
        self._link = link
        self._socket = socket
        #: Full syncs under way on this link, by sync id.
        self.full_syncs: dict[str, _FullSync] = {}

    @property
    def hello(self) -> Hello:
        return self._hello

    @property
    def tenant_id(self) -> str:
        return self._hello.tenant_id

    @property
    def agent_id(self) -> str:
        return self._hello.agent_id

    async def send_operation(self, envelope: bytes) -> None:
        self._link.send_operation(envelope)
        await self._socket.flush(self._link)

    async def send_sync_request(self, sync_id: str) -> None:
        self._link.send_sync_request(sync_id)
        await self._socket.flush(self._link)

    async def send_rules_request(self, request_id: str, anchor: str) -> None:
        self._link.send_rules_request(request_id, anchor)
        await self._socket.flush(self._link)


class RelayEndpoint:
    """The ASGI WebSocket endpoint; one call serves one agent's link."""

    def __init__(
        self, *, sessions: sessionmaker[Session], hub: Hub, settings: ServerSettings
    ) -> None:
        self._sessions = sessions
        self._hub = hub
        self._settings = settings
        self._gate = HandshakeGate(settings.relay_handshakes, settings.relay_handshakes_per_address)
        self._refused = 0  # refusals not yet logged
        self._refusal_logged = -REFUSAL_LOG_INTERVAL

    async def __call__(self, websocket: WebSocket) -> None:
        address = websocket.client.host if websocket.client else ""
        if not self._gate.enter(address):
            await self._refuse(websocket, address)
            return
        socket = _Socket(websocket)
        link = HubLink()
        session: _AgentSession | None = None
        try:
            try:
                await websocket.accept()
                async with asyncio.timeout(self._settings.handshake_timeout):
                    hello = await self._handshake(socket, link)
            except TimeoutError:
                hello = None
                link.close(CloseCode.HANDSHAKE_TIMEOUT, "handshake timeout")
                logger.info("relay: handshake timed out")
            finally:
                self._gate.leave(address)
            if hello is not None:
                session = _AgentSession(hello, link, socket)
                await self._start(socket, link, session)
            if session is not None:
                await self._serve(socket, link, session)
        except (WebSocketDisconnect, OSError):
            link.connection_lost()
        finally:
            if session is not None:
                await self._hub.detach(session)
            if link.state is not State.CLOSED:  # cancelled, or an unexpected error
                link.close(CloseCode.INTERNAL_ERROR, "internal error")
            code, reason = link.close_code or CloseCode.INTERNAL_ERROR, link.close_reason
            agent_id = session.agent_id if session else link.hello and link.hello.agent_id
            logger.info(
                "relay: link of agent '%s' closed (%d %s)",
                printable(agent_id),
                code,
                printable(reason),
                extra={"agent_id": agent_id, "close_code": int(code)},
            )
            await socket.close(code, reason)

    async def _refuse(self, websocket: WebSocket, address: str) -> None:
        """Too many handshakes in flight: HTTP 503 instead of the upgrade, so
        the peer (an agent's backoff) tries again later."""
        self._refused += 1
        now = time.monotonic()
        if now - self._refusal_logged >= REFUSAL_LOG_INTERVAL:
            logger.warning(
                "relay: %d upgrade(s) refused, %d handshakes in flight (last from %s)",
                self._refused,
                self._gate.in_flight,
                address,
                extra={"client_addr": address},
            )
            self._refused, self._refusal_logged = 0, now
        response = PlainTextResponse(
            "too many relay handshakes in flight; try again later",
            status_code=503,
            headers={"Retry-After": str(REFUSAL_RETRY_AFTER)},
        )
        with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
            await websocket.send_denial_response(response)

    async def _handshake(self, socket: _Socket, link: HubLink) -> Hello | None:
        """The hello of an agent whose credentials are good, or ``None`` once
        the link has ended (the close code says why)."""
        while link.state is not State.CLOSED:
            frame = await socket.receive()
            if frame is None:
                link.connection_lost()
                return None
            for event in link.receive(frame):
                if isinstance(event, Closed):
                    _log_protocol_close(link, event)
                    return None
                if isinstance(event, AuthRequested):
                    return await self._authenticate(link, event)
        return None

    async def _authenticate(self, link: HubLink, event: AuthRequested) -> Hello | None:
        hello = event.hello
        if await asyncio.to_thread(self._check_secret, hello, event.secret):
            return hello
        link.reject()
        logger.warning(
            "relay: authentication failed for agent '%s' of tenant '%s'",
            printable(hello.agent_id),
            printable(hello.tenant_id),
            extra={"agent_id": hello.agent_id, "tenant_id": hello.tenant_id},
        )
        return None

    async def _start(self, socket: _Socket, link: HubLink, session: _AgentSession) -> None:
        hello = session.hello
        link.accept(str(uuid.uuid4()), self._settings.heartbeat_interval, int(time.time()))
        # Ready is queued first; anything the hub sends from now on follows it.
        await self._hub.attach(session)
        link.send_sync_request(str(uuid.uuid4()))
        logger.info(
            "relay: agent %s of tenant %s connected (%s)",
            hello.agent_id,
            hello.tenant_id,
            printable(hello.software),
            extra={"agent_id": hello.agent_id, "tenant_id": hello.tenant_id},
        )
        await socket.flush(link)

    async def _serve(self, socket: _Socket, link: HubLink, session: _AgentSession) -> None:
        while link.state is not State.CLOSED:
            frame = await socket.receive()
            if frame is None:
                link.connection_lost()
                return
            for event in link.receive(frame):
                if isinstance(event, Closed):
                    _log_protocol_close(link, event)
                elif isinstance(event, Received):
                    message = event.message
                    if isinstance(message, Result | Rules):
                        await self._hub.resolve(session, message)
                    elif isinstance(message, Heartbeat | SyncBatch):
                        await self._store(session, message)
            await socket.flush(link)

    async def _store(self, session: _AgentSession, message: Heartbeat | SyncBatch) -> None:
        try:
            if isinstance(message, Heartbeat):
                await asyncio.to_thread(self._heartbeat, session.agent_id, message)
            else:
                await self._sync_batch(session, message)
        except SQLAlchemyError:
            # The link stays up: the agent's next heartbeat or sync repairs it.
            logger.exception(
                "relay: could not store a %s of agent %s",
                message.type,
                session.agent_id,
                extra={"agent_id": session.agent_id},
            )

    async def _sync_batch(self, session: _AgentSession, batch: SyncBatch) -> None:
        now = utcnow()
        full = _track(session.full_syncs, batch, now) if batch.full else None
        remove_before = None
        if full is not None and batch.last:
            del session.full_syncs[batch.sync_id]
            if full.complete:
                remove_before = full.started
            else:
                logger.warning(
                    "relay: sync %s of agent %s missed or lost a batch; no user is removed",
                    batch.sync_id,
                    session.agent_id,
                    extra={"agent_id": session.agent_id, "tenant_id": session.tenant_id},
                )
        try:
            stored, removed = await asyncio.to_thread(
                self._apply_batch, session.tenant_id, batch, now, remove_before
            )
        except SQLAlchemyError:
            if full is not None:
                full.complete = False  # its end must not delete the users of this batch
            raise
        logger.info(
            "relay: sync %s batch %d from agent %s: %d users stored, %d removed",
            batch.sync_id,
            batch.sequence,
            session.agent_id,
            stored,
            removed,
            extra={"agent_id": session.agent_id, "tenant_id": session.tenant_id},
        )

    # -- store work, run in a worker thread ------------------------------------------

    def _check_secret(self, hello: Hello, secret: str) -> bool:
        with self._sessions() as db, db.begin():
            agent = agents.authenticate_agent(db, hello, secret)
            if agent is not None:
                agents.record_connected(db, agent.id, hello.software, utcnow())
            return agent is not None

    def _heartbeat(self, agent_id: str, heartbeat: Heartbeat) -> None:
        with self._sessions() as db, db.begin():
            agents.record_heartbeat(db, agent_id, heartbeat.history_on_reset, utcnow())

    def _apply_batch(
        self, tenant_id: str, batch: SyncBatch, now: dt.datetime, remove_before: dt.datetime | None
    ) -> tuple[int, int]:
        with self._sessions() as db, db.begin():
            stored = sync.upsert_users(db, tenant_id, batch.users, now)
            removed = (
                0 if remove_before is None else sync.remove_unseen(db, tenant_id, remove_before)
            )
            return stored, removed


def _track(syncs: dict[str, _FullSync], batch: SyncBatch, now: dt.datetime) -> _FullSync:
    """The full sync this batch belongs to, updated for it."""
    full = syncs.get(batch.sync_id)
    if full is None:
        if len(syncs) >= MAX_FULL_SYNCS:
            del syncs[next(iter(syncs))]
        # A sync whose first batch we did not see cannot tell who is gone.
        full = syncs[batch.sync_id] = _FullSync(now, complete=batch.sequence == 0)
    if batch.sequence != full.next_sequence:
        full.complete = False
    full.next_sequence = batch.sequence + 1
    return full


def _log_protocol_close(link: HubLink, event: Closed) -> None:
    agent_id = link.hello.agent_id if link.hello else None
    logger.warning(
        "relay: closing link of agent '%s': %s",
        printable(agent_id),
        printable(event.error or event.reason),
        extra={"agent_id": agent_id, "close_code": int(event.code)},
    )
