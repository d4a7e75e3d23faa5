"""An admin reset from the API to a fake agent on the relay and back (SPEC W1–W3),
and the directory sync that makes the user known (L5)."""

from __future__ import annotations

import asyncio
import time
import uuid

import httpx

from passback.protocol.messages import Result
from passback.protocol.operations import Operation
from passback.protocol.outcomes import Outcome
from tests.support.portal import rows
from tests.support.server import (
    GUID,
    PASSWORD,
    AgentFactory,
    RunningServer,
    anchor,
    bearer,
    connected_agent,
    reset,
    sync,
    user,
    users_of,
)


async def test_reset_reaches_the_agent_sealed_and_the_result_comes_back(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory
) -> None:
    tenant, agent = await connected_agent(server, client, make_agent)
    request_id = str(uuid.uuid4())
    pending = reset(client, tenant, "JDOE", request_id=request_id, unlock=False)

    opened = agent.open(await agent.next_operation())  # only the agent's key opens it
    meta = opened.metadata
    assert opened.secrets == (PASSWORD,)
    assert (meta.tenant_id, meta.agent_id, meta.request_id) == (
        tenant.tenant_id,
        agent.agent_id,
        request_id,
    )
    assert meta.operation is Operation.ADMIN_RESET
    assert meta.anchor == GUID
    assert meta.unlock is False
    assert 0 < meta.expires_at - time.time() <= 300
    await agent.send(Result(request_id, Outcome.OK, event_id=31009))

    response = await pending
    assert response.status_code == 200, response.text
    assert response.json() == {
        "request_id": request_id,
        "outcome": "ok",
        "message": "The password was changed in the directory.",
    }


async def test_policy_refusal_comes_back_with_its_message(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory
) -> None:
    tenant, agent = await connected_agent(server, client, make_agent)
    pending = reset(client, tenant)
    meta = agent.open(await agent.next_operation()).metadata
    await agent.send(Result(meta.request_id, Outcome.TOO_SHORT, {"min_length": 12}, 6329))
    response = await pending
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "too_short"
    assert error["message"] == "The password must be at least 12 characters long."
    assert error["detail"] == {"min_length": 12}
    assert error["request_id"] == meta.request_id
    uuid.UUID(error["support_code"])


async def test_too_long_is_refused_before_the_relay(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory
) -> None:
    tenant, _agent = await connected_agent(server, client, make_agent)
    # 129 characters but 258 UTF-16 units: too long for AD.
    response = await reset(client, tenant, new_password="\U0001f600" * 129)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "too_long"


async def test_common_password_is_refused_before_the_relay(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory
) -> None:
    tenant, agent = await connected_agent(server, client, make_agent)
    for password in ("Summer2026!", "P@ssw0rd1", "Acme2026!"):
        response = await reset(client, tenant, new_password=password)
        assert response.status_code == 422, response.text
        error = response.json()["error"]
        assert error["code"] == "common_password"
        assert error["message"].startswith("The password is too common or too easy to guess")
    # The agent's first operation is the next good password: none of those reached it.
    pending = reset(client, tenant)
    opened = agent.open(await agent.next_operation())
    assert opened.secrets == (PASSWORD,)
    await agent.send(Result(opened.metadata.request_id, Outcome.OK, event_id=31009))
    assert (await pending).status_code == 200


async def test_no_agent_is_503_at_once(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory
) -> None:
    # The user is known from an earlier sync, but no agent is connected now.
    tenant, agent = await connected_agent(server, client, make_agent)
    await agent.close()
    for _ in range(250):
        listed = (await client.get("/api/v1/agents", headers=bearer(tenant.admin_token))).json()
        if not listed[0]["connected"]:
            break
        await asyncio.sleep(0.02)
    started = time.monotonic()
    response = await reset(client, tenant)
    assert time.monotonic() - started < 2
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "service_unavailable"


async def test_agent_dropping_after_receipt_is_504(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory
) -> None:
    tenant, agent = await connected_agent(server, client, make_agent)
    pending = reset(client, tenant)
    await agent.next_operation()
    await agent.close()
    response = await pending
    assert response.status_code == 504
    error = response.json()["error"]
    assert error["code"] == "outcome_unknown"
    assert error["request_id"]


async def test_retry_with_the_same_request_id(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory
) -> None:
    tenant, agent = await connected_agent(server, client, make_agent)
    request_id = str(uuid.uuid4())
    first = reset(client, tenant, request_id=request_id)
    envelope = await agent.next_operation()
    await agent.send(Result(request_id, Outcome.OK, event_id=31009))
    assert (await first).status_code == 200
    second = reset(client, tenant, request_id=request_id)
    again = await agent.next_operation()
    assert again != envelope and agent.open(again).metadata.request_id == request_id
    await agent.send(Result(request_id, Outcome.OK, event_id=31009, replayed=True))
    assert (await second).json()["request_id"] == request_id
    await sync(agent, client, tenant, (user("jdoe"), user("other", b"\x02" * 16)))
    conflict = await reset(client, tenant, "other", request_id=request_id)
    assert conflict.status_code == 409
    assert conflict.json()["error"]["code"] == "request_conflict"


