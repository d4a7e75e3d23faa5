"""Unlock and require-change end to end, as an operator runs them (W3), and
the account's live state read back (the status operation) through the admin
API and on the console's person page.

Real Samba AD DC, the real server and agent processes (tests/support/deployment),
the admin API for both operations. Each outcome is proven in the directory
itself: the account's lockout state, ``pwdLastSet``, and what a bind answers.
Each state read is made in the directory itself and read back; nothing is
written by the read. The last test stops the agent.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import ldap3
import pytest

from tests.support.console import ADMIN_PASSWORD, SECRET, ConsoleAdmin
from tests.support.deployment import Deployment, Tenant
from tests.support.samba import SambaDC, TestUser

pytestmark = pytest.mark.samba

UNLOCK = "unlock"
REQUIRE_CHANGE = "require-password-change"
SLUG = "fabrikam"
STATE_BLOCK = re.compile(r'id="state-title".*?</section>', re.S)


@pytest.fixture(scope="module")
def deployment(samba_dc: SambaDC, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    d = Deployment(tmp_path_factory.mktemp("deployment"), samba_dc)
    try:
        d.start_server()
        yield d
    finally:
        d.stop()


@pytest.fixture(scope="module")
def tenant(deployment: Deployment) -> Tenant:
    return deployment.connected_tenant("Fabrikam", "agent-ops")


@pytest.fixture
def user(samba_dc: SambaDC, deployment: Deployment, tenant: Tenant) -> TestUser:
    u = samba_dc.create_user()
    deployment.sync(tenant, u.name)
    return u


def post(deployment: Deployment, tenant: Tenant, user: str, route: str, **body: Any) -> Any:
    with deployment.http(tenant.admin_token) as client:
        url = f"/api/v1/users/{user}/{route}"
        return client.post(url, json=body) if body else client.post(url)


def error(response: Any) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"}, body
    err: dict[str, Any] = body["error"]
    uuid.UUID(err["support_code"])  # E2
    return err


def agent_events(deployment: Deployment, request_id: str) -> list[int]:
    lines = deployment.agents[0].events.read_text().splitlines()
    return [e["id"] for e in map(json.loads, lines) if e.get("request_id") == request_id]


def bind_message(dc: SambaDC, user: TestUser) -> str:
    """The text of a refused simple bind as ``user`` with its password."""
    server = ldap3.Server(dc.ldaps_url, tls=dc.tls(), get_info=ldap3.NONE)
    conn = ldap3.Connection(server, user.dn, user.password, raise_exceptions=False)
    try:
        conn.open()
        assert not conn.bind()
        return str(conn.result["message"])
    finally:
        conn.unbind()


def pwd_last_set(dc: SambaDC, user: TestUser) -> int:
    return int(dc.read(user.dn, "pwdLastSet")["pwdLastSet"][0])  # type: ignore[call-overload]


def test_unlock_a_locked_out_account(
    deployment: Deployment, tenant: Tenant, samba_dc: SambaDC, user: TestUser
) -> None:
    samba_dc.lock_out(user)
    before = pwd_last_set(samba_dc, user)
    response = post(deployment, tenant, user.name, UNLOCK)  # no body at all
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["outcome"], body["message"]) == (
        "ok",
        "The account was unlocked in the directory. Its password did not change.",
    )
    assert not samba_dc.is_locked(user)
    assert samba_dc.can_bind(user.dn, user.password)  # the old password signs in again
    assert pwd_last_set(samba_dc, user) == before
    assert agent_events(deployment, body["request_id"]) == [31022, 31023]


def test_require_change_at_next_logon(
    deployment: Deployment, tenant: Tenant, samba_dc: SambaDC, user: TestUser
) -> None:
    response = post(deployment, tenant, user.name, REQUIRE_CHANGE)
    assert response.status_code == 200, response.text
    assert response.json()["outcome"] == "ok"
    assert pwd_last_set(samba_dc, user) == 0
    assert "data 773" in bind_message(samba_dc, user)  # must change the password
    assert agent_events(deployment, response.json()["request_id"]) == [31025, 31026]


@pytest.mark.parametrize("route", [UNLOCK, REQUIRE_CHANGE])
def test_a_retry_with_the_same_request_id_is_answered_without_harm(
    deployment: Deployment, tenant: Tenant, samba_dc: SambaDC, user: TestUser, route: str
) -> None:
    samba_dc.lock_out(user)
    request_id = str(uuid.uuid4())
    first = post(deployment, tenant, user.name, route, request_id=request_id)
    assert first.status_code == 200, first.text
    after_first = samba_dc.read(user.dn, "pwdLastSet", "lockoutTime")
    again = post(deployment, tenant, user.name, route, request_id=request_id)
    assert again.status_code == 200, again.text
    assert again.json()["request_id"] == request_id
    assert samba_dc.read(user.dn, "pwdLastSet", "lockoutTime") == after_first
    ids = agent_events(deployment, request_id)
    assert ids[:2] == ([31022, 31023] if route == UNLOCK else [31025, 31026])
    assert ids[2:] == [32003]  # answered from the journal, not applied again


@pytest.mark.parametrize("route", [UNLOCK, REQUIRE_CHANGE])
def test_a_protected_account_is_refused(
    deployment: Deployment, tenant: Tenant, samba_dc: SambaDC, route: str
) -> None:
    """W5: a Domain Admins member placed in the managed OU is never written."""
    admin = samba_dc.create_user(domain_admin=True)
    deployment.sync(tenant, admin.name)
    samba_dc.lock_out(admin)
    before = pwd_last_set(samba_dc, admin)
    response = post(deployment, tenant, admin.name, route)
    assert response.status_code == 409
    body = error(response)
    assert (body["code"], body["detail"]) == ("protected", {"reason": "protected-group"})
    assert samba_dc.is_locked(admin)
    assert pwd_last_set(samba_dc, admin) == before


def test_unlock_of_a_disabled_account_is_refused(
    deployment: Deployment, tenant: Tenant, samba_dc: SambaDC
) -> None:
    disabled = samba_dc.create_user(disabled=True)
    deployment.sync(tenant, disabled.name)
    response = post(deployment, tenant, disabled.name, UNLOCK)
    assert response.status_code == 409
    assert error(response)["code"] == "disabled"


@pytest.mark.parametrize("route", [UNLOCK, REQUIRE_CHANGE])
def test_an_unknown_user(deployment: Deployment, tenant: Tenant, route: str) -> None:
    response = post(deployment, tenant, "nobody-here", route)
    assert response.status_code == 404
    assert error(response)["code"] == "user_not_found"


# ---- the account's live state (the status operation), API and console page ----------


@pytest.fixture(scope="module")
def console(deployment: Deployment, tenant: Tenant) -> Iterator[httpx.Client]:
    """A signed-in console administrator's browser session."""
    linked = deployment.cli(
        "tenant",
        "admin-link",
        tenant.tenant_id,
        "--email",
        "ada@fabrikam.test",
        "--name",
        "Ada",
        "--data-dir",
        str(deployment.data),
    ).stdout
    found = re.search(r"set-up link:\s+(\S+)", linked)
    assert found is not None, linked
    with deployment.http() as client:
        page = client.get(found.group(1))
        secret = SECRET.search(page.text)
        assert secret is not None, page.text
        admin = ConsoleAdmin("ada@fabrikam.test", secret.group(1))
        fields = {"password": ADMIN_PASSWORD, "confirm": ADMIN_PASSWORD, "code": admin.code()}
        assert client.post(found.group(1), data=fields).status_code == 303
        signin = {"email": admin.email, "password": ADMIN_PASSWORD}
        assert client.post(f"/console/{SLUG}/signin", data=signin).status_code == 303
        code = client.post(f"/console/{SLUG}/signin/code", data={"code": admin.code()})
        assert code.status_code == 303, code.text
        yield client


