"""The relay endpoint over a real socket: authentication and every way a link is refused."""

from __future__ import annotations

import asyncio
import json
import uuid

import httpx
import pytest
from click.testing import CliRunner
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from passback import cli
from passback.protocol.errors import CloseCode
from passback.protocol.link import Closed, Received
from passback.protocol.messages import MAX_SYNC_FRAME, Heartbeat, SyncRequest
from tests.support.portal import rows
from tests.support.server import TIMEOUT, AgentFactory, RunningServer, bearer


async def close_code_after(server: RunningServer, *frames: str | bytes) -> int | None:
    async with connect(server.relay_url, max_size=None) as ws:
        for frame in frames:
            try:
                await ws.send(frame)
            except ConnectionClosed:
                break
        async with asyncio.timeout(TIMEOUT):
            await ws.wait_closed()
        return ws.close_code


async def test_good_secret_gets_ready_then_a_sync_request(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory
) -> None:
    tenant = server.create_tenant("Acme")
    agent = await make_agent(tenant)
    ready = await agent.connect_ready()
    assert ready.heartbeat_interval == 300
    assert isinstance(await agent.next_sync_request(), SyncRequest)
    listed = (await client.get("/api/v1/agents", headers=bearer(tenant.admin_token))).json()
    assert [(a["id"], a["connected"]) for a in listed] == [(agent.agent_id, True)]
    assert listed[0]["last_seen_at"] is not None


async def test_heartbeat_records_history_on_reset(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory
) -> None:
    tenant = server.create_tenant("Acme")
    agent = await make_agent(tenant)
    await agent.connect_ready()
    await agent.send(Heartbeat(10, 0, 0, 1_700_000_000, history_on_reset=False))
    for _ in range(200):
        listed = (await client.get("/api/v1/agents", headers=bearer(tenant.admin_token))).json()
        if listed[0]["history_on_reset"] is False:
            break
        await asyncio.sleep(0.02)
    assert listed[0]["history_on_reset"] is False


async def test_disconnected_agent_is_not_present(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory
) -> None:
    tenant = server.create_tenant("Acme")
    agent = await make_agent(tenant)
    await agent.connect_ready()
    await agent.close()
    for _ in range(200):
        listed = (await client.get("/api/v1/agents", headers=bearer(tenant.admin_token))).json()
        if not listed[0]["connected"]:
            break
        await asyncio.sleep(0.02)
    assert listed[0]["connected"] is False


async def test_wrong_secret_is_refused(server: RunningServer, make_agent: AgentFactory) -> None:
    agent = await make_agent(server.create_tenant("Acme"))
    await agent.connect(secret="pbr_wrong")
    event = await agent.next_event()
    assert isinstance(event, Closed) and event.code == CloseCode.AUTH_FAILED


async def test_unknown_agent_is_refused(server: RunningServer, make_agent: AgentFactory) -> None:
    agent = await make_agent(server.create_tenant("Acme"))
    agent.agent_id = str(uuid.uuid4())
    await agent.connect()
    event = await agent.next_event()
    assert isinstance(event, Closed) and event.code == CloseCode.AUTH_FAILED


async def test_agent_claiming_another_tenant_is_refused(
    server: RunningServer, make_agent: AgentFactory
) -> None:
    agent = await make_agent(server.create_tenant("Acme"))
    agent.tenant_id = server.create_tenant("Other").tenant_id
    await agent.connect()
    event = await agent.next_event()
    assert isinstance(event, Closed) and event.code == CloseCode.AUTH_FAILED


async def test_other_version_is_refused(server: RunningServer, make_agent: AgentFactory) -> None:
    agent = await make_agent(server.create_tenant("Acme"))
    await agent.connect(version=99)
    event = await agent.next_event()
    assert isinstance(event, Closed) and event.code == CloseCode.UNSUPPORTED_VERSION


async def test_bad_frames(server: RunningServer) -> None:
    assert await close_code_after(server, "not json") == CloseCode.BAD_FRAME
    assert await close_code_after(server, b"\x00binary") == CloseCode.BAD_FRAME
    auth = json.dumps({"type": "auth", "secret": "x"})
    assert await close_code_after(server, auth) == CloseCode.UNEXPECTED_MESSAGE


async def test_oversize_frame(server: RunningServer) -> None:
    huge = json.dumps({"type": "hello", "pad": "x" * MAX_SYNC_FRAME})
    assert await close_code_after(server, huge) == CloseCode.TOO_LARGE


async def test_silent_peer_times_out(server: RunningServer) -> None:
    assert await close_code_after(server) == CloseCode.HANDSHAKE_TIMEOUT


async def test_message_before_ready_state_after_auth(
    server: RunningServer, make_agent: AgentFactory
) -> None:
    agent = await make_agent(server.create_tenant("Acme"))
    await agent.connect_ready()
    assert agent.ws is not None
    await agent.ws.send(json.dumps({"type": "auth", "secret": "again"}))
    event = await agent.next_event()
    while isinstance(event, Received):  # the sync request may come first
        event = await agent.next_event()
    assert isinstance(event, Closed) and event.code == CloseCode.UNEXPECTED_MESSAGE


async def test_a_lone_surrogate_is_a_bad_frame_not_a_server_error(
    server: RunningServer, make_agent: AgentFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """JSON's "\\ud800" escape decodes to a lone surrogate, which the database
    driver cannot encode: before any authentication it closed the link with 1011
    and a traceback; in a sync batch it broke the agent's link. The relay now
    refuses it as a bad frame, like any other invalid message."""
    hello = json.dumps(
        {"type": "hello", "version": 1, "agent_id": "\ud800", "tenant_id": "t", "software": ""}
    )
    assert await close_code_after(server, hello) == CloseCode.BAD_FRAME

    agent = await make_agent(server.create_tenant("Acme"))
    await agent.connect_ready()
    request = await agent.next_sync_request()
    user = {
        "anchor": "AAECAwQFBgcICQoLDA0ODw",
        "sam_account_name": "alice\udc00",
        "user_principal_name": None,
        "mail": None,
        "enabled": True,
    }
    batch = {
        "type": "sync_batch",
        "sync_id": request.sync_id,
        "sequence": 0,
        "full": True,
        "last": True,
        "users": [user],
    }
    assert agent.ws is not None
    await agent.ws.send(json.dumps(batch))
    event = await agent.next_event()
    assert isinstance(event, Closed) and event.code == CloseCode.BAD_FRAME
    assert [r for r in caplog.records if r.exc_info] == []


async def test_a_revoked_agent_is_closed_at_its_next_heartbeat(
    server: RunningServer, make_agent: AgentFactory
) -> None:
    """A revocation made elsewhere (the CLI, another node) reaches the link:
    4006, and the agent cannot come back (4004)."""
    tenant = server.create_tenant("Acme")
    agent = await make_agent(tenant)
    await agent.connect_ready()
    await agent.next_sync_request()
    done = CliRunner().invoke(
        cli.main,
        ["tenant", "revoke-agent", tenant.tenant_id, agent.agent_id,
         "--database-url", server.database_url],
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    await agent.send(Heartbeat(10, 0, 0, 1_700_000_000, history_on_reset=False))
    closed = await agent.next_event()
    assert isinstance(closed, Closed) and closed.code == CloseCode.REVOKED
    await agent.connect()
    refused = await agent.next_event()
    assert isinstance(refused, Closed) and refused.code == CloseCode.AUTH_FAILED
    assert rows(server, "SELECT detail_json FROM audit_events WHERE activity = 'revoke_agent'") == [
        (f'{{"agent": "{agent.agent_id}", "via": "operator"}}',)
    ]
