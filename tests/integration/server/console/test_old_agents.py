"""An agent older than the server (protocol.features): it announces nothing,
so the server never sends it what it would refuse or leave unanswered — a
reset with "must change at next logon", a read of the account's state — and
the console says at once that it needs an upgrade."""

from __future__ import annotations

import httpx

from passback.protocol.outcomes import Outcome
from tests.support.console import admin_of, csrf
from tests.support.portal import ACCOUNT, portal_tenant, rows, sign_in
from tests.support.server import AgentFactory, RunningServer, bearer

BASE = "/console/acme"


def jdoe(server: RunningServer) -> str:
    [[found]] = rows(server, "SELECT id FROM directory_users WHERE sam_account_name = 'jdoe'")
    return str(found)


async def test_an_old_agent_gets_nothing_it_cannot_do_and_the_console_says_so(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory
) -> None:
    async with portal_tenant(server, client, make_agent, features=()) as (tenant, agent):
        await admin_of(server, client, tenant.tenant_id, "acme")
        dashboard = await client.get(f"{BASE}/dashboard")
        assert "Needs an upgrade: it cannot" in dashboard.text
        assert "read an account&#39;s state" in dashboard.text
        assert "sync group membership" in dashboard.text
        assert "keep clear of the directory&#39;s lockout on sign-ins" in dashboard.text
        agents = await client.get(f"{BASE}/agents")
        assert "Needs an upgrade: it cannot" in agents.text

        person = await client.get(f"{BASE}/people/{jdoe(server)}")
        assert person.status_code == 200
        assert "The connected agents are too old to read the account" in person.text
        sent = await client.post(
            f"{BASE}/people/{jdoe(server)}/reset",
            data={"password": "Another-Pa55word-77", "must_change": "1", "csrf": csrf(person)},
        )
        shown = await client.get(sent.headers["location"])
        assert "No connected agent can make the user change the password" in shown.text
        assert agent.opened == []  # nothing was sealed for it

        api = await client.post(
            "/api/v1/users/jdoe/password-reset",
            headers=bearer(tenant.admin_token),
            json={"new_password": "Another-Pa55word-77", "must_change": True},
        )
        assert (api.status_code, api.json()["error"]["code"]) == (503, "agent_too_old")
        read = await client.get("/api/v1/users/jdoe/account", headers=bearer(tenant.admin_token))
        assert (read.status_code, read.json()["error"]["code"]) == (502, "agent_too_old")
        # Without the flag, the old agent does the reset.
        plain = await client.post(
            "/api/v1/users/jdoe/password-reset",
            headers=bearer(tenant.admin_token),
            json={"new_password": "Another-Pa55word-77"},
        )
        assert plain.status_code == 200 and len(agent.opened) == 1
        # A sign-in from the owner's own browser (the second, with the device
        # token the first left) goes to it unflagged: it knows no such flag.
        for _ in range(2):
            agent.outcomes.append((Outcome.OK, ACCOUNT))
            signed = await sign_in(client)
            assert signed.headers["location"] == "/portal/acme/account"
        assert [o.metadata.owner for o in agent.opened[1:]] == [False, False]
