"""The console's Agents, Administrators, Reports and Support pages against the
real server and a fake agent on the real relay (SPEC L1, U1, E2, E5): a
revoked agent's link drops with 4006 and it cannot come back; an invitation
is a set-up link shown once; a report's CSV holds exactly its rows."""

from __future__ import annotations

import asyncio
import csv
import io
import re

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from passback.crypto.keys import public_key_to_pem
from passback.protocol.errors import CloseCode
from passback.protocol.link import Closed
from passback.protocol.outcomes import Outcome
from passback.server.console import reports
from passback.server.console.roles import Role
from tests.support.console import ADMIN_PASSWORD, admin_of, age_second_factor, csrf, set_up, sign_in
from tests.support.portal import portal_tenant, rows
from tests.support.server import AgentFactory, RunningServer, bearer
from tests.support.smtp import MailCatcher

BASE = "/console/acme"
LINK = re.compile(r"(https://sspr\.acme\.test/console/acme/setup/[A-Za-z0-9_-]+)")


async def test_revoking_an_agent_closes_its_link_for_good(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory
) -> None:
    tenant = server.create_tenant("Acme")
    agent = await make_agent(tenant)
    await agent.connect_ready()
    await agent.next_sync_request()
    await admin_of(server, client, tenant.tenant_id, "acme")
    page = await client.get(f"{BASE}/agents")
    assert "Connected" in page.text
    revoked = await client.post(f"{BASE}/agents/{agent.agent_id}/revoke", data={"csrf": csrf(page)})
    assert revoked.headers["location"] == f"{BASE}/agents"
    closed = await agent.next_event()
    assert isinstance(closed, Closed) and closed.code == CloseCode.REVOKED
    assert "Revoked" in (await client.get(f"{BASE}/agents")).text
    await agent.connect()
    refused = await agent.next_event()
    assert isinstance(refused, Closed) and refused.code == CloseCode.AUTH_FAILED
    [[activity]] = rows(server, "SELECT activity FROM audit_events WHERE activity LIKE 'revoke%'")
    assert activity == "revoke_agent"


async def test_an_onboarding_token_is_shown_once_and_works(
    server: RunningServer, client: httpx.AsyncClient, agent_key: rsa.RSAPrivateKey
) -> None:
    tenant = server.create_tenant("Acme")
    await admin_of(server, client, tenant.tenant_id, "acme")
    page = await client.get(f"{BASE}/agents")
    made = await client.post(f"{BASE}/agents/onboarding-token", data={"csrf": csrf(page)})
    assert made.status_code == 200
    token = re.search(r'<code class="secret">(pbo_[^<]+)</code>', made.text)
    assert token is not None
    assert token.group(1) not in (await client.get(f"{BASE}/agents")).text
    onboarded = await client.post(
        "/api/v1/agents/onboard",
        headers={"Authorization": f"Bearer {token.group(1)}"},
        json={
            "name": "agent-b",
            "public_key": public_key_to_pem(agent_key.public_key()),
            "software": "test",
        },
    )
    assert onboarded.status_code == 201, onboarded.text


async def test_an_invited_helpdesk_sets_up_and_signs_in(
    server: RunningServer, client: httpx.AsyncClient
) -> None:
    tenant = server.create_tenant("Acme")
    await admin_of(server, client, tenant.tenant_id, "acme")
    page = await client.get(f"{BASE}/admins")
    bad = await client.post(
        f"{BASE}/admins",
        data={"email": "not an address", "name": "Hal", "role": "helpdesk", "csrf": csrf(page)},
    )
    assert bad.status_code == 422 and "Enter an email address" in bad.text
    made = await client.post(
        f"{BASE}/admins",
        data={"email": "hal@acme.test", "name": "Hal", "role": "helpdesk", "csrf": csrf(page)},
    )
    link = LINK.search(made.text)
    assert link is not None
    assert link.group(1) not in (await client.get(f"{BASE}/admins")).text
    token = link.group(1).rsplit("/", 1)[1]
    async with httpx.AsyncClient(base_url=server.base_url) as hal_browser:
        hal = await set_up(hal_browser, "acme", token, "hal@acme.test")
        signed = await sign_in(hal_browser, "acme", hal)
        assert signed.headers["location"] == f"{BASE}/people"
        for forbidden in ("dashboard", "agents", "admins", "reports", "reports.csv"):
            assert (await hal_browser.get(f"{BASE}/{forbidden}")).status_code == 403, forbidden
        assert (await hal_browser.get(f"{BASE}/support")).status_code == 200
    listed = await client.get(f"{BASE}/admins")
    assert "hal@acme.test" in listed.text and "Helpdesk" in listed.text