async def test_unknown_user_is_404(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory
) -> None:
    tenant, _agent = await connected_agent(server, client, make_agent)
    response = await reset(client, tenant, "nobody")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "user_not_found"


async def test_tenants_are_isolated(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory
) -> None:
    tenant_a, agent_a = await connected_agent(server, client, make_agent)
    tenant_b = server.create_tenant("Beta")
    agent_b = await make_agent(tenant_b)
    await agent_b.connect_ready()
    await agent_b.next_sync_request()
    await sync(agent_b, client, tenant_b, (user("bob", b"\x03" * 16),))
    b_user_id = (await users_of(client, tenant_b))["bob"]["id"]

    for target in ("bob", "bob@acme.test", b_user_id):
        response = await reset(client, tenant_a, str(target))
        assert response.status_code == 404, target
    assert set(await users_of(client, tenant_a)) == {"jdoe"}
    listed = (await client.get("/api/v1/agents", headers=bearer(tenant_a.admin_token))).json()
    assert [a["id"] for a in listed] == [agent_a.agent_id]


async def test_full_sync_replaces_and_incremental_updates(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory
) -> None:
    tenant, agent = await connected_agent(server, client, make_agent)
    first = await sync(
        agent,
        client,
        tenant,
        (user("jdoe"), user("amy", b"\x04" * 16)),
        (user("zed", b"\x05" * 16),),
    )
    assert set(first) == {"jdoe", "amy", "zed"}
    assert first["amy"]["anchor"] == anchor(b"\x04" * 16)
    # An incremental batch only updates.
    await sync(agent, client, tenant, (user("amy", b"\x04" * 16, enabled=False),), full=False)
    # A full sync without jdoe removes jdoe; amy keeps her id.
    known = await sync(
        agent, client, tenant, (user("amy", b"\x04" * 16), user("zed", b"\x05" * 16))
    )
    assert set(known) == {"amy", "zed"}
    assert known["amy"]["id"] == first["amy"]["id"]


async def test_sync_request_from_the_api(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory
) -> None:
    tenant, agent = await connected_agent(server, client, make_agent)
    response = await client.post("/api/v1/sync", headers=bearer(tenant.admin_token))
    assert response.status_code == 202
    assert (await agent.next_sync_request()).sync_id


async def test_an_admin_reset_is_audited_before_the_envelope_leaves(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory
) -> None:
    """E5: the event is written with the request's record, as "outcome
    unknown", and finished with the outcome; an answer that never comes
    leaves it saying so, as the record does. The next call sees each."""
    tenant, agent = await connected_agent(server, client, make_agent)
    headers = bearer(tenant.admin_token)

    async def events() -> list[tuple[str, str | None, str | None]]:
        found = await client.get("/api/v1/audit-events", headers=headers)
        return [
            (e["result"], e["detail"].get("outcome"), e["detail"].get("support_code"))
            for e in found.json()
            if e["activity"] == "reset_password"
        ]

    pending = reset(client, tenant)
    meta = agent.open(await agent.next_operation()).metadata
    [(result, outcome, code)] = await events()  # the envelope is out, no answer yet
    assert (result, outcome) == ("failure", "outcome_unknown")
    [(record_code,)] = rows(
        server, f"SELECT support_code FROM operations WHERE request_id = '{meta.request_id}'"
    )
    assert code == record_code
    await agent.send(Result(meta.request_id, Outcome.OK, event_id=31009))
    assert (await pending).status_code == 200
    assert await events() == [("success", "ok", code)]  # finished after the answer

    pending = reset(client, tenant)
    await agent.next_operation()
    await agent.close()  # the agent is gone before it answers: in doubt
    assert (await pending).json()["error"]["code"] == "outcome_unknown"
    assert [e[:2] for e in await events()] == [
        ("failure", "outcome_unknown"),
        ("success", "ok"),
    ]


async def test_a_request_refused_while_its_id_is_in_flight_is_audited_as_refused(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory
) -> None:
    """A second call with a request id its agent still works on is answered
    409; its event says so (the first one's says how the first ended)."""
    tenant, agent = await connected_agent(server, client, make_agent)
    request_id = str(uuid.uuid4())
    first = reset(client, tenant, request_id=request_id)
    await agent.next_operation()
    again = await reset(client, tenant, request_id=request_id)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "request_in_progress"
    await agent.send(Result(request_id, Outcome.OK, event_id=31009))
    assert (await first).status_code == 200
    found = await client.get("/api/v1/audit-events", headers=bearer(tenant.admin_token))
    second, first_event = (
        (e["result"], e["detail"]["outcome"])
        for e in found.json()  # newest first
        if e["activity"] == "reset_password"
    )
    assert second == ("failure", "request_in_progress")
    assert first_event == ("success", "ok")