def synced(deployment: Deployment, tenant: Tenant, user: TestUser) -> str:
    """The server's id of ``user``, once synced."""
    deployment.sync(tenant, user.name)
    with deployment.http(tenant.admin_token) as client:
        users = client.get("/api/v1/users").json()
    [found] = [u["id"] for u in users if u["sam_account_name"] == user.name]
    return str(found)


def account(deployment: Deployment, tenant: Tenant, user: str) -> Any:
    with deployment.http(tenant.admin_token) as client:
        response = client.get(f"/api/v1/users/{user}/account")
    assert response.status_code == 200, response.text
    return response.json()


def state_on_page(console: httpx.Client, user_id: str) -> str:
    page = console.get(f"/console/{SLUG}/people/{user_id}")
    assert page.status_code == 200, page.text
    found = STATE_BLOCK.search(page.text)
    assert found is not None, page.text
    return found.group(0)


def test_a_new_account(
    deployment: Deployment, tenant: Tenant, samba_dc: SambaDC, console: httpx.Client
) -> None:
    user = samba_dc.create_user()
    user_id = synced(deployment, tenant, user)
    before = samba_dc.read(user.dn, "pwdLastSet", "lockoutTime")
    state = account(deployment, tenant, user.name)
    assert (state["enabled"], state["locked"], state["must_change"]) == (True, False, False)
    set_at = dt.datetime.fromisoformat(state["password_set_at"])
    assert abs(set_at - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=10)
    assert state["protection"] is None
    shown = state_on_page(console, user_id)
    assert "Not locked out" in shown and "Not required" in shown
    assert f"{set_at:%B} {set_at.day}, {set_at.year}" in shown  # the page's long date
    assert samba_dc.read(user.dn, "pwdLastSet", "lockoutTime") == before  # nothing written


