"""The password rules of a user, asked of the agent over the relay (W4)."""

from __future__ import annotations

import asyncio

import httpx

from passback.protocol.link import Received
from passback.protocol.messages import Rules, RulesRequest
from passback.protocol.outcomes import Outcome
from tests.support.server import GUID, AgentFactory, RunningServer, anchor, bearer, connected_agent


async def test_rules_come_from_the_agent(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory
) -> None:
    tenant, agent = await connected_agent(server, client, make_agent)
    pending = asyncio.create_task(
        client.get("/api/v1/users/JDOE/password-rules", headers=bearer(tenant.admin_token))
    )
    event = await agent.next_event()
    assert isinstance(event, Received) and isinstance(event.message, RulesRequest)
    assert event.message.anchor == anchor(GUID)
    await agent.send(Rules(event.message.request_id, Outcome.OK, "pso:staff", 14, True, 24, 0, 0))
    response = await pending
    assert response.status_code == 200, response.text
    assert response.json() == {
        "source": "pso:staff",
        "min_length": 14,
        "complexity": True,
        "history_length": 24,
        "min_age_seconds": 0,
        "max_age_seconds": 0,
        "history_on_reset": None,  # an agent that does not tell
        "max_length": None,
        "policy_hints": None,
    }


async def test_agent_cannot_tell_is_503(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory
) -> None:
    tenant, agent = await connected_agent(server, client, make_agent)
    pending = asyncio.create_task(
        client.get("/api/v1/users/jdoe/password-rules", headers=bearer(tenant.admin_token))
    )
    event = await agent.next_event()
    assert isinstance(event, Received) and isinstance(event.message, RulesRequest)
    await agent.send(Rules(event.message.request_id, Outcome.DIRECTORY_UNAVAILABLE))
    response = await pending
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "service_unavailable"


async def test_unknown_user_is_404(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory
) -> None:
    tenant, _agent = await connected_agent(server, client, make_agent)
    response = await client.get(
        "/api/v1/users/nobody/password-rules", headers=bearer(tenant.admin_token)
    )
    assert response.status_code == 404
