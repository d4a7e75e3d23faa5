"""The console's way in against the real server (SPEC U1, G7, T2, S7): the
one-time set-up link, sign-in with a password and an authenticator code,
the session cookie, sign-out, the throttles, and the dashboard."""

from __future__ import annotations

import re

import httpx
import sqlalchemy as sa

from passback.server.console.roles import Role
from passback.server.console.service import MAX_ACCOUNT_FAILURES, MAX_CODE_FAILURES
from passback.server.console.sessions import MAX_CODE_ATTEMPTS
from passback.server.services import RECORDS_PER_ADDRESS
from tests.support.console import (
    ADMIN_PASSWORD,
    SECRET,
    ConsoleAdmin,
    admin_of,
    csrf,
    invite,
    set_up,
    sign_in,
)
from tests.support.portal import portal_tenant, rows
from tests.support.server import AgentFactory, RunningServer

BASE = "/console/acme"


async def test_set_up_link_sets_a_password_and_an_authenticator_once(
    server: RunningServer, client: httpx.AsyncClient
) -> None:
    tenant = server.create_tenant("Acme")
    token = invite(server, tenant.tenant_id, "ada@acme.test")
    page = await client.get(f"{BASE}/setup/{token}")
    assert page.status_code == 200
    assert "<svg" in page.text and "ada@acme.test" in page.text
    secret = SECRET.search(page.text)
    assert secret is not None
    admin = ConsoleAdmin("ada@acme.test", secret.group(1))

    short = await client.post(
        f"{BASE}/setup/{token}", data={"password": "short", "confirm": "short", "code": "1"}
    )
    assert (short.status_code, short.headers["location"]) == (303, f"{BASE}/setup/{token}")
    shown = await client.get(f"{BASE}/setup/{token}")
    assert shown.status_code == 422 and "at least 12 characters" in shown.text
    common = await client.post(
        f"{BASE}/setup/{token}",
        data={"password": "Password123!", "confirm": "Password123!", "code": admin.code()},
    )
    assert "too easy to guess" in (await client.get(common.headers["location"])).text
    wrong = await client.post(
        f"{BASE}/setup/{token}",
        data={"password": ADMIN_PASSWORD, "confirm": ADMIN_PASSWORD, "code": "000000"},
    )
    assert "code is not right" in (await client.get(wrong.headers["location"])).text

    await set_up(client, "acme", token, "ada@acme.test")
    again = await client.get(f"{BASE}/setup/{token}")
    assert again.status_code == 404 and "does not work" in again.text
    [stored] = rows(server, "SELECT credential_hash, totp_wrapped, setup_hash FROM admins")
    assert str(stored[0]).startswith("$argon2id$") and ADMIN_PASSWORD not in str(stored)
    assert secret.group(1) not in str(stored[1]) and stored[2] is None


async def test_sign_in_takes_both_gates_and_a_strict_cookie(
    server: RunningServer, client: httpx.AsyncClient
) -> None:
    """G7: a password and an authenticator code, always."""
    tenant = server.create_tenant("Acme")
    token = invite(server, tenant.tenant_id, "ada@acme.test")
    admin = await set_up(client, "acme", token, "ada@acme.test")
    first = await client.post(
        f"{BASE}/signin", data={"email": "ADA@acme.test ", "password": ADMIN_PASSWORD}
    )
    assert first.headers["location"] == f"{BASE}/signin/code"
    cookie = first.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and f"path={BASE}/" in cookie
    # Half-way (password only), nothing of the console opens.
    blocked = await client.get(f"{BASE}/dashboard", follow_redirects=False)
    assert blocked.headers["location"] == f"{BASE}/signin"
    wrong = await client.post(f"{BASE}/signin/code", data={"code": "000000"})
    assert wrong.headers["location"] == f"{BASE}/signin/code"
    right = await client.post(f"{BASE}/signin/code", data={"code": admin.code()})
    assert right.headers["location"] == f"{BASE}/dashboard"
    dashboard = await client.get(f"{BASE}/dashboard")
    assert dashboard.status_code == 200
    assert "Content-Security-Policy" in dashboard.headers
    assert "frame-ancestors 'none'" in dashboard.headers["Content-Security-Policy"]
    assert "<svg" in dashboard.text

    out = await client.post(f"{BASE}/signout", data={"csrf": csrf(dashboard)})
    assert out.headers["location"] == f"{BASE}/signin"
    gone = await client.get(f"{BASE}/dashboard")
    assert gone.headers["location"] == f"{BASE}/signin"
    events = rows(server, "SELECT activity, result, method FROM audit_events ORDER BY at")
    assert [tuple(e) for e in events] == [
        ("admin_setup", "success", None),
        ("gate", "failure", "totp"),
        ("gate", "success", "totp"),
        ("sign_in", "success", None),
    ]


