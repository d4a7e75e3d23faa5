"""``/api/v1/admins``: the tenant's administrators through the API (SPEC U1),
with the tenant's own token and with an administrator's, as the console's
Administrators page does it: audited alike, the same refusals, G9 mails."""

from __future__ import annotations

import asyncio
import json
from urllib.parse import urlsplit

import httpx

from passback.server.console.roles import Role
from tests.support.console import ADMIN_PASSWORD, admin_of, make_token, set_up
from tests.support.portal import rows
from tests.support.server import RunningServer, assert_error, bearer
from tests.support.smtp import MailCatcher

LISTED = {"id", "email", "name", "role", "state", "created_at", "last_sign_in_at"}


def admin_id(server: RunningServer, email: str) -> str:
    [[found]] = rows(server, f"SELECT id FROM admins WHERE email = '{email}'")
    return str(found)


def changes(server: RunningServer, activity: str) -> list[dict[str, str]]:
    found = rows(server, f"SELECT detail_json FROM audit_events WHERE activity = '{activity}'")
    return [json.loads(str(detail)) for (detail,) in found]


async def test_invite_list_and_set_up_with_the_tenants_token(
    server: RunningServer, client: httpx.AsyncClient
) -> None:
    tenant = server.create_tenant("Acme")
    auth = bearer(tenant.admin_token)
    assert (await client.get("/api/v1/admins", headers=auth)).json() == []
    made = await client.post(
        "/api/v1/admins", headers=auth, json={"email": " Ada@Acme.test", "role": "tenant_admin"}
    )
    assert made.status_code == 201, made.text
    link = made.json()["setup_link"]
    assert link.startswith("https://sspr.acme.test/console/acme/setup/")  # the public URL
    [listed] = (await client.get("/api/v1/admins", headers=auth)).json()
    assert set(listed) == LISTED  # never a hash, a secret or the link
    assert listed["id"] == made.json()["admin_id"]
    assert (listed["email"], listed["name"], listed["role"], listed["state"]) == (
        "ada@acme.test",
        "Ada@Acme.test",  # the email as given, when no name is
        "tenant_admin",
        "invited",
    )
    token = urlsplit(link).path.rsplit("/", 1)[1]
    assert token not in str(rows(server, "SELECT * FROM admins"))  # only its hash
    assert (await client.get(urlsplit(link).path)).status_code == 200  # the set-up page
    await set_up(client, "acme", token, "ada@acme.test")
    [listed] = (await client.get("/api/v1/admins", headers=auth)).json()
    assert listed["state"] == "active"
    assert changes(server, "admin_invite") == [{"via": "api_token", "invited": listed["id"]}]

    again = await client.post(
        "/api/v1/admins", headers=auth, json={"email": "ada@acme.test", "role": "helpdesk"}
    )
    assert_error(again, 409, "admin_exists")
    bad = await client.post(
        "/api/v1/admins", headers=auth, json={"email": "ada", "name": "Ada", "role": "helpdesk"}
    )
    error = assert_error(bad, 422, "invalid_email")
    assert error["message"] == "Enter an email address, like name@example.com."
    assert error["detail"] == {"field": "email"}
    for body in (
        {"email": "hal@acme.test", "role": "operator"},
        {"email": "hal@acme.test"},
        {"email": "hal@acme.test", "role": "helpdesk", "password": "x"},
        {"email": "hal@acme.test", "role": "helpdesk", "name": "x" * 129},
    ):
        refused = await client.post("/api/v1/admins", headers=auth, json=body)
        assert_error(refused, 422, "validation_failed")
    assert len((await client.get("/api/v1/admins", headers=auth)).json()) == 1


async def test_disable_enable_and_a_new_setup_link_with_the_tenants_token(
    server: RunningServer, client: httpx.AsyncClient, mail: MailCatcher
) -> None:
    tenant = server.create_tenant("Acme")
    auth = bearer(tenant.admin_token)
    await admin_of(server, client, tenant.tenant_id, "acme")
    ada = admin_id(server, "ada@acme.test")
    async with httpx.AsyncClient(base_url=server.base_url) as hal_browser:
        hal_admin = await admin_of(
            server, hal_browser, tenant.tenant_id, "acme", "hal@acme.test", Role.HELPDESK
        )
        hal_token = await make_token(hal_browser, "hal's script")
    hal = admin_id(server, "hal@acme.test")
    users = "/api/v1/users"

    # The tenant's token is nobody's own, but ada is the last tenant administrator.
    for action in ("disable", "setup-link"):
        last = await client.post(f"/api/v1/admins/{ada}/{action}", headers=auth)
        error = assert_error(last, 409, "last_admin")
        assert error["message"] == (
            "This is the last active tenant administrator: invite another one first."
        )
    disabled = await client.post(f"/api/v1/admins/{hal}/disable", headers=auth)
    assert disabled.status_code == 204 and disabled.content == b""
    states = {
        a["email"]: a["state"] for a in (await client.get("/api/v1/admins", headers=auth)).json()
    }
    assert states == {"ada@acme.test": "active", "hal@acme.test": "disabled"}
    assert (await client.get(users, headers=bearer(hal_token))).status_code == 401
    assert (await client.post(f"/api/v1/admins/{hal}/enable", headers=auth)).status_code == 204
    assert (await client.get(users, headers=bearer(hal_token))).status_code == 200

    made = await client.post(f"/api/v1/admins/{hal}/setup-link", headers=auth)
    assert made.status_code == 200, made.text
    assert made.json()["admin_id"] == hal
    path = urlsplit(made.json()["setup_link"]).path
    # A lost device: hal's tokens are revoked for good; the old password is gone.
    assert (await client.get(users, headers=bearer(hal_token))).status_code == 401
    async with httpx.AsyncClient(base_url=server.base_url) as hal_browser:
        old = await hal_browser.post(
            "/console/acme/signin", data={"email": "hal@acme.test", "password": ADMIN_PASSWORD}
        )
        assert old.headers["location"] == "/console/acme/signin"
        again = await set_up(hal_browser, "acme", path.rsplit("/", 1)[1], "hal@acme.test")
        assert again.secret != hal_admin.secret
    told = await asyncio.to_thread(mail.wait_for, "ada@acme.test")
    content = told.get_content()
    assert "hal@acme.test" in content and "with your organisation's own token" in content

    missing = await client.post("/api/v1/admins/no-such-admin/disable", headers=auth)
    assert_error(missing, 404, "admin_not_found")
    for action in ("disable", "enable", "setup-link"):
        assert (await client.post(f"/api/v1/admins/{hal}/{action}")).status_code == 401
    assert changes(server, "admin_change") == [
        {"via": "api_token", "changed": hal, "action": action}
        for action in ("disable", "enable", "setup-link")
    ]


