"""Helpers of the server integration tests: the running server, and a fake agent
that speaks the real relay protocol through ``protocol.link.AgentLink``."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from passback.crypto.envelope import Opened, open_envelope
from passback.crypto.keys import PackageKey
from passback.crypto.masterkey import MasterKey
from passback.protocol.link import AgentLink, Closed, Event, OperationReceived, Received
from passback.protocol.messages import (
    PROTOCOL_VERSION,
    Heartbeat,
    Hello,
    Ready,
    Result,
    Rules,
    SyncBatch,
    SyncRequest,
)
from passback.server.store import create_engine, session_factory
from passback.server.tenants import CreatedTenant, create_tenant, new_onboarding_token

TIMEOUT_FACTOR = float(os.environ.get("PASSBACK_TEST_TIMEOUT_FACTOR", "1"))
TIMEOUT = 10 * TIMEOUT_FACTOR
HANDSHAKE_TIMEOUT = 1.0 * TIMEOUT_FACTOR


@dataclasses.dataclass
class RunningServer:
    base_url: str
    relay_url: str
    database_url: str
    master_key: MasterKey

    def create_tenant(self, name: str) -> CreatedTenant:
        engine = create_engine(self.database_url)
        try:
            with session_factory(engine)() as db, db.begin():
                return create_tenant(db, name, master_key=self.master_key)
        finally:
            engine.dispose()

    def onboarding_token(self, tenant_id: str) -> str:
        engine = create_engine(self.database_url)
        try:
            with session_factory(engine)() as db, db.begin():
                return new_onboarding_token(db, tenant_id)
        finally:
            engine.dispose()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class FakeAgent:
    """An onboarded agent on a real WebSocket, driven by the test step by step."""

    def __init__(self, server: RunningServer, onboarded: dict[str, Any], key: rsa.RSAPrivateKey):
        self.server = server
        self.agent_id: str = onboarded["agent_id"]
        self.tenant_id: str = onboarded["tenant_id"]
        self.secret: str = onboarded["relay_secret"]
        package = onboarded["package_key"]
        self.package_keys = {
            package["key_id"]: PackageKey.from_b64(package["key_id"], package["key"])
        }
        self.key = key
        self.ws: ClientConnection | None = None
        self.link: AgentLink | None = None

    async def connect(self, *, secret: str | None = None, version: int = PROTOCOL_VERSION) -> None:
        hello = Hello(version, self.agent_id, self.tenant_id, "fake-agent/1")
        self.link = AgentLink(hello, secret or self.secret)
        self.ws = await connect(self.server.relay_url, max_size=None)
        await self.flush()

    async def connect_ready(self) -> Ready:
        await self.connect()
        event = await self.next_event()
        assert isinstance(event, Received) and isinstance(event.message, Ready), event
        return event.message

    async def flush(self) -> None:
        assert self.ws is not None and self.link is not None
        for frame in self.link.outgoing():
            await self.ws.send(frame)

    async def next_event(self) -> Event:
        """The next event of the link; ``Closed`` with the hub's code when it ends."""
        assert self.ws is not None and self.link is not None
        while True:
            try:
                async with asyncio.timeout(TIMEOUT):
                    frame = await self.ws.recv()
            except ConnectionClosed as closed:
                code = closed.rcvd.code if closed.rcvd else 1006
                return Closed(code, closed.rcvd.reason if closed.rcvd else "")  # type: ignore[arg-type]
            events = self.link.receive(frame)
            if events:
                assert len(events) == 1
                return events[0]

    async def next_operation(self) -> bytes:
        """Skip sync requests until an operation arrives."""
        while True:
            event = await self.next_event()
            if isinstance(event, OperationReceived):
                return event.envelope
            assert isinstance(event, Received) and isinstance(event.message, SyncRequest), event

    async def next_sync_request(self) -> SyncRequest:
        event = await self.next_event()
        assert isinstance(event, Received) and isinstance(event.message, SyncRequest), event
        return event.message

    def open(self, envelope: bytes) -> Opened:
        return open_envelope(
            envelope, agent_key=self.key, package_keys=self.package_keys, now=int(time.time())
        )

    async def send(self, message: Result | Rules | Heartbeat | SyncBatch) -> None:
        assert self.link is not None
        self.link.send(message)
        await self.flush()

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()


AgentFactory = Callable[[CreatedTenant], Awaitable[FakeAgent]]
