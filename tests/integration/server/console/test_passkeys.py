"""An administrator's passkeys (SPEC G7) against the real server: added with a
fresh second factor, used instead of the authenticator code at sign-in and
at "Confirm it is you", counted as codes are, removed, and gone with a new
set-up link. Answers come from a software authenticator with real
signatures for the server's public URL (https://sspr.acme.test)."""

from __future__ import annotations

import copy
import json
from urllib.parse import quote

import httpx

from passback.server.console.roles import Role
from passback.server.console.sessions import MAX_CODE_ATTEMPTS
from tests.support.console import (
    ADMIN_PASSWORD,
    ConsoleAdmin,
    admin_of,
    age_second_factor,
    csrf,
    invite,
    set_up,
)
from tests.support.portal import rows
from tests.support.server import RunningServer
from tests.support.webauthn import SoftAuthenticator, b64url, options_of

ORIGIN, RP_ID = "https://sspr.acme.test", "sspr.acme.test"
BASE = "/console/acme"


async def confirm(client: httpx.AsyncClient, admin: ConsoleAdmin, base: str = BASE) -> None:
    page = await client.get(f"{base}/confirm")
    done = await client.post(
        f"{base}/confirm",
        data={"code": admin.code(), "next": f"{base}/security", "csrf": csrf(page)},
    )
    assert done.headers["location"] == f"{base}/security", done.text


async def add(
    client: httpx.AsyncClient, device: SoftAuthenticator, name: str = "", base: str = BASE
) -> httpx.Response:
    page = await client.get(f"{base}/security/passkey")
    assert page.status_code in (200, 422), page.text  # 422: the last try's error, once
    assert "script-src 'self'" in page.headers["content-security-policy"]
    answer = device.register(options_of(page))
    return await client.post(
        f"{base}/security/passkey", data={"credential": answer, "name": name, "csrf": csrf(page)}
    )


async def password(client: httpx.AsyncClient, email: str, base: str = BASE) -> None:
    first = await client.post(f"{base}/signin", data={"email": email, "password": ADMIN_PASSWORD})
    assert first.headers["location"] == f"{base}/signin/code", first.text


async def with_passkey(
    client: httpx.AsyncClient, device: SoftAuthenticator, base: str = BASE
) -> httpx.Response:
    page = await client.get(f"{base}/signin/passkey")
    assert page.status_code in (200, 422), page.text
    return await client.post(
        f"{base}/signin/passkey", data={"credential": device.authenticate(options_of(page))}
    )


async def test_add_a_passkey_then_sign_in_with_it_instead_of_a_code(
    server: RunningServer, client: httpx.AsyncClient
) -> None:
    tenant = server.create_tenant("Acme")
    admin = await admin_of(server, client, tenant.tenant_id, "acme")
    device = SoftAuthenticator(ORIGIN, RP_ID)

    info = await client.get(f"{BASE}/security")
    assert info.status_code == 200 and "No passkey yet." in info.text
    # the sign-in's code is fresh for 5 minutes: age it, then adding asks again
    age_second_factor(server)
    asked = await client.get(f"{BASE}/security/passkey")
    assert asked.headers["location"].startswith(f"{BASE}/confirm?next=")
    await confirm(client, admin)
    forged = SoftAuthenticator("https://sspr.acme-login.test", RP_ID)
    refused = await add(client, forged)
    assert refused.headers["location"] == f"{BASE}/security/passkey"
    shown = await client.get(f"{BASE}/security/passkey")
    assert shown.status_code == 422 and "could not be set up" in shown.text
    done = await add(client, device, "Office laptop")
    assert done.headers["location"] == f"{BASE}/security", done.text
    info = await client.get(f"{BASE}/security")
    assert "Office laptop" in info.text and "Your passkey is added" in info.text
    # the same authenticator twice: the browser is told to refuse, the server does too
    again = await client.get(f"{BASE}/security/passkey")
    excluded = options_of(again)["excludeCredentials"]
    assert [c["id"] for c in excluded] == [b64url(device.credential_id)]

    async with httpx.AsyncClient(base_url=server.base_url) as browser:
        await password(browser, admin.email)
        code_page = await browser.get(f"{BASE}/signin/code")
        assert f"{BASE}/signin/passkey" in code_page.text
        page = await browser.get(f"{BASE}/signin/passkey")
        assert "script-src 'self'" in page.headers["content-security-policy"]
        options = options_of(page)
        assert options["rpId"] == RP_ID
        assert [c["id"] for c in options["allowCredentials"]] == [b64url(device.credential_id)]
        half = browser.cookies["passback_console"]
        passed = await browser.post(
            f"{BASE}/signin/passkey", data={"credential": device.authenticate(options)}
        )
        assert passed.headers["location"] == f"{BASE}/dashboard", passed.text
        assert browser.cookies["passback_console"] != half  # rotated, as with a code
        assert "passback_console_device" in browser.cookies
        assert (await browser.get(f"{BASE}/dashboard")).status_code == 200
    [(count, used)] = rows(server, "SELECT sign_count, last_used_at FROM admin_passkeys")
    assert count == 1 and used is not None
    events = rows(
        server,
        "SELECT activity, result, method FROM audit_events "
        "WHERE activity IN ('admin_passkey_added', 'gate') ORDER BY at",
    )
    assert ("admin_passkey_added", "success", None) in events
    assert events[-1] == ("gate", "success", "passkey")


