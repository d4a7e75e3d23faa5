"""The relay link as two state machines, one per side, without sockets.

Each side takes the WebSocket messages it received (``receive``) and hands out
events for its owner and the messages to send (``outgoing``). The asyncio
adapters in ``server.relay`` and ``agent.link`` only feed and flush them.

States of a link::

    AWAIT_HELLO ──hello──▶ AWAIT_AUTH ──auth──▶ AUTHENTICATING ──accept──▶ READY
         │                     │                      │                      │
         └──── any protocol error, reject() or close ─┴──────────▶ CLOSED ◀──┘

The agent sends ``hello`` and ``auth`` at once (one round trip); the hub
answers ``ready`` or closes with a code from ``CloseCode``.
"""

from __future__ import annotations

import dataclasses
import enum

from passback.protocol.errors import (
    AuthenticationFailed,
    BadFrame,
    CloseCode,
    FrameTooLarge,
    ProtocolError,
    UnexpectedMessage,
    UnsupportedVersion,
)
from passback.protocol.messages import (
    MAX_OPERATION_FRAME,
    PROTOCOL_VERSION,
    Auth,
    ControlMessage,
    Heartbeat,
    Hello,
    Ready,
    Result,
    Rules,
    RulesRequest,
    SyncBatch,
    SyncRequest,
    decode,
    encode,
)

Frame = str | bytes


class State(enum.Enum):
    AWAIT_HELLO = "await_hello"
    AWAIT_AUTH = "await_auth"
    AUTHENTICATING = "authenticating"
    READY = "ready"
    CLOSED = "closed"


@dataclasses.dataclass(frozen=True)
class AuthRequested:
    """Hub side: the agent sent hello and auth; call ``accept`` or ``reject``."""

    hello: Hello
    secret: str = dataclasses.field(repr=False)


@dataclasses.dataclass(frozen=True)
class Received:
    """A message that arrived in the READY state."""

    message: ControlMessage


@dataclasses.dataclass(frozen=True)
class OperationReceived:
    """Agent side: a sealed envelope arrived."""

    envelope: bytes


@dataclasses.dataclass(frozen=True)
class Closed:
    """The link is over. ``error`` is set when a protocol error ended it."""

    code: CloseCode
    reason: str
    error: ProtocolError | None = None


Event = AuthRequested | Received | OperationReceived | Closed


class _Link:
    def __init__(self, state: State) -> None:
        self.state = state
        self._outgoing: list[Frame] = []
        self.close_code: CloseCode | None = None
        self.close_reason = ""

    def outgoing(self) -> list[Frame]:
        """Messages to send, in order; each call drains them."""
        out, self._outgoing = self._outgoing, []
        return out

    def close(self, code: CloseCode = CloseCode.NORMAL, reason: str = "") -> Closed:
        """End the link from this side; the adapter closes the socket with the code."""
        if self.state is not State.CLOSED:
            self.state = State.CLOSED
            self.close_code, self.close_reason = code, reason
        return Closed(code, reason)

    def connection_lost(self) -> Closed:
        return self.close(CloseCode.GOING_AWAY, "connection lost")

    def _fail(self, error: ProtocolError) -> Closed:
        self.close(error.close_code, error.public_reason)
        return Closed(error.close_code, error.public_reason, error)

    def _send(self, message: ControlMessage) -> None:
        self._outgoing.append(encode(message))

    def _require(self, state: State) -> None:
        if self.state is not state:
            raise RuntimeError(f"link is {self.state.value}, not {state.value}")


class HubLink(_Link):
    """The hub's side of one agent's link."""

    def __init__(self) -> None:
        super().__init__(State.AWAIT_HELLO)
        self._hello: Hello | None = None

    @property
    def hello(self) -> Hello | None:
        return self._hello

    def receive(self, frame: Frame) -> list[Event]:
        if self.state is State.CLOSED:
            return []
        try:
            return self._receive(frame)
        except ProtocolError as error:
            return [self._fail(error)]

    def _receive(self, frame: Frame) -> list[Event]:
        if isinstance(frame, bytes):
            raise BadFrame("agents send text frames only")
        message = decode(frame)
        if self.state is State.AWAIT_HELLO:
            if not isinstance(message, Hello):
                raise UnexpectedMessage(f"{message.type} before hello")
            if message.version != PROTOCOL_VERSION:
                raise UnsupportedVersion(f"agent speaks version {message.version}")
            self._hello = message
            self.state = State.AWAIT_AUTH
            return []
        if self.state is State.AWAIT_AUTH:
            if not isinstance(message, Auth):
                raise UnexpectedMessage(f"{message.type} before auth")
            assert self._hello is not None
            self.state = State.AUTHENTICATING
            return [AuthRequested(self._hello, message.secret)]
        if self.state is State.READY and isinstance(
            message, Result | Rules | Heartbeat | SyncBatch
        ):
            return [Received(message)]
        raise UnexpectedMessage(f"{message.type} in state {self.state.value}")

    def accept(self, session_id: str, heartbeat_interval: int, now: int) -> None:
        self._require(State.AUTHENTICATING)
        self.state = State.READY
        self._send(Ready(session_id, heartbeat_interval, now))

    def reject(self) -> Closed:
        """Refuse the agent's credentials (SPEC S1)."""
        self._require(State.AUTHENTICATING)
        return self._fail(AuthenticationFailed("relay secret refused"))

    def send_operation(self, envelope: bytes) -> None:
        self._require(State.READY)
        if len(envelope) > MAX_OPERATION_FRAME:
            raise FrameTooLarge(f"envelope of {len(envelope)} bytes")
        self._outgoing.append(envelope)

    def send_sync_request(self, sync_id: str) -> None:
        self._require(State.READY)
        self._send(SyncRequest(sync_id))

    def send_rules_request(self, request_id: str, anchor: str) -> None:
        self._require(State.READY)
        self._send(RulesRequest(request_id, anchor))


class AgentLink(_Link):
    """The agent's side of its link to the hub."""

    def __init__(self, hello: Hello, secret: str) -> None:
        super().__init__(State.AWAIT_AUTH)
        self.hello = hello
        self._send(hello)
        self._send(Auth(secret))
        self.ready: Ready | None = None

    def receive(self, frame: Frame) -> list[Event]:
        if self.state is State.CLOSED:
            return []
        try:
            return self._receive(frame)
        except ProtocolError as error:
            return [self._fail(error)]

    def _receive(self, frame: Frame) -> list[Event]:
        if isinstance(frame, bytes):
            if self.state is not State.READY:
                raise UnexpectedMessage("operation before ready")
            if len(frame) > MAX_OPERATION_FRAME:
                raise FrameTooLarge(f"operation of {len(frame)} bytes")
            return [OperationReceived(frame)]
        message = decode(frame)
        if self.state is State.AWAIT_AUTH:
            if not isinstance(message, Ready):
                raise UnexpectedMessage(f"{message.type} before ready")
            self.ready = message
            self.state = State.READY
            return [Received(message)]
        if self.state is State.READY and isinstance(message, SyncRequest | RulesRequest):
            return [Received(message)]
        raise UnexpectedMessage(f"{message.type} in state {self.state.value}")

    def send(self, message: Result | Rules | Heartbeat | SyncBatch) -> None:
        self._require(State.READY)
        self._send(message)
