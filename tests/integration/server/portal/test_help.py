"""G5: when a code does not reach the user, the gate's page offers, after 10
seconds and without script, to send it again and to ask the tenant's
administrators for help (an email to them)."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from tests.support.portal import (
    BASE,
    MAIL,
    csrf,
    enter_code,
    from_address,
    phone_code,
    phoned,
    portal_tenant,
    rows,
)
from tests.support.server import AgentFactory, RunningServer, bearer
from tests.support.smtp import MailCatcher

ADMIN = "it@acme.test"


async def set_policy(client: httpx.AsyncClient, admin_token: str, **body: object) -> None:
    changed = await client.patch("/api/v1/policy", headers=bearer(admin_token), json=body)
    assert changed.status_code == 200, changed.text


async def post_from(client: httpx.AsyncClient, page: str, action: str) -> httpx.Response:
    shown = await client.get(f"{BASE}/{page}")
    assert f'action="{BASE}/{action}"' in shown.text, shown.text
    return await client.post(f"{BASE}/{action}", data={"csrf": csrf(shown)})


async def test_send_the_code_again_within_the_caps(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory, mail: MailCatcher
) -> None:
    async with portal_tenant(server, client, make_agent) as (_tenant, _agent):
        await client.post(f"{BASE}/", data={"username": "jdoe"})
        page = await client.get(f"{BASE}/code")
        assert 'class="later delayed"' in page.text and "Send the code again" in page.text
        assert "Contact your administrator" not in page.text  # the tenant named nobody
        first = await asyncio.to_thread(mail.code_for, MAIL)
        again = await post_from(client, "code", "code/again")
        assert again.headers["location"] == f"{BASE}/code"
        assert "We sent a new code" in (await client.get(f"{BASE}/code")).text
        second = await asyncio.to_thread(mail.code_for, MAIL, 2)
        assert second != first
        # T1: 3 code mails per hour for starts from one address, resends
        # included; past them a link mail, whose code is of a flow of its own
        await post_from(client, "code", "code/again")
        await asyncio.to_thread(mail.wait_for, MAIL, 3)
        await post_from(client, "code", "code/again")
        linked = await asyncio.to_thread(mail.wait_for, MAIL, 4)
        assert "open this page and type the code there" in linked.get_content()
        sql = "SELECT sends, blocked FROM portal_flows WHERE who_hash IS NOT NULL"
        assert rows(server, sql) == [(3, "mail_limit")]
        assert (await enter_code(client, first)).status_code == 422


async def test_a_phone_gate_asks_for_the_number_again(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory, mail: MailCatcher
) -> None:
    async with portal_tenant(server, client, make_agent, mobile="+5511912345678") as (tenant, _):
        await set_policy(client, tenant.admin_token, methods=["email", "mobile_sms"])
        await client.post(f"{BASE}/", data={"username": "jdoe"})
        page = await client.get(f"{BASE}/method")
        await client.post(f"{BASE}/method", data={"method": "mobile_sms", "csrf": csrf(page)})
        shown = await client.get(f"{BASE}/number")
        await client.post(f"{BASE}/number", data={"number": "+5511912345678", "csrf": csrf(shown)})
        await phoned(server)
        again = await post_from(client, "code", "code/again")
        assert again.headers["location"] == f"{BASE}/number"
        shown = await client.get(f"{BASE}/number")
        await client.post(f"{BASE}/number", data={"number": "+5511912345678", "csrf": csrf(shown)})
        texts = await phoned(server, 2)
        assert len(texts) == 2
        assert (await enter_code(client, phone_code(texts[0]))).status_code == 422
        passed = await enter_code(client, phone_code(texts[1]))
        assert passed.headers["location"] == f"{BASE}/password"


@pytest.mark.parametrize("username", ["jdoe", "nobody"])
async def test_ask_the_administrators_for_help(
    server: RunningServer,
    client: httpx.AsyncClient,
    make_agent: AgentFactory,
    mail: MailCatcher,
    username: str,
) -> None:
    """The same answer for every username (T2); only a real account's request
    reaches the administrators, once per flow."""
    async with portal_tenant(server, client, make_agent) as (tenant, _agent):
        await set_policy(client, tenant.admin_token, admin_contacts=[ADMIN, "desk@acme.test"])
        await client.post(f"{BASE}/", data={"username": username})
        page = await client.get(f"{BASE}/code")
        assert "Contact your administrator" in page.text
        asked = await post_from(client, "code", "help")
        assert asked.headers["location"] == f"{BASE}/code"
        after = await client.get(f"{BASE}/code")
        assert "We asked your administrators to help you" in after.text
        assert "Contact your administrator" not in after.text  # once per flow
        again = await client.post(f"{BASE}/help", data={"csrf": csrf(after)})
        assert again.status_code == 303
        if username == "jdoe":
            message = await asyncio.to_thread(mail.wait_for, ADMIN)
            assert message["Subject"] == "A user asks for help with their password: jdoe"
            body = message.get_content()
            assert "jdoe (jdoe@acme.test) tried to reset their password" in body
            assert "could not prove who they are with a code by email" in body
            await asyncio.to_thread(mail.wait_for, "desk@acme.test")
        await asyncio.sleep(0.3)
        assert len(mail.to(ADMIN)) == (1 if username == "jdoe" else 0)
    assert rows(server, "SELECT method FROM audit_events WHERE activity = 'ask_admin'") == [
        ("email",)
    ]


async def test_help_mails_per_account_are_capped_without_holding_the_owner_up(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory, mail: MailCatcher
) -> None:
    """Strangers can type anyone's username: at most 3 help mails a day per
    account, one of them for requests from one address; requests held back
    do not count, so a stranger's flood leaves the owner's request its mail;
    every request is in the audit log (the console's reports)."""

    async def ask(address: str) -> None:
        async with from_address(server, address) as someone:
            await someone.post(f"{BASE}/", data={"username": "jdoe"})
            asked = await post_from(someone, "code", "help")
            assert asked.status_code == 303

    async with portal_tenant(server, client, make_agent) as (tenant, _agent):
        await set_policy(client, tenant.admin_token, admin_contacts=[ADMIN])
        for _ in range(3):
            await ask("127.0.0.10")  # a stranger
        await ask("127.0.0.2")  # the owner
        second = await asyncio.to_thread(mail.wait_for, ADMIN, 2)
        assert "last help mail" not in second.get_content()
        await ask("127.0.0.11")
        third = await asyncio.to_thread(mail.wait_for, ADMIN, 3)
        assert "This is the last help mail for this account today" in third.get_content()
        assert "listed in the administration console under Reports" in third.get_content()
        await ask("127.0.0.12")
        await asyncio.sleep(0.3)
        assert len(mail.to(ADMIN)) == 3
    details = rows(
        server, "SELECT detail_json FROM audit_events WHERE activity = 'ask_admin' ORDER BY at"
    )
    assert [json.loads(str(d))["mailed"] for (d,) in details] == [
        "yes",
        "no: account_address cap",
        "no: account_address cap",
        "yes",
        "yes",
        "no: account cap",
    ]


async def test_no_administrator_named_no_help_by_mail(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory, mail: MailCatcher
) -> None:
    async with portal_tenant(server, client, make_agent) as (_tenant, _agent):
        await client.post(f"{BASE}/", data={"username": "jdoe"})
        page = await client.get(f"{BASE}/code")
        refused = await client.post(f"{BASE}/help", data={"csrf": csrf(page)})
        assert refused.status_code == 409
        assert "has not set up help by email" in refused.text
