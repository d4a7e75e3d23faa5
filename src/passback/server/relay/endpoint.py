"""The relay endpoint ``/relay/v1``: one agent's link over a WebSocket (SPEC S1, S5).

A thin asyncio adapter around ``protocol.link.HubLink``: it feeds the frames
it receives into the link, flushes what the link wants sent, and closes the
socket with the link's close code when the link ends. Once the link is ready,
replies go to the ``LinkRegistry`` and heartbeats and sync batches to the
``Inbox``, which knows what they mean.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid

from starlette.responses import PlainTextResponse
from starlette.websockets import WebSocket, WebSocketDisconnect

from passback.printable import printable
from passback.protocol.errors import CloseCode
from passback.protocol.link import AuthRequested, Closed, Frame, HubLink, Received, State
from passback.protocol.messages import Heartbeat, Hello, Result, Rules, SyncBatch, SyncRequest
from passback.server.gate import HandshakeGate
from passback.server.relay.inbox import AgentInbox, Inbox
from passback.server.settings import ServerSettings
from passback.server.store.models import utcnow
from passback.server.types import Clock, LinkRegistry, Outbound

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


class _AgentSession:
    """An authenticated link, as ``types.AgentSession``."""

    def __init__(self, hello: Hello, link: HubLink, socket: _Socket) -> None:
        self._hello = hello
        self._link = link
        self._socket = socket

    @property
    def hello(self) -> Hello:
        return self._hello

    @property
    def features(self) -> frozenset[str]:
        return frozenset(self._hello.features)

    @property
    def tenant_id(self) -> str:
        return self._hello.tenant_id

    @property
    def agent_id(self) -> str:
        return self._hello.agent_id

    async def send(self, message: Outbound) -> None:
        if isinstance(message, bytes):
            self._link.send_operation(message)
        elif isinstance(message, SyncRequest):
            self._link.send_sync_request(message.sync_id)
        else:
            self._link.send_rules_request(message.request_id, message.anchor)
        await self._socket.flush(self._link)

    async def close(self, code: int, reason: str) -> None:
        # The reader sees the socket gone and ends the link; it detaches it.
        self._link.close(CloseCode(code), reason)
        await self._socket.close(code, reason)


class RelayEndpoint:
    """The ASGI WebSocket endpoint; one call serves one agent's link."""

    def __init__(
        self,
        *,
        links: LinkRegistry,
        inbox: Inbox,
        settings: ServerSettings,
        clock: Clock = utcnow,
    ) -> None:
        self._links = links
        self._inbox = inbox
        self._settings = settings
        self._clock = clock
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
                inbox = await self._start(socket, link, session)
                await self._serve(socket, link, session, inbox)
        except (WebSocketDisconnect, OSError):
            link.connection_lost()
        finally:
            if session is not None:
                await self._links.detach(session)
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
        now = self._clock().timestamp()
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
        if await self._inbox.admit(hello, event.secret):
            return hello
        link.reject()
        logger.warning(
            "relay: authentication failed for agent '%s' of tenant '%s'",
            printable(hello.agent_id),
            printable(hello.tenant_id),
            extra={"agent_id": hello.agent_id, "tenant_id": hello.tenant_id},
        )
        return None

    async def _start(self, socket: _Socket, link: HubLink, session: _AgentSession) -> AgentInbox:
        hello = session.hello
        now = int(self._clock().timestamp())
        link.accept(str(uuid.uuid4()), self._settings.heartbeat_interval, now)
        # Ready is queued first; anything sent from now on follows it.
        await self._links.attach(session)
        inbox = await self._inbox.connected(session)
        logger.info(
            "relay: agent %s of tenant %s connected (%s)",
            hello.agent_id,
            hello.tenant_id,
            printable(hello.software),
            extra={"agent_id": hello.agent_id, "tenant_id": hello.tenant_id},
        )
        await socket.flush(link)
        return inbox

    async def _serve(
        self, socket: _Socket, link: HubLink, session: _AgentSession, inbox: AgentInbox
    ) -> None:
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
                        await self._links.resolve(session, message)
                    elif isinstance(message, Heartbeat | SyncBatch):
                        await inbox.receive(message)
            await socket.flush(link)


def _log_protocol_close(link: HubLink, event: Closed) -> None:
    agent_id = link.hello.agent_id if link.hello else None
    logger.warning(
        "relay: closing link of agent '%s': %s",
        printable(agent_id),
        printable(event.error or event.reason),
        extra={"agent_id": agent_id, "close_code": int(event.code)},
    )
