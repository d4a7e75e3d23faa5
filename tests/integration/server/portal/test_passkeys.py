"""Passkeys (SPEC G1, G2, T2): set up in Security info, then a gate of the
reset flow; answers made by a software authenticator with real signatures
for the server's public URL (https://sspr.acme.test)."""

from __future__ import annotations

import asyncio
import time

import httpx
import pyotp

from passback.protocol.outcomes import Outcome
from tests.support.portal import (
    BASE,
    MAIL,
    csrf,
    portal_tenant,
    register_authenticator,
    rows,
    sign_in,
)
from tests.support.server import AgentFactory, RunningServer, bearer
from tests.support.smtp import MailCatcher
from tests.support.webauthn import SoftAuthenticator, options_of

ORIGIN, RP_ID = "https://sspr.acme.test", "sspr.acme.test"
STATE = {"locked": 0, "password_set_at": int(time.time()) - 60, "password_expires_at": 0}


async def set_policy(client: httpx.AsyncClient, admin_token: str, **body: object) -> None:
    changed = await client.patch("/api/v1/policy", headers=bearer(admin_token), json=body)
    assert changed.status_code == 200, changed.text


async def register(client: httpx.AsyncClient, device: SoftAuthenticator) -> httpx.Response:
    page = await client.get(f"{BASE}/security/passkey")
    assert page.status_code in (200, 422), page.text  # 422: the last try's error, once
    assert "script-src 'self'" in page.headers["content-security-policy"]
    answer = device.register(options_of(page))
    return await client.post(
        f"{BASE}/security/passkey", data={"credential": answer, "csrf": csrf(page)}
    )


async def test_set_up_a_passkey_then_pass_a_gate_with_it(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory, mail: MailCatcher
) -> None:
    device = SoftAuthenticator(ORIGIN, RP_ID)
    async with portal_tenant(server, client, make_agent) as (tenant, agent):
        await set_policy(client, tenant.admin_token, methods=["email", "passkey"])
        agent.outcomes.append((Outcome.OK, STATE))
        await sign_in(client)
        # a password alone sets nothing up: the session confirms by mail first
        gone = await client.get(f"{BASE}/security/passkey")
        assert gone.headers["location"] == f"{BASE}/security/confirm"
        page = await client.get(f"{BASE}/security/confirm")
        await client.post(f"{BASE}/security/confirm", data={"csrf": csrf(page)})
        code = await asyncio.to_thread(mail.code_for, MAIL, 1)
        form = await client.get(f"{BASE}/security/confirm/code")
        await client.post(f"{BASE}/security/confirm/code", data={"code": code, "csrf": csrf(form)})
        forged = SoftAuthenticator("https://sspr.acme-login.test", RP_ID)
        refused = await register(client, forged)
        assert refused.headers["location"] == f"{BASE}/security/passkey"
        shown = await client.get(f"{BASE}/security/passkey")
        assert shown.status_code == 422 and "could not be set up" in shown.text
        done = await register(client, device)
        assert done.headers["location"] == f"{BASE}/security", done.text
        info = await client.get(f"{BASE}/security")
        assert "Passkey" in info.text and "security/passkey/remove" in info.text
        # test it: nothing changes, the page says whether it answered
        page = await client.get(f"{BASE}/security/test/passkey")
        assert "script-src 'self'" in page.headers["content-security-policy"]
        tested = await client.post(
            f"{BASE}/security/test/passkey",
            data={"credential": device.authenticate(options_of(page)), "csrf": csrf(page)},
        )
        assert tested.headers["location"] == f"{BASE}/security"
        assert "your passkey answered" in (await client.get(f"{BASE}/security")).text

        async with httpx.AsyncClient(base_url=server.base_url) as browser:
            await browser.post(f"{BASE}/", data={"username": "jdoe"})
            page = await browser.get(f"{BASE}/method")
            assert 'value="passkey"' in page.text
            chosen = await browser.post(
                f"{BASE}/method", data={"method": "passkey", "csrf": csrf(page)}
            )
            assert chosen.headers["location"] == f"{BASE}/passkey"
            page = await browser.get(f"{BASE}/passkey")
            options = options_of(page)
            assert options["rpId"] == RP_ID
            assert options["allowCredentials"] == []  # any passkey of the site (T2)
            # an answer to another challenge (a replay) fails and counts
            stale = device.authenticate({"challenge": "AAAA"})
            wrong = await browser.post(
                f"{BASE}/passkey", data={"credential": stale, "csrf": csrf(page)}
            )
            assert wrong.headers["location"] == f"{BASE}/passkey"
            page = await browser.get(f"{BASE}/passkey")
            assert page.status_code == 422 and "Attempts left: 4" in page.text
            answer = device.authenticate(options_of(page))
            passed = await browser.post(
                f"{BASE}/passkey", data={"credential": answer, "csrf": csrf(page)}
            )
            assert passed.headers["location"] == f"{BASE}/password", passed.text
    events = rows(
        server, "SELECT activity, result FROM audit_events WHERE method = 'passkey' ORDER BY at"
    )
    assert events == [
        ("register_method", "failure"),
        ("register_method", "success"),
        ("gate", "success"),  # the test in Security info
        ("gate", "failure"),
        ("gate", "success"),
    ]


