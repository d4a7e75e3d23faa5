"""Who may use self-service in the portal (SPEC E1, G6, T2): the tenant's
plan, the policy's scope (None / a group, nested membership included / All)
and a per-user assignment. What is said of the tenant is said at once to
anyone; what is said of one account only once a gate (or the directory
password) proved who is asking."""

from __future__ import annotations

import asyncio

import httpx

from passback.protocol.messages import SyncGroup
from passback.protocol.outcomes import Outcome
from passback.server.tenants import CreatedTenant
from tests.support.portal import (
    BASE,
    CURRENT_PASSWORD,
    MAIL,
    AutoAgent,
    csrf,
    enter_code,
    execute,
    portal_tenant,
    rows,
    set_password,
    sign_in,
    start,
    support_code,
)
from tests.support.server import AgentFactory, RunningServer, bearer
from tests.support.smtp import MailCatcher

NOT_ENABLED = "Your administrator has not enabled this feature for your account."
SALES = "S-1-5-21-1004336348-1177238915-682003330-1105"
STAFF = "S-1-5-21-1004336348-1177238915-682003330-1106"  # has Sales as a member
GROUPS = (SyncGroup(SALES, "Sales"), SyncGroup(STAFF, "Staff"))


async def patch_policy(client: httpx.AsyncClient, token: str, **body: object) -> httpx.Response:
    return await client.patch("/api/v1/policy", headers=bearer(token), json=body)


async def test_scope_none_is_said_at_once_to_anyone(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory, mail: MailCatcher
) -> None:
    async with portal_tenant(server, client, make_agent) as (tenant, _agent):
        assert (await patch_policy(client, tenant.admin_token, scope="none")).status_code == 200
        for path in ("/", "/unlock", "/signin"):
            page = await client.get(f"{BASE}{path}")
            assert page.status_code == 403, path
            assert NOT_ENABLED in page.text and 'name="username"' not in page.text
        refused = await client.post(f"{BASE}/", data={"username": "nobody"})
        assert refused.status_code == 403 and NOT_ENABLED in refused.text
        api = await client.post("/api/v1/portal/acme/reset", json={"username": "jdoe"})
        assert (api.status_code, api.json()["error"]["code"]) == (403, "not_enabled")
    assert mail.to(MAIL) == []


async def test_a_plan_without_writeback_is_said_at_once(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory
) -> None:
    async with portal_tenant(server, client, make_agent) as (tenant, _agent):
        execute(server, f"UPDATE tenants SET plan = 'basic' WHERE id = '{tenant.tenant_id}'")
        page = await client.get(f"{BASE}/")
        assert page.status_code == 403 and NOT_ENABLED in page.text
        [(note,)] = rows(
            server, f"SELECT note FROM support_records WHERE code = '{support_code(page)}'"
        )
        assert note == "E1/G6: plan (tenant)"
        # The administrators' own writes need it too (403, not_entitled).
        reset = await client.post(
            "/api/v1/users/jdoe/password-reset",
            headers=bearer(tenant.admin_token),
            json={"new_password": "Another-Pa55word-77"},
        )
        assert (reset.status_code, reset.json()["error"]["code"]) == (403, "not_entitled")


async def test_out_of_the_group_is_told_only_after_the_gate(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory, mail: MailCatcher
) -> None:
    async with portal_tenant(server, client, make_agent, groups=GROUPS, member_of=(STAFF,)) as (
        tenant,
        _agent,
    ):
        changed = await patch_policy(client, tenant.admin_token, scope="group", scope_group=SALES)
        assert changed.status_code == 200 and changed.json()["scope_group"] == SALES
        await start(client)  # the same start as anyone's (T2)
        code = await asyncio.to_thread(mail.code_for, MAIL)
        page = await enter_code(client, code)
        assert page.status_code == 403 and NOT_ENABLED in page.text
        assert rows(server, "SELECT step FROM portal_flows") == [("ended",)]
        assert rows(
            server,
            "SELECT result, detail_json FROM audit_events WHERE activity = 'not_enabled'",
        ) == [("failure", '{"reason": "scope"}')]


async def test_a_member_of_a_nested_group_passes(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory, mail: MailCatcher
) -> None:
    """The agent syncs every group a user is in, enclosing ones included
    (tokenGroups): a member of Sales, which is in Staff, is in Staff's scope."""
    async with portal_tenant(
        server, client, make_agent, groups=GROUPS, member_of=(SALES, STAFF)
    ) as (tenant, _agent):
        await patch_policy(client, tenant.admin_token, scope="group", scope_group=STAFF)
        await start(client)
        code = await asyncio.to_thread(mail.code_for, MAIL)
        passed = await enter_code(client, code)
        assert passed.headers["location"] == f"{BASE}/password"