def test_locked_out_then_unlocked(
    deployment: Deployment, tenant: Tenant, samba_dc: SambaDC, console: httpx.Client
) -> None:
    user = samba_dc.create_user()
    user_id = synced(deployment, tenant, user)
    samba_dc.lock_out(user)
    assert account(deployment, tenant, user.name)["locked"] is True
    assert "Locked out</span>" in state_on_page(console, user_id)
    assert post(deployment, tenant, user.name, UNLOCK).status_code == 200
    assert account(deployment, tenant, user.name)["locked"] is False
    assert "Not locked out" in state_on_page(console, user_id)


def test_must_change_at_next_logon(
    deployment: Deployment, tenant: Tenant, samba_dc: SambaDC, console: httpx.Client
) -> None:
    user = samba_dc.create_user()
    user_id = synced(deployment, tenant, user)
    assert post(deployment, tenant, user.name, REQUIRE_CHANGE).status_code == 200
    state = account(deployment, tenant, user.name)
    assert (state["must_change"], state["password_set_at"]) == (True, None)
    assert "Must change the password" in state_on_page(console, user_id)


def test_a_disabled_account(
    deployment: Deployment, tenant: Tenant, samba_dc: SambaDC, console: httpx.Client
) -> None:
    user = samba_dc.create_user(disabled=True)
    user_id = synced(deployment, tenant, user)
    assert account(deployment, tenant, user.name)["enabled"] is False
    assert '<span class="bad">Disabled</span>' in state_on_page(console, user_id)


def test_a_protected_account_is_read(
    deployment: Deployment, tenant: Tenant, samba_dc: SambaDC
) -> None:
    user = samba_dc.create_user(domain_admin=True)
    synced(deployment, tenant, user)
    assert account(deployment, tenant, user.name)["protection"] == "protected-group"


def test_the_account_of_an_unknown_user(
    deployment: Deployment, tenant: Tenant, console: httpx.Client
) -> None:
    with deployment.http(tenant.admin_token) as client:
        response = client.get("/api/v1/users/nobody-here/account")
    assert (response.status_code, response.json()["error"]["code"]) == (404, "user_not_found")
    assert console.get(f"/console/{SLUG}/people/not-a-user").status_code == 404


def test_without_the_agent_the_page_says_why(
    deployment: Deployment, tenant: Tenant, samba_dc: SambaDC, console: httpx.Client
) -> None:
    """Last in the module: it stops the agent."""
    user = samba_dc.create_user()
    user_id = synced(deployment, tenant, user)
    deployment.agents[0].stop()
    deployment.wait_disconnected(tenant)
    page = console.get(f"/console/{SLUG}/people/{user_id}")
    assert page.status_code == 200 and user.name in page.text and "Recent activity" in page.text
    found = STATE_BLOCK.search(page.text)
    assert found is not None and "No agent is connected" in found.group(0)
    with deployment.http(tenant.admin_token) as client:
        response = client.get(f"/api/v1/users/{user.name}/account")
    assert (response.status_code, response.json()["error"]["code"]) == (503, "service_unavailable")
