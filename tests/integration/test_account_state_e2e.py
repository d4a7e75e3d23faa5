"""A user's live account state end to end: the real server and agent
processes and the real Samba AD DC, read through the admin API and shown on
the console's person page. Each state is made in the directory itself
(lockout by bad binds, the admin API's unlock and require-change, a
disabled account), then read back; nothing is written by the read.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.console import ADMIN_PASSWORD, SECRET, ConsoleAdmin
from tests.support.deployment import Deployment, Tenant
from tests.support.samba import SambaDC, TestUser

pytestmark = pytest.mark.samba

SLUG = "fabrikam-state"
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
    return deployment.connected_tenant("Fabrikam State", "agent-state")


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


def post(deployment: Deployment, tenant: Tenant, user: str, route: str) -> None:
    with deployment.http(tenant.admin_token) as client:
        response = client.post(f"/api/v1/users/{user}/{route}")
    assert response.status_code == 200, response.text


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
    post(deployment, tenant, user.name, "unlock")
    assert account(deployment, tenant, user.name)["locked"] is False
    assert "Not locked out" in state_on_page(console, user_id)


def test_must_change_at_next_logon(
    deployment: Deployment, tenant: Tenant, samba_dc: SambaDC, console: httpx.Client
) -> None:
    user = samba_dc.create_user()
    user_id = synced(deployment, tenant, user)
    post(deployment, tenant, user.name, "require-password-change")
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


def test_an_unknown_user(deployment: Deployment, tenant: Tenant, console: httpx.Client) -> None:
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