async def test_reports_filter_and_export_exactly_their_rows(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory
) -> None:
    async with portal_tenant(server, client, make_agent) as (tenant, agent):
        await admin_of(server, client, tenant.tenant_id, "acme")
        [[user_id]] = rows(server, "SELECT id FROM directory_users")
        person = await client.get(f"{BASE}/people/{user_id}")
        agent.outcomes.append((Outcome.ACCESS_DENIED, {}))
        for action in ("unlock", "unlock", "require-change"):
            await client.post(f"{BASE}/people/{user_id}/{action}", data={"csrf": csrf(person)})
        query = {"user": "JDOE", "activity": "unlock_account"}
        page = await client.get(f"{BASE}/reports", params=query)
        assert page.status_code == 200 and "<svg" in page.text
        assert "2 events" in page.text and "Unlock a user account" in page.text
        exported = await client.get(f"{BASE}/reports.csv", params=query)
        assert exported.headers["content-type"].startswith("text/csv")
        assert "attachment" in exported.headers["content-disposition"]
        table = list(csv.DictReader(io.StringIO(exported.text)))
        assert [(r["activity"], r["result"], r["user"]) for r in table] == [
            ("unlock_account", "success", "jdoe"),
            ("unlock_account", "failure", "jdoe"),
        ]
        failures = await client.get(f"{BASE}/reports.csv", params={"result": "failure"})
        assert len(list(csv.DictReader(io.StringIO(failures.text)))) == 1
        # Outcomes by reason: the failed unlock, by the directory's answer.
        reasons = re.search(r'<figure class="chart" id="reasons">(.*?)</figure>', page.text, re.S)
        assert reasons is not None and "Failures by reason" in page.text
        assert "access_denied: 1" in reasons.group(1)
        clean = await client.get(f"{BASE}/reports", params={"result": "success"})
        assert 'id="reasons"' not in clean.text
        bad = await client.get(f"{BASE}/reports", params={"from": "2026-13-01"})
        assert bad.status_code == 422 and "YYYY-MM-DD" in bad.text
        backwards = await client.get(
            f"{BASE}/reports", params={"from": "2026-02-01", "to": "2026-01-01"}
        )
        assert "The start is after the end" in backwards.text
        assert (await client.get(f"{BASE}/reports", params={"activity": "x"})).status_code == 422


async def test_a_support_code_of_a_refused_action_is_found_in_this_tenant_only(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory
) -> None:
    async with portal_tenant(server, client, make_agent) as (tenant, agent):
        await admin_of(server, client, tenant.tenant_id, "acme")
        [[user_id]] = rows(server, "SELECT id FROM directory_users")
        person = await client.get(f"{BASE}/people/{user_id}")
        agent.outcomes.append((Outcome.ACCESS_DENIED, {}))
        sent = await client.post(f"{BASE}/people/{user_id}/unlock", data={"csrf": csrf(person)})
        shown = await client.get(sent.headers["location"])
        code = re.search(r"<code>([0-9a-f-]{36})</code>", shown.text)
        assert code is not None
        found = await client.get(f"{BASE}/support", params={"code": code.group(1)})
        assert found.status_code == 200 and "access_denied" in found.text
        other = server.create_tenant("Globex")
        async with httpx.AsyncClient(base_url=server.base_url) as globex:
            await admin_of(server, globex, other.tenant_id, "globex", "gil@globex.test")
            hidden = await globex.get("/console/globex/support", params={"code": code.group(1)})
            assert hidden.status_code == 404
        assert (await client.get(f"{BASE}/support", params={"code": "nope"})).status_code == 422


async def test_report_dates_out_of_the_calendar_and_long_codes_are_refused(
    server: RunningServer, client: httpx.AsyncClient
) -> None:
    tenant = server.create_tenant("Acme")
    await admin_of(server, client, tenant.tenant_id, "acme")
    for query in ({"to": "0001-01-05"}, {"from": "9999-12-30", "to": "9999-12-31"}):
        for path in ("reports", "reports.csv"):
            answer = await client.get(f"{BASE}/{path}", params=query)
            assert answer.status_code == 422, (path, query)
    long_code = "0" * 32 + "-" * 32 + "x"
    assert (await client.get(f"{BASE}/support", params={"code": long_code})).status_code == 422