async def test_a_code_is_taken_once(server: RunningServer, client: httpx.AsyncClient) -> None:
    tenant = server.create_tenant("Acme")
    admin = await set_up(
        client, "acme", invite(server, tenant.tenant_id, "ada@acme.test"), "ada@acme.test"
    )
    code = admin.code()
    for expected in (f"{BASE}/dashboard", f"{BASE}/signin/code"):
        await client.post(f"{BASE}/signin", data={"email": admin.email, "password": ADMIN_PASSWORD})
        used = await client.post(f"{BASE}/signin/code", data={"code": code})
        assert used.headers["location"] == expected


async def test_unknown_email_and_wrong_password_answer_alike(
    server: RunningServer, client: httpx.AsyncClient
) -> None:
    """T2: the same words; past the limit, throttled for strangers only."""
    tenant = server.create_tenant("Acme")
    admin = await admin_of(server, client, tenant.tenant_id, "acme")
    async with httpx.AsyncClient(base_url=server.base_url) as stranger:
        texts = set()
        for email in ("nobody@acme.test", admin.email):
            sent = await stranger.post(
                f"{BASE}/signin", data={"email": email, "password": "Wrong-password-1"}
            )
            texts.add((await stranger.get(sent.headers["location"])).text)
        assert len(texts) == 1 and "is not right" in texts.pop()
        for _ in range(MAX_ACCOUNT_FAILURES):
            await stranger.post(
                f"{BASE}/signin", data={"email": admin.email, "password": "Wrong-password-1"}
            )
        throttled = await stranger.post(
            f"{BASE}/signin", data={"email": admin.email, "password": ADMIN_PASSWORD}
        )
        assert throttled.headers["location"] == f"{BASE}/signin"
    # The administrator's own browser (it completed a sign-in) keeps its way in.
    signed = await sign_in(client, "acme", admin)
    assert signed.headers["location"] == f"{BASE}/dashboard"


async def test_wrong_codes_end_the_half_session(
    server: RunningServer, client: httpx.AsyncClient
) -> None:
    tenant = server.create_tenant("Acme")
    admin = await set_up(
        client, "acme", invite(server, tenant.tenant_id, "ada@acme.test"), "ada@acme.test"
    )
    await client.post(f"{BASE}/signin", data={"email": admin.email, "password": ADMIN_PASSWORD})
    for _ in range(MAX_CODE_ATTEMPTS):
        last = await client.post(f"{BASE}/signin/code", data={"code": "000000"})
    assert last.headers["location"] == f"{BASE}/signin"
    late = await client.post(f"{BASE}/signin/code", data={"code": admin.code()})
    assert late.headers["location"] == f"{BASE}/signin"


async def test_a_session_opens_only_its_own_tenant(
    server: RunningServer, client: httpx.AsyncClient
) -> None:
    acme = server.create_tenant("Acme")
    server.create_tenant("Globex")
    await admin_of(server, client, acme.tenant_id, "acme")
    other = await client.get("/console/globex/dashboard", follow_redirects=False)
    assert other.headers["location"] == "/console/globex/signin"
    assert (await client.get("/console/nowhere/signin")).status_code == 404


async def test_roles_land_on_their_own_section(
    server: RunningServer, client: httpx.AsyncClient
) -> None:
    tenant = server.create_tenant("Acme")
    await admin_of(server, client, tenant.tenant_id, "acme", "help@acme.test", Role.HELPDESK)
    assert (await client.get(f"{BASE}/dashboard")).status_code == 403
    home = await client.get(f"{BASE}/", follow_redirects=False)
    assert home.headers["location"] == f"{BASE}/people"


async def test_dashboard_shows_the_agents(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory
) -> None:
    async with portal_tenant(server, client, make_agent) as (tenant, _agent):
        await admin_of(server, client, tenant.tenant_id, "acme")
        page = await client.get(f"{BASE}/dashboard")
        assert "Connected" in page.text
        assert "0 of 1 enabled users" in page.text
        lang = await client.get(f"{BASE}/dashboard?lang=pt-BR")
        assert lang.headers["content-language"] == "pt-BR"


