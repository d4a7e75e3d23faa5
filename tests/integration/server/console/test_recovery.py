"""An administrator resets their own console password (SPEC U1, G7, G9, T2):
a code by email and the authenticator's, never one alone; an unknown address
is answered alike; every administrator is told."""

from __future__ import annotations

import asyncio

import httpx

from passback.server.console.recovery import MAX_RESET_MAILS, WRONG_TRIES
from tests.support.console import admin_of, sign_in
from tests.support.portal import from_address, rows
from tests.support.server import RunningServer
from tests.support.smtp import MailCatcher

BASE = "/console/acme"
NEW = "Brand-new-Adm1n-Pass-42"


async def test_both_codes_then_a_new_password_and_everyone_is_told(
    server: RunningServer, client: httpx.AsyncClient, mail: MailCatcher
) -> None:
    tenant = server.create_tenant("Acme")
    # Ada works in Portuguese: she is told in it (G9), whoever's reset it is.
    client.headers["Accept-Language"] = "pt-BR"
    ada = await admin_of(server, client, tenant.tenant_id, "acme")
    assert rows(server, "SELECT language FROM admins WHERE email = 'ada@acme.test'") == [("pt_BR",)]
    async with httpx.AsyncClient(base_url=server.base_url) as hal_browser:
        hal = await admin_of(server, hal_browser, tenant.tenant_id, "acme", "hal@acme.test")
        async with httpx.AsyncClient(base_url=server.base_url) as lost:
            sent = await lost.post(f"{BASE}/forgot", data={"email": "hal@acme.test"})
            assert sent.headers["location"] == f"{BASE}/forgot/code"
            code = await asyncio.to_thread(mail.code_for, "hal@acme.test")
            # The emailed code alone is not enough (G7: two gates), nor with
            # another administrator's authenticator.
            for app_code in ("000000", ada.code()):
                refused = await lost.post(
                    f"{BASE}/forgot/code", data={"code": code, "app_code": app_code}
                )
                shown = await lost.get(refused.headers["location"])
                assert "At least one code is not right" in shown.text
            both = await lost.post(
                f"{BASE}/forgot/code", data={"code": code, "app_code": hal.code()}
            )
            assert both.headers["location"] == f"{BASE}/forgot/password", both.text
            short = await lost.post(
                f"{BASE}/forgot/password", data={"password": "short", "confirm": "short"}
            )
            assert "at least 12" in (await lost.get(short.headers["location"])).text
            done = await lost.post(
                f"{BASE}/forgot/password", data={"password": NEW, "confirm": NEW}
            )
            assert done.headers["location"] == f"{BASE}/signin"
            signed = await lost.post(
                f"{BASE}/signin", data={"email": "hal@acme.test", "password": NEW}
            )
            assert signed.headers["location"] == f"{BASE}/signin/code"
        # Every session of hal's ended.
        assert (await hal_browser.get(f"{BASE}/dashboard")).status_code == 303
    for told_to, subject in (
        ("ada@acme.test", "A senha do console de um administrador foi redefinida"),
        ("hal@acme.test", "An administrator's console password was reset"),
    ):
        told = await asyncio.to_thread(
            mail.wait_for, told_to, 2 if told_to.startswith("hal") else 1
        )
        assert told["Subject"] == subject
        assert "hal@acme.test" in told.get_content() and NEW not in told.get_content()
    events = rows(
        server, "SELECT count(*) FROM audit_events WHERE activity = 'admin_password_reset'"
    )
    assert events == [(1,)]


async def test_an_unknown_address_is_answered_alike(
    server: RunningServer, client: httpx.AsyncClient, mail: MailCatcher
) -> None:
    server.create_tenant("Acme")
    sent = await client.post(f"{BASE}/forgot", data={"email": "nobody@acme.test"})
    assert sent.headers["location"] == f"{BASE}/forgot/code"
    page = await client.get(f"{BASE}/forgot/code")
    assert page.status_code == 200 and "If the address belongs to an administrator" in page.text
    tried = await client.post(f"{BASE}/forgot/code", data={"code": "12345678", "app_code": "1"})
    assert "At least one code is not right" in (await client.get(tried.headers["location"])).text
    assert mail.to("nobody@acme.test") == []


async def test_mails_are_capped_per_administrator_and_address(
    server: RunningServer, client: httpx.AsyncClient, mail: MailCatcher
) -> None:
    tenant = server.create_tenant("Acme")
    ada = await admin_of(server, client, tenant.tenant_id, "acme")
    for _ in range(MAX_RESET_MAILS + 1):
        await client.post(f"{BASE}/forgot", data={"email": ada.email})
    await asyncio.to_thread(mail.wait_for, ada.email, MAX_RESET_MAILS)
    await asyncio.sleep(0.5)
    assert len(mail.to(ada.email)) == MAX_RESET_MAILS
    # The administrator still signs in as before.
    assert (await sign_in(client, "acme", ada)).headers["location"] == f"{BASE}/dashboard"


async def test_strangers_from_many_addresses_never_use_up_the_administrators_mails(
    server: RunningServer, client: httpx.AsyncClient, mail: MailCatcher
) -> None:
    """3 an hour per address, none shared: whatever strangers ask for from
    other addresses, the administrator's own new browser still gets its mail."""
    tenant = server.create_tenant("Acme")
    ada = await admin_of(server, client, tenant.tenant_id, "acme")
    for n in range(2):
        async with from_address(server, f"127.0.0.{20 + n}") as stranger:
            for _ in range(MAX_RESET_MAILS + 1):
                await stranger.post(f"{BASE}/forgot", data={"email": ada.email})
    sent = 2 * MAX_RESET_MAILS
    await asyncio.to_thread(mail.wait_for, ada.email, sent)
    async with from_address(server, "127.0.0.30") as own_new_browser:
        await own_new_browser.post(f"{BASE}/forgot", data={"email": ada.email})
    await asyncio.to_thread(mail.wait_for, ada.email, sent + 1)


async def test_a_known_and_an_unknown_email_end_alike_after_wrong_codes(
    server: RunningServer, client: httpx.AsyncClient, mail: MailCatcher
) -> None:
    """T2: the same answers, in the same order, whoever's the email; and a
    stranger's wrong codes do not stop the administrator's sign-in."""
    tenant = server.create_tenant("Acme")
    ada = await admin_of(server, client, tenant.tenant_id, "acme")
    answers = {}
    for email in (ada.email, "nobody@acme.test"):
        async with httpx.AsyncClient(base_url=server.base_url) as stranger:
            await stranger.post(f"{BASE}/forgot", data={"email": email})
            seen = []
            for _ in range(WRONG_TRIES + 2):
                sent = await stranger.post(
                    f"{BASE}/forgot/code", data={"code": "00000000", "app_code": "000000"}
                )
                shown = await stranger.get(sent.headers["location"])
                seen.append((sent.headers["location"], shown.status_code))
            answers[email] = seen
    assert answers[ada.email] == answers["nobody@acme.test"]
    assert answers[ada.email][-1][0] == f"{BASE}/forgot"  # ended
    assert (await sign_in(client, "acme", ada)).headers["location"] == f"{BASE}/dashboard"