async def test_an_administrators_token_acts_as_they_do_in_the_console(
    server: RunningServer, client: httpx.AsyncClient, mail: MailCatcher
) -> None:
    tenant = server.create_tenant("Acme")
    await admin_of(server, client, tenant.tenant_id, "acme")
    ada = admin_id(server, "ada@acme.test")
    auth = bearer(await make_token(client, "ada's script"))
    made = await client.post(
        "/api/v1/admins",
        headers=auth,
        json={"email": "bob@acme.test", "name": "Bob", "role": "tenant_admin"},
    )
    assert made.status_code == 201, made.text
    bob = made.json()["admin_id"]
    assert changes(server, "admin_invite") == [{"admin": ada, "invited": bob}]
    # bob is not set up yet: ada is still the last active one, and her own.
    for action in ("disable", "setup-link"):
        own = await client.post(f"/api/v1/admins/{ada}/{action}", headers=auth)
        assert_error(own, 409, "own_account")
    async with httpx.AsyncClient(base_url=server.base_url) as bob_browser:
        token = urlsplit(made.json()["setup_link"]).path.rsplit("/", 1)[1]
        await set_up(bob_browser, "acme", token, "bob@acme.test")
    renewed = await client.post(f"/api/v1/admins/{bob}/setup-link", headers=auth)
    assert renewed.status_code == 200, renewed.text
    told = await asyncio.to_thread(mail.wait_for, "ada@acme.test")
    assert "by another administrator" in told.get_content()
    assert changes(server, "admin_change") == [
        {"admin": ada, "changed": bob, "action": "setup-link"}
    ]


async def test_only_a_tenant_administrator_manages_administrators(
    server: RunningServer, client: httpx.AsyncClient
) -> None:
    tenant = server.create_tenant("Acme")
    await admin_of(server, client, tenant.tenant_id, "acme")
    ada = admin_id(server, "ada@acme.test")
    for email, role in (("hal@acme.test", Role.HELPDESK), ("rae@acme.test", Role.REPORTS)):
        async with httpx.AsyncClient(base_url=server.base_url) as browser:
            await admin_of(server, browser, tenant.tenant_id, "acme", email, role)
            auth = bearer(await make_token(browser, email))
        for method, path in (
            ("GET", "/api/v1/admins"),
            ("POST", "/api/v1/admins"),
            ("POST", f"/api/v1/admins/{ada}/disable"),
            ("POST", f"/api/v1/admins/{ada}/enable"),
            ("POST", f"/api/v1/admins/{ada}/setup-link"),
        ):
            body = {"email": "eve@acme.test", "role": "tenant_admin"} if method == "POST" else None
            refused = await client.request(method, path, headers=auth, json=body)
            assert_error(refused, 403, "forbidden")
    assert rows(server, "SELECT count(*) FROM admins WHERE email = 'eve@acme.test'") == [(0,)]
    assert changes(server, "admin_change") == []


async def test_another_tenant_sees_and_changes_none_of_them(
    server: RunningServer, client: httpx.AsyncClient
) -> None:
    tenant = server.create_tenant("Acme")
    await admin_of(server, client, tenant.tenant_id, "acme")
    await client.post(
        "/api/v1/admins",
        headers=bearer(tenant.admin_token),
        json={"email": "hal@acme.test", "role": "helpdesk"},
    )
    hal = admin_id(server, "hal@acme.test")
    other = bearer(server.create_tenant("Globex").admin_token)
    assert (await client.get("/api/v1/admins", headers=other)).json() == []
    for action in ("disable", "enable", "setup-link"):
        refused = await client.post(f"/api/v1/admins/{hal}/{action}", headers=other)
        assert_error(refused, 404, "admin_not_found")
    # The same email in another tenant is another administrator.
    made = await client.post(
        "/api/v1/admins", headers=other, json={"email": "hal@acme.test", "role": "helpdesk"}
    )
    assert made.status_code == 201 and made.json()["admin_id"] != hal
    assert "/console/globex/setup/" in made.json()["setup_link"]
    assert changes(server, "admin_change") == []