async def test_the_session_gets_a_new_token_at_the_second_factor(
    server: RunningServer, client: httpx.AsyncClient
) -> None:
    tenant = server.create_tenant("Acme")
    admin = await set_up(
        client, "acme", invite(server, tenant.tenant_id, "ada@acme.test"), "ada@acme.test"
    )
    await client.post(f"{BASE}/signin", data={"email": admin.email, "password": ADMIN_PASSWORD})
    half = client.cookies["passback_console"]
    await client.post(f"{BASE}/signin/code", data={"code": admin.code()})
    assert client.cookies["passback_console"] != half
    async with httpx.AsyncClient(
        base_url=server.base_url, cookies={"passback_console": half}
    ) as stale:
        assert (await stale.get(f"{BASE}/dashboard")).status_code == 303


async def test_wrong_codes_count_per_administrator_across_sessions(
    server: RunningServer, client: httpx.AsyncClient
) -> None:
    """Knowing the password, a stranger still cannot guess the code by opening
    session after session; the administrator's own browser keeps its way in."""
    tenant = server.create_tenant("Acme")
    admin = await admin_of(server, client, tenant.tenant_id, "acme")
    async with httpx.AsyncClient(base_url=server.base_url) as stranger:
        for _ in range(MAX_CODE_FAILURES // MAX_CODE_ATTEMPTS):
            await stranger.post(
                f"{BASE}/signin", data={"email": admin.email, "password": ADMIN_PASSWORD}
            )
            for _ in range(MAX_CODE_ATTEMPTS):
                await stranger.post(f"{BASE}/signin/code", data={"code": "000000"})
        await stranger.post(
            f"{BASE}/signin", data={"email": admin.email, "password": ADMIN_PASSWORD}
        )
        refused = await stranger.post(f"{BASE}/signin/code", data={"code": "123456"})
        shown = await stranger.get(refused.headers["location"])
        assert shown.status_code == 429 and "Too many wrong codes for this" in shown.text
    signed = await sign_in(client, "acme", admin)
    assert signed.headers["location"] == f"{BASE}/dashboard"


async def test_a_disabled_administrator_is_signed_out(
    server: RunningServer, client: httpx.AsyncClient
) -> None:
    tenant = server.create_tenant("Acme")
    await admin_of(server, client, tenant.tenant_id, "acme")
    engine = sa.create_engine(server.database_url)
    with engine.begin() as db:
        db.execute(sa.text("UPDATE admins SET disabled_at = created_at"))
    engine.dispose()
    gone = await client.get(f"{BASE}/dashboard")
    assert gone.headers["location"] == f"{BASE}/signin"
    assert rows(server, "SELECT count(*) FROM admin_sessions") == [(0,)]


async def test_an_error_page_gives_a_support_code_that_support_finds(
    server: RunningServer, client: httpx.AsyncClient
) -> None:
    """E2: a console page that cannot be shown says why, with a support code;
    a set-up link's secret is not kept in the record."""
    tenant = server.create_tenant("Acme")
    await admin_of(server, client, tenant.tenant_id, "acme", "hal@acme.test", Role.HELPDESK)
    refused = await client.get(f"{BASE}/dashboard")
    code = re.search(r"<code>([0-9a-f-]{36})</code>", refused.text)
    assert refused.status_code == 403 and code is not None
    found = await client.get(f"{BASE}/support", params={"code": code.group(1)})
    assert "forbidden" in found.text and "/console/acme/dashboard" in found.text
    gone = await client.get(f"{BASE}/setup/secret-token-value")
    assert gone.status_code == 404
    paths = [str(p) for (p,) in rows(server, "SELECT path FROM support_records")]
    assert "/console/acme/setup/…" in paths
    assert not any("secret-token-value" in p for p in paths)


async def test_failing_console_pages_make_records_within_the_address_budget(
    server: RunningServer, client: httpx.AsyncClient
) -> None:
    """Anyone can ask for a console page that fails (a tenant that does not
    exist): the support records it makes the server keep are bounded."""
    for _ in range(RECORDS_PER_ADDRESS + 5):
        page = await client.get("/console/nobody-here/signin")
        assert page.status_code == 404
    [(kept,)] = rows(server, "SELECT count(*) FROM support_records")
    assert kept == RECORDS_PER_ADDRESS
    assert "Support code" not in page.text