async def test_an_export_larger_than_the_cap_is_refused_not_cut(
    server: RunningServer, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant = server.create_tenant("Acme")
    await admin_of(server, client, tenant.tenant_id, "acme")  # 3 events
    monkeypatch.setattr(reports, "MAX_EXPORT", 2)
    refused = await client.get(f"{BASE}/reports.csv")
    assert refused.status_code == 422 and "More than 2 events match" in refused.text
    monkeypatch.setattr(reports, "MAX_EXPORT", 3)
    exported = await client.get(f"{BASE}/reports.csv")
    assert len(list(csv.DictReader(io.StringIO(exported.text)))) == 3


async def test_an_administrator_is_disabled_enabled_and_set_up_again(
    server: RunningServer, client: httpx.AsyncClient, mail: MailCatcher
) -> None:
    tenant = server.create_tenant("Acme")
    # Turning off the mails of password resets leaves those of set-up links (G7).
    await client.patch(
        "/api/v1/policy", headers=bearer(tenant.admin_token), json={"notify_admins": False}
    )
    await admin_of(server, client, tenant.tenant_id, "acme")
    async with httpx.AsyncClient(base_url=server.base_url) as hal_browser:
        hal = await admin_of(
            server, hal_browser, tenant.tenant_id, "acme", "hal@acme.test", Role.HELPDESK
        )
        tokens = await hal_browser.get(f"{BASE}/tokens")
        made_token = await hal_browser.post(
            f"{BASE}/tokens", data={"name": "hal's script", "csrf": csrf(tokens)}
        )
        token = re.search(r'<code class="secret">(pba_[^<]+)</code>', made_token.text)
        assert token is not None
        [[hal_id]] = rows(server, "SELECT id FROM admins WHERE email = 'hal@acme.test'")
        page = await client.get(f"{BASE}/admins")
        await client.post(f"{BASE}/admins/{hal_id}/disable", data={"csrf": csrf(page)})
        assert (await hal_browser.get(f"{BASE}/people")).status_code == 303  # signed out
        assert "Disabled" in (await client.get(f"{BASE}/admins")).text
        await client.post(f"{BASE}/admins/{hal_id}/enable", data={"csrf": csrf(page)})
        made = await client.post(f"{BASE}/admins/{hal_id}/setup-link", data={"csrf": csrf(page)})
        link = LINK.search(made.text)
        assert link is not None, made.text
        # The old password no longer signs in; the link sets a new one.
        old = await hal_browser.post(
            f"{BASE}/signin", data={"email": hal.email, "password": ADMIN_PASSWORD}
        )
        assert old.headers["location"] == f"{BASE}/signin"
        again = await set_up(hal_browser, "acme", link.group(1).rsplit("/", 1)[1], hal.email)
        assert again.secret != hal.secret
        # A lost device: hal's tokens are gone for good, even once set up again.
        users = await hal_browser.get("/api/v1/users", headers=bearer(token.group(1)))
        assert users.status_code == 401
    told = await asyncio.to_thread(mail.wait_for, "ada@acme.test")
    assert "new set-up link" in told.get_content() and "hal@acme.test" in told.get_content()
    [[ada_id]] = rows(server, "SELECT id FROM admins WHERE email = 'ada@acme.test'")
    for action in ("disable", "setup-link"):
        own = await client.post(f"{BASE}/admins/{ada_id}/{action}", data={"csrf": csrf(page)})
        assert "You cannot" in (await client.get(own.headers["location"])).text
    changes = rows(server, "SELECT count(*) FROM audit_events WHERE activity = 'admin_change'")
    assert changes == [(3,)]


async def test_a_stale_session_confirms_with_a_code_and_goes_back(
    server: RunningServer, client: httpx.AsyncClient
) -> None:
    tenant = server.create_tenant("Acme")
    ada = await admin_of(server, client, tenant.tenant_id, "acme")
    async with httpx.AsyncClient(base_url=server.base_url) as hal_browser:
        await admin_of(
            server, hal_browser, tenant.tenant_id, "acme", "hal@acme.test", Role.HELPDESK
        )
    age_second_factor(server)
    [[hal_id]] = rows(server, "SELECT id FROM admins WHERE email = 'hal@acme.test'")
    page = await client.get(f"{BASE}/admins")
    asked = await client.post(f"{BASE}/admins/{hal_id}/setup-link", data={"csrf": csrf(page)})
    assert asked.headers["location"] == f"{BASE}/confirm?next=%2Fconsole%2Facme%2Fadmins"
    confirm = await client.get(asked.headers["location"])
    evil = await client.post(
        f"{BASE}/confirm",
        data={"code": ada.code(), "next": "https://evil.test/", "csrf": csrf(confirm)},
    )
    assert evil.headers["location"] == f"{BASE}/"  # never to another site
    made = await client.post(f"{BASE}/admins/{hal_id}/setup-link", data={"csrf": csrf(page)})
    assert LINK.search(made.text) is not None