async def test_wrong_answers_are_refused_and_counted_as_wrong_codes(
    server: RunningServer, client: httpx.AsyncClient
) -> None:
    """A bad signature, a passkey that is not the administrator's, a replayed
    answer and a cloned authenticator's counter: each refused, each one of
    the session's 5 tries (then the session ends), each audited."""
    tenant = server.create_tenant("Acme")
    admin = await admin_of(server, client, tenant.tenant_id, "acme")
    device = SoftAuthenticator(ORIGIN, RP_ID)
    assert (await add(client, device)).headers["location"] == f"{BASE}/security"
    clone = copy.deepcopy(device)  # the same key, its counter left behind

    async with httpx.AsyncClient(base_url=server.base_url) as browser:
        await password(browser, admin.email)
        passed = await with_passkey(browser, device)
        assert passed.headers["location"] == f"{BASE}/dashboard"
        await password(browser, admin.email)

        page = await browser.get(f"{BASE}/signin/passkey")
        answer = json.loads(device.authenticate(options_of(page)))
        answer["response"]["signature"] = b64url(b"\x30\x06\x02\x01\x01\x02\x01\x01")
        replayed = device.authenticate(options_of(page))  # answered, never sent: spent below
        tries = [
            json.dumps(answer),  # a signature that does not hold
            None,  # a passkey of no one's (unknown credential)
            replayed,  # an answer to a challenge spent already
            None,  # a clone: a good signature, but its counter did not move on
        ]
        stranger = SoftAuthenticator(ORIGIN, RP_ID)
        for n, credential in enumerate(tries):
            page = await browser.get(f"{BASE}/signin/passkey")
            options = options_of(page)
            if credential is None:
                credential = (stranger if n == 1 else clone).authenticate(options)
            refused = await browser.post(f"{BASE}/signin/passkey", data={"credential": credential})
            assert refused.headers["location"] == f"{BASE}/signin/passkey", n
            shown = await browser.get(f"{BASE}/signin/passkey")
            assert shown.status_code == 422 and "did not prove who you are" in shown.text
        [(attempts,)] = rows(server, "SELECT max(code_attempts) FROM admin_sessions")
        assert attempts == len(tries)
        # the fifth wrong try ends the session, as a fifth wrong code does
        last = await browser.post(f"{BASE}/signin/passkey", data={"credential": replayed})
        assert last.headers["location"] == f"{BASE}/signin"
        assert "Too many wrong codes" in (await browser.get(f"{BASE}/signin")).text
    failed = rows(
        server,
        "SELECT count(*) FROM audit_events WHERE activity = 'gate' AND method = 'passkey' "
        "AND result = 'failure'",
    )
    assert failed == [(MAX_CODE_ATTEMPTS,)]
    [(count,)] = rows(server, "SELECT sign_count FROM admin_passkeys")
    assert count == 1  # the clone moved nothing


async def test_a_removed_passkey_and_a_new_set_up_link_end_passkeys(
    server: RunningServer, client: httpx.AsyncClient
) -> None:
    tenant = server.create_tenant("Acme")
    admin = await admin_of(server, client, tenant.tenant_id, "acme")
    first, second = SoftAuthenticator(ORIGIN, RP_ID), SoftAuthenticator(ORIGIN, RP_ID)
    await add(client, first, "Laptop")
    await add(client, second, "Key")
    info = await client.get(f"{BASE}/security")
    [(laptop,)] = rows(server, "SELECT id FROM admin_passkeys WHERE name = 'Laptop'")
    # removing one needs a fresh factor, as adding one does
    age_second_factor(server)
    asked = await client.post(
        f"{BASE}/security/passkeys/{laptop}/remove", data={"csrf": csrf(info)}
    )
    assert asked.headers["location"].startswith(f"{BASE}/confirm?next=")
    assert rows(server, "SELECT count(*) FROM admin_passkeys") == [(2,)]
    await confirm(client, admin)
    info = await client.get(f"{BASE}/security")
    removed = await client.post(
        f"{BASE}/security/passkeys/{laptop}/remove", data={"csrf": csrf(info)}
    )
    assert removed.headers["location"] == f"{BASE}/security"
    info = await client.get(f"{BASE}/security")
    assert "Laptop" not in info.text and "Key" in info.text and "is removed" in info.text
    async with httpx.AsyncClient(base_url=server.base_url) as browser:
        await password(browser, admin.email)
        page = await browser.get(f"{BASE}/signin/passkey")
        gone = await browser.post(
            f"{BASE}/signin/passkey", data={"credential": first.authenticate(options_of(page))}
        )
        assert gone.headers["location"] == f"{BASE}/signin/passkey"
        assert (await with_passkey(browser, second)).headers["location"] == f"{BASE}/dashboard"
    events = rows(server, "SELECT activity FROM audit_events WHERE activity LIKE 'admin_passkey%'")
    assert [e for (e,) in events].count("admin_passkey_added") == 2
    assert ("admin_passkey_removed",) in events

    # a lost device: another administrator's new set-up link takes the passkeys too
    async with httpx.AsyncClient(base_url=server.base_url) as other:
        await admin_of(server, other, tenant.tenant_id, "acme", "bea@acme.test")
        [(ada,)] = rows(server, "SELECT id FROM admins WHERE email = 'ada@acme.test'")
        listing = await other.get(f"{BASE}/admins")
        link = await other.post(f"{BASE}/admins/{ada}/setup-link", data={"csrf": csrf(listing)})
        assert link.status_code == 200, link.text
    assert rows(server, "SELECT count(*) FROM admin_passkeys") == [(0,)]