async def test_an_assignment_is_needed_where_the_policy_requires_it(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory, mail: MailCatcher
) -> None:
    async with portal_tenant(server, client, make_agent) as (tenant, agent):
        await patch_policy(client, tenant.admin_token, assignment_required=True)
        agent.outcomes.append((Outcome.OK, {}))
        signed = await sign_in(client)  # the directory password proves who it is
        assert signed.headers["location"] == f"{BASE}/signin"  # PRG: the form, with the error
        page = await client.get(signed.headers["location"])
        assert page.status_code == 403 and NOT_ENABLED in page.text
        assert rows(server, "SELECT COUNT(*) FROM account_sessions") == [(0,)]

        assigned = await client.put(
            "/api/v1/users/jdoe/assignment",
            headers=bearer(tenant.admin_token),
            json={"assigned": True},
        )
        assert assigned.json() == {"assigned": True}
        users = await client.get("/api/v1/users", headers=bearer(tenant.admin_token))
        assert users.json()[0]["assigned"] is True
        await start(client)
        code = await asyncio.to_thread(mail.code_for, MAIL)
        passed = await enter_code(client, code)
        assert passed.headers["location"] == f"{BASE}/password"
        assert [a for (a,) in rows(server, "SELECT activity FROM audit_events")].count(
            "assign"
        ) == 1


async def test_a_scope_group_must_be_one_the_agent_synced(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory
) -> None:
    async with portal_tenant(server, client, make_agent, groups=GROUPS) as (tenant, _agent):
        token = tenant.admin_token
        unknown = await patch_policy(client, token, scope="group", scope_group="S-1-5-21-9-9-9-9")
        assert unknown.status_code == 422
        assert unknown.json()["error"]["detail"]["problems"] == [{"code": "unknown_group"}]
        missing = await patch_policy(client, token, scope="group")
        assert missing.json()["error"]["detail"]["problems"] == [{"code": "scope_group"}]
        wrong = await patch_policy(client, token, scope="some")
        assert wrong.status_code == 422
        # A group named while the scope is not a group is checked when it becomes one.
        assert (await patch_policy(client, token, scope_group="not a sid")).status_code == 422
        kept = await patch_policy(client, token, scope="all", scope_group="S-1-5-21-9-9-9-9")
        assert kept.status_code == 200
        later = await patch_policy(client, token, scope="group")
        assert later.json()["error"]["detail"]["problems"] == [{"code": "unknown_group"}]
        policy = (await client.get("/api/v1/policy", headers=bearer(token))).json()
        assert (policy["scope"], policy["scope_group"]) == ("all", "S-1-5-21-9-9-9-9")


async def test_an_assignment_taken_away_after_the_gate_stops_the_write(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory, mail: MailCatcher
) -> None:
    """E1 again at the password step: nothing is sent to the agent."""
    async with portal_tenant(server, client, make_agent) as (tenant, agent):
        await patch_policy(client, tenant.admin_token, assignment_required=True)
        await assign(client, tenant, assigned=True)
        await start(client)
        code = await asyncio.to_thread(mail.code_for, MAIL)
        assert (await enter_code(client, code)).headers["location"] == f"{BASE}/password"
        await assign(client, tenant, assigned=False)
        done = await set_password(client)
        assert done.status_code == 403 and NOT_ENABLED in done.text
        assert agent.opened == []
        assert rows(server, "SELECT step FROM portal_flows") == [("ended",)]


async def sign_in_assigned(
    client: httpx.AsyncClient, tenant: CreatedTenant, agent: AutoAgent
) -> None:
    """jdoe, assigned where the policy requires an assignment, signed in."""
    await patch_policy(client, tenant.admin_token, assignment_required=True)
    await assign(client, tenant, assigned=True)
    agent.outcomes.append((Outcome.OK, {}))
    assert (await sign_in(client)).headers["location"] == f"{BASE}/account"


async def assign(client: httpx.AsyncClient, tenant: CreatedTenant, *, assigned: bool) -> None:
    response = await client.put(
        "/api/v1/users/jdoe/assignment",
        headers=bearer(tenant.admin_token),
        json={"assigned": assigned},
    )
    assert response.status_code == 200, response.text


async def test_an_assignment_taken_away_during_a_session_stops_a_change(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory
) -> None:
    async with portal_tenant(server, client, make_agent) as (tenant, agent):
        await sign_in_assigned(client, tenant, agent)
        form = await client.get(f"{BASE}/change")
        await assign(client, tenant, assigned=False)
        new = "Changed-Pa55word-7a1b"
        data = {
            "current_password": CURRENT_PASSWORD,
            "new_password": new,
            "confirm_password": new,
            "csrf": csrf(form),
        }
        refused = await client.post(f"{BASE}/change", data=data)
        assert refused.status_code == 303
        assert len(agent.opened) == 1  # the sign-in's check only
        assert rows(server, "SELECT count(*) FROM account_sessions") == [(0,)]


async def test_an_assignment_taken_away_ends_the_session_at_its_next_page(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory
) -> None:
    async with portal_tenant(server, client, make_agent) as (tenant, agent):
        await sign_in_assigned(client, tenant, agent)
        assert (await client.get(f"{BASE}/account")).status_code == 200
        await assign(client, tenant, assigned=False)
        page = await client.get(f"{BASE}/account")
        assert page.status_code == 403 and NOT_ENABLED in page.text
        assert rows(server, "SELECT count(*) FROM account_sessions") == [(0,)]
        [(reason,)] = rows(
            server, "SELECT detail_json FROM audit_events WHERE activity = 'not_enabled'"
        )
        assert "assignment" in str(reason)
        again = await client.get(f"{BASE}/account")
        assert again.status_code == 303, again.status_code  # signed out now: to the sign-in
        assert again.headers["location"] == f"{BASE}/signin"
