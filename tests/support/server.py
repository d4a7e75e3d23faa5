"""Helpers of the server integration tests: the running server, a fake agent
that speaks the real relay protocol through ``protocol.link.AgentLink``, and
the relay steps the tests share (a synced user, an admin reset)."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import os
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric import rsa
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from passback.crypto.envelope import Opened, open_envelope
from passback.crypto.keys import PackageKey
from passback.crypto.masterkey import MasterKey
from passback.protocol import features
from passback.protocol.link import AgentLink, Closed, Event, OperationReceived, Received
from passback.protocol.messages import (
    PROTOCOL_VERSION,
    Heartbeat,
    Hello,
    Ready,
    Result,
    Rules,
    SyncBatch,
    SyncGroup,
    SyncRequest,
    SyncUser,
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
    #: The folder of the server's outbox phone provider (texts and calls), if any.
    outbox: Path | None = None

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


def assert_error(
    response: httpx.Response, status: int, code: str, *, recorded: bool = True
) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"code", "message", "detail", "request_id", "support_code"}
    assert error["code"] == code
    assert error["message"].endswith(".")
    if recorded:
        uuid.UUID(error["support_code"])
    else:
        assert error["support_code"] is None
    return dict(error)


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
        #: What it announces in its hello (``protocol.features``); () plays an old agent.
        self.features: tuple[str, ...] = features.ALL

    async def connect(self, *, secret: str | None = None, version: int = PROTOCOL_VERSION) -> None:
        hello = Hello(version, self.agent_id, self.tenant_id, "fake-agent/1", self.features)
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


PASSWORD = "Tr0ub4dor&3-Horse"
GUID = uuid.UUID("6f1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d").bytes_le


def anchor(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def user(name: str, raw: bytes = GUID, enabled: bool = True) -> SyncUser:
    return SyncUser(anchor(raw), name, f"{name}@acme.test", f"{name}@acme.test", enabled)


async def users_of(
    client: httpx.AsyncClient, tenant: CreatedTenant
) -> dict[str, dict[str, object]]:
    response = await client.get("/api/v1/users", headers=bearer(tenant.admin_token))
    assert response.status_code == 200, response.text
    return {u["sam_account_name"]: u for u in response.json()}


async def sync(
    agent: FakeAgent,
    client: httpx.AsyncClient,
    tenant: CreatedTenant,
    *batches: tuple[SyncUser, ...],
    full: bool = True,
    groups: tuple[SyncGroup, ...] = (),
) -> dict[str, dict[str, object]]:
    """Send ``batches`` as one sync (``groups`` with the last one) and wait
    until the server stored them."""
    sync_id = str(uuid.uuid4())
    for sequence, users in enumerate(batches):
        last = sequence == len(batches) - 1
        await agent.send(SyncBatch(sync_id, sequence, full, last, users, groups if last else ()))
    # Batches are stored in order; the last one is visible once all are.
    expected = {u.sam_account_name for u in batches[-1]}
    for _ in range(250):
        known = await users_of(client, tenant)
        if expected <= set(known) and all(
            known[u.sam_account_name]["enabled"] == u.enabled for u in batches[-1]
        ):
            return known
        await asyncio.sleep(0.02)
    raise AssertionError("the sync batch was not stored")


async def connected_agent(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory
) -> tuple[CreatedTenant, FakeAgent]:
    tenant = server.create_tenant("Acme")
    agent = await make_agent(tenant)
    await agent.connect_ready()
    await agent.next_sync_request()
    await sync(agent, client, tenant, (user("jdoe"),))
    return tenant, agent


def reset(
    client: httpx.AsyncClient, tenant: CreatedTenant, name: str = "jdoe", **body: object
) -> asyncio.Task[httpx.Response]:
    return asyncio.create_task(
        client.post(
            f"/api/v1/users/{name}/password-reset",
            headers=bearer(tenant.admin_token),
            json={"new_password": PASSWORD} | body,
        )
    )