async def test_another_tenants_administrator_cannot_use_it(
    server: RunningServer, client: httpx.AsyncClient
) -> None:
    acme = server.create_tenant("Acme")
    globex = server.create_tenant("Globex")
    await admin_of(server, client, acme.tenant_id, "acme")
    device = SoftAuthenticator(ORIGIN, RP_ID)
    await add(client, device)
    async with httpx.AsyncClient(base_url=server.base_url) as browser:
        base = "/console/globex"
        other = await admin_of(server, browser, globex.tenant_id, "globex", "gus@globex.test")
        own = SoftAuthenticator(ORIGIN, RP_ID)
        assert (await add(browser, own, base=base)).headers["location"] == f"{base}/security"
        await password(browser, other.email, base)
        refused = await with_passkey(browser, device, base)
        assert refused.headers["location"] == f"{base}/signin/passkey"
        # and Acme's console knows no Globex session
        page = await browser.get(f"{BASE}/signin/passkey")
        assert page.headers["location"] == f"{BASE}/signin"


async def test_a_passkey_answers_confirm_it_is_you(
    server: RunningServer, client: httpx.AsyncClient
) -> None:
    tenant = server.create_tenant("Acme")
    await admin_of(server, client, tenant.tenant_id, "acme")
    device = SoftAuthenticator(ORIGIN, RP_ID)
    await add(client, device)
    age_second_factor(server)
    asked = await client.get(f"{BASE}/security/passkey")
    assert (
        asked.headers["location"]
        == f"{BASE}/confirm?next={quote(BASE + '/security/passkey', safe='')}"
    )
    page = await client.get(asked.headers["location"])
    assert "/confirm/passkey?next=" in page.text
    page = await client.get(f"{BASE}/confirm/passkey", params={"next": f"{BASE}/admins"})
    assert "script-src 'self'" in page.headers["content-security-policy"]
    wrong = await client.post(
        f"{BASE}/confirm/passkey",
        data={
            "credential": SoftAuthenticator(ORIGIN, RP_ID).authenticate(options_of(page)),
            "next": f"{BASE}/admins",
            "csrf": csrf(page),
        },
    )
    assert wrong.headers["location"].startswith(f"{BASE}/confirm/passkey?next=")
    page = await client.get(wrong.headers["location"])
    assert page.status_code == 422
    done = await client.post(
        f"{BASE}/confirm/passkey",
        data={
            "credential": device.authenticate(options_of(page)),
            "next": f"{BASE}/admins",
            "csrf": csrf(page),
        },
    )
    assert done.headers["location"] == f"{BASE}/admins"
    admins_page = await client.get(f"{BASE}/admins")
    assert 'id="code"' not in admins_page.text  # fresh: no code asked to invite


async def test_a_helpdesk_administrator_adds_their_own(
    server: RunningServer, client: httpx.AsyncClient
) -> None:
    tenant = server.create_tenant("Acme")
    hal = await admin_of(server, client, tenant.tenant_id, "acme", "hal@acme.test", Role.HELPDESK)
    device = SoftAuthenticator(ORIGIN, RP_ID)
    assert (await add(client, device)).headers["location"] == f"{BASE}/security"
    async with httpx.AsyncClient(base_url=server.base_url) as browser:
        await password(browser, hal.email)
        assert (await with_passkey(browser, device)).headers["location"] == f"{BASE}/people"


async def test_no_passkey_keeps_the_code_page_as_it_was(
    server: RunningServer, client: httpx.AsyncClient
) -> None:
    tenant = server.create_tenant("Acme")
    token = invite(server, tenant.tenant_id, "ada@acme.test")
    token_admin = await set_up(client, "acme", token, "ada@acme.test")
    await password(client, token_admin.email)
    code_page = await client.get(f"{BASE}/signin/code")
    assert "/signin/passkey" not in code_page.text
    none = await client.get(f"{BASE}/signin/passkey")
    assert none.headers["location"] == f"{BASE}/signin/code"
    assert "no passkey" in (await client.get(f"{BASE}/signin/code")).text