async def test_a_username_without_a_passkey_gets_the_same_page(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory, mail: MailCatcher
) -> None:
    """T2: the options name no credential, for every username alike; a
    passkey that is not the flow's user's own never passes."""
    async with portal_tenant(server, client, make_agent) as (tenant, _agent):
        await set_policy(client, tenant.admin_token, methods=["email", "passkey"])
        seen = []
        for username in ("nobody", "nobody", "jdoe"):
            async with httpx.AsyncClient(base_url=server.base_url) as browser:
                await browser.post(f"{BASE}/", data={"username": username})
                page = await browser.get(f"{BASE}/method")
                await browser.post(f"{BASE}/method", data={"method": "passkey", "csrf": csrf(page)})
                page = await browser.get(f"{BASE}/passkey")
                options = options_of(page)
                seen.append({k: v for k, v in options.items() if k != "challenge"})
                device = SoftAuthenticator(ORIGIN, RP_ID)
                answer = device.authenticate(options)
                refused = await browser.post(
                    f"{BASE}/passkey", data={"credential": answer, "csrf": csrf(page)}
                )
                assert refused.headers["location"] == f"{BASE}/passkey"
        assert seen[0] == seen[1] == seen[2]


async def test_a_passkey_gate_takes_no_code(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory, mail: MailCatcher
) -> None:
    """An authenticator's code typed at a passkey gate does not pass it: two
    gates would otherwise be passed with one authenticator."""
    async with portal_tenant(server, client, make_agent) as (tenant, _agent):
        await set_policy(client, tenant.admin_token, methods=["email", "totp", "passkey"])
        secret = register_authenticator(server)
        await client.post(f"{BASE}/", data={"username": "jdoe"})
        page = await client.get(f"{BASE}/method")
        await client.post(f"{BASE}/method", data={"method": "passkey", "csrf": csrf(page)})
        code = pyotp.TOTP(secret).now()
        typed = await client.post(f"{BASE}/code", data={"code": code, "csrf": csrf(page)})
        assert typed.status_code == 409, typed.text
        assert "not available now" in typed.text
    assert rows(server, "SELECT gates_passed, attempts FROM portal_flows") == [("", 0)]


async def test_the_json_api_sends_passkeys_to_the_pages(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory, mail: MailCatcher
) -> None:
    api = "/api/v1/portal/acme/reset"
    async with portal_tenant(server, client, make_agent) as (tenant, _agent):
        await set_policy(client, tenant.admin_token, methods=["email", "passkey"])
        started = await client.post(api, json={"username": "jdoe"})
        token = {"X-Passback-Flow": started.json()["flow_token"]}
        chosen = await client.post(f"{api}/method", headers=token, json={"method": "passkey"})
        assert chosen.status_code == 422, chosen.text
        assert "portal's pages" in chosen.json()["error"]["message"]


async def test_answers_of_any_shape_are_a_failed_try(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory, mail: MailCatcher
) -> None:
    async with portal_tenant(server, client, make_agent) as (tenant, _agent):
        await set_policy(client, tenant.admin_token, methods=["email", "passkey"])
        await client.post(f"{BASE}/", data={"username": "jdoe"})
        page = await client.get(f"{BASE}/method")
        await client.post(f"{BASE}/method", data={"method": "passkey", "csrf": csrf(page)})
        for left, credential in zip(
            range(4, 0, -1), ("", "not json", '{"id": "\x00"}', "[" * 9000), strict=True
        ):
            page = await client.get(f"{BASE}/passkey")
            tried = await client.post(
                f"{BASE}/passkey", data={"credential": credential, "csrf": csrf(page)}
            )
            assert tried.headers["location"] == f"{BASE}/passkey"
            shown = await client.get(f"{BASE}/passkey")
            assert shown.status_code == 422 and f"Attempts left: {left}." in shown.text
        huge = await client.post(
            f"{BASE}/passkey", data={"credential": "x" * 20_000, "csrf": csrf(shown)}
        )
        assert huge.status_code == 422  # over the field's bound: refused before anything counts
        assert rows(server, "SELECT attempts FROM portal_flows") == [(4,)]
