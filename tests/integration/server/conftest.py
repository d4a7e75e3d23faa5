"""A real server (uvicorn on 127.0.0.1, port 0, in a thread), an HTTP client, and
onboarded fake agents."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from cryptography.hazmat.primitives.asymmetric import rsa

from passback.crypto.keys import generate_private_key, public_key_to_pem
from passback.crypto.masterkey import MasterKey
from passback.server.app import create_app
from passback.server.settings import ServerSettings
from passback.server.store import upgrade
from passback.server.tenants import CreatedTenant
from tests.support.server import (
    HANDSHAKE_TIMEOUT,
    TIMEOUT,
    TIMEOUT_FACTOR,
    AgentFactory,
    FakeAgent,
    RunningServer,
    bearer,
)
from tests.support.smtp import MailCatcher

#: The server's public URL, unless a test is marked ``no_public_url``.
PUBLIC_URL = "https://sspr.acme.test"


@pytest.fixture
def mail() -> Iterator[MailCatcher]:
    """A real SMTP server on loopback; the server sends the portal's codes to it."""
    catcher = MailCatcher()
    catcher.start()
    try:
        yield catcher
    finally:
        catcher.stop()


@pytest.fixture(scope="session")
def migrated_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store at the newest schema, made once: each server starts on a copy
    (its own upgrade then finds nothing to do), not on 26 migrations."""
    path = tmp_path_factory.mktemp("store") / "passback.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture
def server(
    request: pytest.FixtureRequest, tmp_path: Path, mail: MailCatcher, migrated_store: Path
) -> Iterator[RunningServer]:
    shutil.copyfile(migrated_store, tmp_path / "passback.db")
    database_url = f"sqlite:///{tmp_path / 'passback.db'}"
    outbox = tmp_path / "outbox"
    provider = tmp_path / "phone.toml"
    provider.write_text(f'provider = "outbox"\nfolder = "{outbox}"\n')
    settings = ServerSettings(
        database_url,
        reply_timeout=5 * TIMEOUT_FACTOR,
        handshake_timeout=HANDSHAKE_TIMEOUT,
        smtp_host="127.0.0.1",
        smtp_port=mail.port,
        smtp_security="none",
        smtp_from="passback@acme.test",
        public_url=None if request.node.get_closest_marker("no_public_url") else PUBLIC_URL,
        phone_provider=provider,
    )
    master_key = MasterKey.generate()
    app = create_app(settings, master_key)
    # IPPROTO_TCP named: asyncio sets TCP_NODELAY only on sockets that say TCP,
    # and without it a kept-alive connection waits 40 ms for each response's body.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    host, port = sock.getsockname()
    config = uvicorn.Config(app, ws="websockets-sansio", log_config=None, lifespan="on")
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + TIMEOUT
    while not uv.started:
        assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
        time.sleep(0.01)
    try:
        yield RunningServer(
            f"http://{host}:{port}",
            f"ws://{host}:{port}/relay/v1",
            database_url,
            master_key,
            outbox,
        )
    finally:
        uv.should_exit = True
        thread.join(TIMEOUT)
        sock.close()
        assert not thread.is_alive(), "server did not stop"


@pytest.fixture
async def client(server: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=TIMEOUT) as client:
        yield client


@pytest.fixture(scope="session")
def agent_key() -> rsa.RSAPrivateKey:
    return generate_private_key()


@pytest.fixture
async def make_agent(
    server: RunningServer, client: httpx.AsyncClient, agent_key: rsa.RSAPrivateKey
) -> AsyncIterator[AgentFactory]:
    agents: list[FakeAgent] = []

    async def make(tenant: CreatedTenant) -> FakeAgent:
        token = server.onboarding_token(tenant.tenant_id)
        response = await client.post(
            "/api/v1/agents/onboard",
            headers=bearer(token),
            json={
                "name": f"agent-{len(agents)}",
                "public_key": public_key_to_pem(agent_key.public_key()),
                "software": "fake-agent/1",
            },
        )
        assert response.status_code == 201, response.text
        agent = FakeAgent(server, response.json(), agent_key)
        agents.append(agent)
        return agent

    yield make
    for agent in agents:
        await agent.close()
