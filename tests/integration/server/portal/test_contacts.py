"""An own email address or mobile number in Security info (SPEC G1, G3): proved
by a code sent there, then used by the email and phone gates beside the
directory's contact data; bad input refused with nothing stored."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from passback.protocol.outcomes import Outcome
from tests.support.portal import (
    BASE,
    MAIL,
    csrf,
    enter_code,
    phone_code,
    phoned,
    portal_tenant,
    rows,
    sign_in,
)
from tests.support.server import AgentFactory, RunningServer, bearer
from tests.support.smtp import MailCatcher

STATE = {"locked": 0, "password_set_at": int(time.time()) - 60, "password_expires_at": 0}
OWN = "jdoe.home@example.net"


async def set_policy(client: httpx.AsyncClient, admin_token: str, **body: object) -> None:
    changed = await client.patch("/api/v1/policy", headers=bearer(admin_token), json=body)
    assert changed.status_code == 200, changed.text


async def confirm_session(client: httpx.AsyncClient, mail: MailCatcher) -> None:
    page = await client.get(f"{BASE}/security/confirm")
    await client.post(f"{BASE}/security/confirm", data={"csrf": csrf(page)})
    code = await asyncio.to_thread(mail.code_for, MAIL, 1)
    form = await client.get(f"{BASE}/security/confirm/code")
    done = await client.post(
        f"{BASE}/security/confirm/code", data={"code": code, "csrf": csrf(form)}
    )
    assert done.headers["location"] == f"{BASE}/security", done.text


async def send_value(client: httpx.AsyncClient, kind: str, value: str) -> httpx.Response:
    page = await client.get(f"{BASE}/security/contact/{kind}")
    assert 'name="value"' in page.text, page.text
    return await client.post(
        f"{BASE}/security/contact/{kind}", data={"value": value, "csrf": csrf(page)}
    )


async def send_code(client: httpx.AsyncClient, kind: str, code: str) -> httpx.Response:
    page = await client.get(f"{BASE}/security/contact/{kind}/code")
    assert 'name="code"' in page.text, page.text
    return await client.post(
        f"{BASE}/security/contact/{kind}/code", data={"code": code, "csrf": csrf(page)}
    )


async def test_an_own_address_gets_the_reset_code_too(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory, mail: MailCatcher
) -> None:
    async with portal_tenant(server, client, make_agent) as (_tenant, agent):
        agent.outcomes.append((Outcome.OK, STATE))
        await sign_in(client)
        await confirm_session(client, mail)
        assert "Add an email address" in (await client.get(f"{BASE}/security")).text
        wrong = await send_value(client, "email", "not an address")
        assert wrong.headers["location"] == f"{BASE}/security/contact/email"
        shown = await client.get(f"{BASE}/security/contact/email")
        assert shown.status_code == 422 and "Type one email address" in shown.text
        sent = await send_value(client, "email", f"  {OWN} ")
        assert sent.headers["location"] == f"{BASE}/security/contact/email/code"
        code = await asyncio.to_thread(mail.code_for, OWN)
        assert (
            (await send_code(client, "email", "00000000"))
            .headers["location"]
            .endswith("/security/contact/email/code")
        )
        done = await send_code(client, "email", code)
        assert done.headers["location"] == f"{BASE}/security", done.text
        info = await client.get(f"{BASE}/security")
        assert "j•••@example.net" in info.text and OWN not in info.text

        async with httpx.AsyncClient(base_url=server.base_url) as browser:
            await browser.post(f"{BASE}/", data={"username": "jdoe"})
            to_own = await asyncio.to_thread(mail.code_for, OWN, 2)
            # mail 1: the session's confirmation, 2: "your security info was changed"
            to_directory = await asyncio.to_thread(mail.code_for, MAIL, 3)
            assert to_own == to_directory
            passed = await enter_code(browser, to_own)
            assert passed.headers["location"] == f"{BASE}/password"

        page = await client.get(f"{BASE}/security")
        removed = await client.post(f"{BASE}/security/email/remove", data={"csrf": csrf(page)})
        assert removed.headers["location"] == f"{BASE}/security"
        assert "Add an email address" in (await client.get(f"{BASE}/security")).text
    events = rows(
        server,
        "SELECT activity, method FROM audit_events WHERE activity LIKE '%method' ORDER BY at",
    )
    assert events == [("register_method", "email"), ("remove_method", "email")]


async def test_an_own_mobile_number_opens_the_phone_gates(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory, mail: MailCatcher
) -> None:
    async with portal_tenant(server, client, make_agent) as (tenant, agent):
        await set_policy(
            client, tenant.admin_token, methods=["email", "mobile_sms"], phone_region="BR"
        )
        agent.outcomes.append((Outcome.OK, STATE))
        await sign_in(client)
        await confirm_session(client, mail)
        sent = await send_value(client, "mobile", "(11) 98888-7777")
        assert sent.headers["location"] == f"{BASE}/security/contact/mobile/code"
        (text,) = await phoned(server)
        assert text["to"] == "+5511988887777" and "code to add this number" in str(text["text"])
        done = await send_code(client, "mobile", phone_code(text))
        assert done.headers["location"] == f"{BASE}/security", done.text
        assert "•••••••••••77" in (await client.get(f"{BASE}/security")).text

        async with httpx.AsyncClient(base_url=server.base_url) as browser:
            await browser.post(f"{BASE}/", data={"username": "jdoe"})
            page = await browser.get(f"{BASE}/method")
            await browser.post(f"{BASE}/method", data={"method": "mobile_sms", "csrf": csrf(page)})
            page = await browser.get(f"{BASE}/number")
            typed = await browser.post(
                f"{BASE}/number", data={"number": "+55 11 98888 7777", "csrf": csrf(page)}
            )
            assert typed.headers["location"] == f"{BASE}/code"
            texts = await phoned(server, 2)
            passed = await enter_code(browser, phone_code(texts[1]))
            assert passed.headers["location"] == f"{BASE}/password"


async def test_codes_and_tries_are_capped(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory, mail: MailCatcher
) -> None:
    async with portal_tenant(server, client, make_agent) as (_tenant, agent):
        agent.outcomes.append((Outcome.OK, STATE))
        await sign_in(client)
        await confirm_session(client, mail)
        for _ in range(3):
            sent = await send_value(client, "email", OWN)
            assert sent.headers["location"].endswith("/code")
        refused = await send_value(client, "email", OWN)
        assert refused.headers["location"] == f"{BASE}/security"
        assert (await client.get(f"{BASE}/security")).status_code == 429
        code = await asyncio.to_thread(mail.code_for, OWN, 3)
        for _ in range(5):
            await send_code(client, "email", "00000000")
        late = await send_code(client, "email", code)
        assert late.headers["location"].endswith("/security/contact/email/code")
    assert (
        rows(server, "SELECT method FROM gate_registrations WHERE confirmed_at IS NOT NULL") == []
    )


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        ("email", "a@b.c\x00"),
        ("email", "a\u202e@example.net"),
        ("email", "📧@example.net x"),
        ("email", "a" * 300 + "@example.net"),
        ("email", ""),
        ("mobile", "+55 11 9\x008888 7777"),
        ("mobile", "\u202e📱"),
        ("mobile", "+55 11 9888"),
        ("mobile", "call me"),
        ("mobile", ""),
    ],
)
async def test_bad_input_is_refused_and_nothing_is_stored(
    server: RunningServer,
    client: httpx.AsyncClient,
    make_agent: AgentFactory,
    mail: MailCatcher,
    kind: str,
    value: str,
) -> None:
    async with portal_tenant(server, client, make_agent) as (tenant, agent):
        await set_policy(client, tenant.admin_token, methods=["email", "mobile_sms"])
        agent.outcomes.append((Outcome.OK, STATE))
        await sign_in(client)
        await confirm_session(client, mail)
        refused = await send_value(client, kind, value)
        assert refused.headers["location"] == f"{BASE}/security/contact/{kind}"
        page = await client.get(f"{BASE}/security/contact/{kind}")
        assert page.status_code == 422 and 'aria-invalid="true"' in page.text
        huge = await client.post(
            f"{BASE}/security/contact/{kind}", data={"value": "x" * 10_000, "csrf": csrf(page)}
        )
        assert huge.status_code in (303, 422)
    assert rows(server, "SELECT count(*) FROM gate_registrations") == [(0,)]
    assert await phoned(server, 0) == []
