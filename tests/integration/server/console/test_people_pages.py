"""The console's People pages against the real server and a fake agent on the
real relay (SPEC W3, T1, E5): search, one user's page, and an administrator's
reset, unlock, require-change and lifted blocks, each an audit event. The
directory's own answers are proven against the real Samba DC in
tests/e2e/test_console.py."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re

import httpx
import pytest
from babel.dates import format_datetime

from passback.protocol.operations import Operation
from passback.protocol.outcomes import Outcome
from passback.server import writeback
from passback.server.console.roles import Role
from tests.support.console import admin_of, age_second_factor, csrf
from tests.support.portal import ACCOUNT, MAIL, portal_tenant, rows
from tests.support.server import AgentFactory, RunningServer
from tests.support.smtp import MailCatcher

BASE = "/console/acme"
PASSWORD = re.compile(r'id="password" name="password" value="([^"]+)"')


def user_id(server: RunningServer) -> str:
    [[found]] = rows(server, "SELECT id FROM directory_users WHERE sam_account_name = 'jdoe'")
    return str(found)


async def test_search_finds_by_the_start_of_a_name(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory
) -> None:
    async with portal_tenant(server, client, make_agent) as (tenant, _agent):
        await admin_of(server, client, tenant.tenant_id, "acme")
        page = await client.get(f"{BASE}/people", params={"q": "JD"})
        assert page.status_code == 200 and f"/people/{user_id(server)}" in page.text
        none = await client.get(f"{BASE}/people", params={"q": "j%"})
        assert "0 users" in none.text
        bad = await client.get(f"{BASE}/people", params={"q": "x\x00"})
        assert bad.status_code == 422 and "at most 256 characters" in bad.text
        missing = await client.get(f"{BASE}/people/not-a-user")
        assert missing.status_code == 404


async def test_reset_with_must_change_goes_through_the_agent_and_is_audited(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory, mail: MailCatcher
) -> None:
    async with portal_tenant(server, client, make_agent) as (tenant, agent):
        await admin_of(server, client, tenant.tenant_id, "acme")
        person = await client.get(f"{BASE}/people/{user_id(server)}")
        generated = PASSWORD.search(person.text)
        assert generated is not None and len(generated.group(1)) == 16
        sent = await client.post(
            f"{BASE}/people/{user_id(server)}/reset",
            data={
                "password": generated.group(1),
                "must_change": "1",
                "unlock": "1",
                "csrf": csrf(person),
            },
        )
        assert sent.headers["location"] == f"{BASE}/people/{user_id(server)}"
        shown = await client.get(sent.headers["location"])
        assert "must change it at the next sign-in" in shown.text
        assert generated.group(1) not in shown.text  # a new one is generated, not this
        [opened] = agent.opened
        assert opened.metadata.operation is Operation.ADMIN_RESET
        assert opened.metadata.must_change and opened.metadata.unlock
        assert opened.secrets == (generated.group(1),)
        [[activity, actor, detail]] = rows(
            server,
            "SELECT activity, actor, detail_json FROM audit_events "
            "WHERE activity = 'reset_password'",
        )
        assert (activity, actor) == ("reset_password", "admin")
        recorded = json.loads(str(detail))
        assert recorded["must_change"] == 1 and recorded["outcome"] == "ok"
        assert "admin" in recorded and generated.group(1) not in str(detail)
        # G9: the user learns of it, without the password.
        notice = await asyncio.to_thread(mail.wait_for, MAIL)
        assert notice["Subject"] == "Your password was reset"
        assert generated.group(1) not in notice.get_content()


async def test_the_directory_refusal_is_shown_in_its_own_words(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory
) -> None:
    async with portal_tenant(server, client, make_agent) as (tenant, agent):
        await admin_of(server, client, tenant.tenant_id, "acme")
        person = await client.get(f"{BASE}/people/{user_id(server)}")
        agent.outcomes.append((Outcome.TOO_SHORT, {"min_length": 14}))
        sent = await client.post(
            f"{BASE}/people/{user_id(server)}/reset",
            data={"password": "Short-1", "csrf": csrf(person)},
        )
        shown = await client.get(sent.headers["location"])
        assert shown.status_code == 422
        assert "at least 14 characters" in shown.text
        empty = await client.post(
            f"{BASE}/people/{user_id(server)}/reset", data={"password": "", "csrf": csrf(person)}
        )
        assert "Type the new password." in (await client.get(empty.headers["location"])).text


async def test_unlock_and_require_change(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory
) -> None:
    async with portal_tenant(server, client, make_agent) as (tenant, agent):
        await admin_of(server, client, tenant.tenant_id, "acme", "help@acme.test", Role.HELPDESK)
        person = await client.get(f"{BASE}/people/{user_id(server)}")
        for action, operation in (
            ("unlock", Operation.UNLOCK),
            ("require-change", Operation.REQUIRE_CHANGE),
        ):
            sent = await client.post(
                f"{BASE}/people/{user_id(server)}/{action}", data={"csrf": csrf(person)}
            )
            assert 'class="success"' in (await client.get(sent.headers["location"])).text
            assert agent.opened[-1].metadata.operation is operation
        lifted = await client.post(
            f"{BASE}/people/{user_id(server)}/lift-blocks", data={"csrf": csrf(person)}
        )
        assert "blocks lifted: 0" in (await client.get(lifted.headers["location"])).text


async def test_a_post_needs_the_session_csrf_token(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory
) -> None:
    async with portal_tenant(server, client, make_agent) as (tenant, agent):
        await admin_of(server, client, tenant.tenant_id, "acme")
        forged = await client.post(f"{BASE}/people/{user_id(server)}/unlock", data={"csrf": "x"})
        assert forged.headers["location"] == f"{BASE}/people/{user_id(server)}"
        assert "has expired" in (await client.get(forged.headers["location"])).text
        cross = await client.post(
            f"{BASE}/people/{user_id(server)}/unlock",
            data={"csrf": "x"},
            headers={"Sec-Fetch-Site": "cross-site"},
        )
        assert "another site" in (await client.get(cross.headers["location"])).text
        assert agent.opened == []


async def test_a_reports_reader_cannot_see_people(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory
) -> None:
    async with portal_tenant(server, client, make_agent) as (tenant, agent):
        await admin_of(server, client, tenant.tenant_id, "acme", "rita@acme.test", Role.REPORTS)
        assert (await client.get(f"{BASE}/people")).status_code == 403
        refused = await client.post(f"{BASE}/people/{user_id(server)}/unlock", data={})
        assert refused.status_code == 403
        assert agent.opened == []


async def test_a_reset_needs_a_fresh_authenticator_code(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory
) -> None:
    """Re-authentication before a reset: the code is asked again once the
    last one is older than five minutes."""
    async with portal_tenant(server, client, make_agent) as (tenant, agent):
        admin = await admin_of(server, client, tenant.tenant_id, "acme")
        age_second_factor(server)
        person = await client.get(f"{BASE}/people/{user_id(server)}")
        assert 'id="code"' in person.text
        refused = await client.post(
            f"{BASE}/people/{user_id(server)}/reset",
            data={"password": "Another-Pa55word-1", "code": "000000", "csrf": csrf(person)},
        )
        shown = await client.get(refused.headers["location"])
        assert "code is not right" in shown.text and agent.opened == []
        done = await client.post(
            f"{BASE}/people/{user_id(server)}/reset",
            data={"password": "Another-Pa55word-1", "code": admin.code(), "csrf": csrf(person)},
        )
        assert "was reset" in (await client.get(done.headers["location"])).text
        assert len(agent.opened) == 1
        assert 'id="code"' not in (await client.get(f"{BASE}/people/{user_id(server)}")).text


async def test_the_page_shows_the_account_as_the_directory_has_it(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory
) -> None:
    """A status read through the agent, with the dates as the page writes its
    others; nothing written, nothing audited."""
    async with portal_tenant(server, client, make_agent) as (tenant, agent):
        await admin_of(server, client, tenant.tenant_id, "acme")
        audited = rows(server, "SELECT count(*) FROM audit_events")
        agent.account = {**ACCOUNT, "locked": 1, "password_expires_at": 1_703_000_000}
        page = await client.get(f"{BASE}/people/{user_id(server)}")
        state = account_state(page)
        assert "Not locked out" not in state and "Locked out</span>" in state
        set_at = dt.datetime.fromtimestamp(int(ACCOUNT["password_set_at"]), dt.UTC)
        assert format_datetime(set_at, "long", tzinfo=dt.UTC, locale="en") in state
        assert "December 19, 2023" in state  # expires
        assert "Not required" in state
        assert (agent.reads, agent.opened) == (1, [])
        assert rows(server, "SELECT count(*) FROM audit_events") == audited

        agent.account = {**ACCOUNT, "enabled": 0, "must_change": 1, "password_set_at": 0}
        state = account_state(await client.get(f"{BASE}/people/{user_id(server)}"))
        assert "Disabled" in state and "Must change the password" in state
        assert "Never" not in state  # a password that must be changed does not "never expire"

        agent.account = {**ACCOUNT, "protection": "protected-group"}
        state = account_state(await client.get(f"{BASE}/people/{user_id(server)}"))
        assert "Refused: a protected account (protected-group)" in state

        pt = await client.get(
            f"{BASE}/people/{user_id(server)}", headers={"Accept-Language": "pt-BR"}
        )
        assert "No diretório agora" in pt.text


async def test_when_the_account_cannot_be_read_the_page_says_why(
    server: RunningServer,
    client: httpx.AsyncClient,
    make_agent: AgentFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with portal_tenant(server, client, make_agent) as (tenant, agent):
        await admin_of(server, client, tenant.tenant_id, "acme")
        agent.account_outcome = Outcome.USER_NOT_FOUND
        page = await client.get(f"{BASE}/people/{user_id(server)}")
        assert page.status_code == 200 and "Recent activity" in page.text
        assert "no account with this user&#39;s anchor" in account_state(page)

        agent.account_outcome = Outcome.UNKNOWN
        state = account_state(await client.get(f"{BASE}/people/{user_id(server)}"))
        assert "could not read the account (unknown)" in state

        monkeypatch.setattr(writeback, "READ_TIMEOUT", 0.2)
        agent.account = None  # it announced the read, and stays silent
        state = account_state(await client.get(f"{BASE}/people/{user_id(server)}"))
        assert "The agent did not answer in time" in state

        await agent.agent.close()
        page = await client.get(f"{BASE}/people/{user_id(server)}")
        assert page.status_code == 200 and "Reset the password" in page.text
        assert "No agent is connected" in account_state(page)
        assert (await client.get(f"{BASE}/people/not-a-user")).status_code == 404


def account_state(page: httpx.Response) -> str:
    """The page's "In the directory now" block."""
    found = re.search(r'id="state-title".*?</section>', page.text, re.S)
    assert found is not None, page.text
    return found.group(0)
