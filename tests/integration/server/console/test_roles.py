"""Every console route with every role and with another tenant's session
(SPEC U1): a role reaches what its permissions grant and gets 403 elsewhere;
another tenant's administrator reaches nothing of this one. The table below
must name every console route, so a new page cannot skip the walk."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from passback.server.console.roles import GRANTS, Permission, Role
from passback.server.console.web import SESSION_COOKIE
from tests.support.console import admin_of, csrf
from tests.support.routes import routes
from tests.support.server import RunningServer

BASE = "/console/acme"
#: Not signed in: set-up, sign-in, an administrator's own reset.
PUBLIC = {
    "GET /console/{slug}/setup/{token}",
    "POST /console/{slug}/setup/{token}",
    "GET /console/{slug}/signin",
    "POST /console/{slug}/signin",
    "GET /console/{slug}/signin/code",
    "POST /console/{slug}/signin/code",
    "GET /console/{slug}/signin/passkey",
    "POST /console/{slug}/signin/passkey",
    "GET /console/{slug}/forgot",
    "POST /console/{slug}/forgot",
    "GET /console/{slug}/forgot/code",
    "POST /console/{slug}/forgot/code",
    "GET /console/{slug}/forgot/password",
    "POST /console/{slug}/forgot/password",
}
#: Any signed-in administrator: their own session and sign-in methods.
ANY = {
    "GET /console/{slug}/",
    "GET /console/{slug}/confirm",
    "POST /console/{slug}/confirm",
    "GET /console/{slug}/confirm/passkey",
    "POST /console/{slug}/confirm/passkey",
    "GET /console/{slug}/security",
    "GET /console/{slug}/security/passkey",
    "POST /console/{slug}/security/passkey",
    "POST /console/{slug}/security/passkeys/{passkey_id}/remove",
    "POST /console/{slug}/signout",
}
NEEDS = {
    "GET /console/{slug}/dashboard": Permission.DASHBOARD,
    "GET /console/{slug}/people": Permission.PEOPLE,
    "GET /console/{slug}/people/{user_id}": Permission.PEOPLE,
    "POST /console/{slug}/people/{user_id}/reset": Permission.ACT_ON_PEOPLE,
    "POST /console/{slug}/people/{user_id}/unlock": Permission.ACT_ON_PEOPLE,
    "POST /console/{slug}/people/{user_id}/require-change": Permission.ACT_ON_PEOPLE,
    "POST /console/{slug}/people/{user_id}/lift-blocks": Permission.ACT_ON_PEOPLE,
    "POST /console/{slug}/people/{user_id}/assignment": Permission.ASSIGN,
    "GET /console/{slug}/agents": Permission.AGENTS,
    "POST /console/{slug}/agents/onboarding-token": Permission.AGENTS,
    "POST /console/{slug}/agents/{agent_id}/revoke": Permission.AGENTS,
    "GET /console/{slug}/reports": Permission.REPORTS,
    "GET /console/{slug}/reports.csv": Permission.REPORTS,
    "GET /console/{slug}/support": Permission.SUPPORT,
    "GET /console/{slug}/policy": Permission.POLICY,
    "POST /console/{slug}/policy": Permission.POLICY,
    "GET /console/{slug}/admins": Permission.ADMINS,
    "POST /console/{slug}/admins": Permission.ADMINS,
    "POST /console/{slug}/admins/{admin_id}/{action}": Permission.ADMINS,
    "GET /console/{slug}/tokens": Permission.TOKENS,
    "POST /console/{slug}/tokens": Permission.TOKENS,
    "POST /console/{slug}/tokens/{token_id}/revoke": Permission.TOKENS,
}


def url(route: str) -> tuple[str, str]:
    """The method and a concrete path of ``route`` (ids that match nothing)."""
    method, path = route.split(" ", 1)
    for name, value in (
        ("{slug}", "acme"),
        ("{user_id}", "no-such-user"),
        ("{agent_id}", "no-such-agent"),
        ("{admin_id}", "no-such-admin"),
        ("{action}", "disable"),
        ("{token_id}", "no-such-token"),
        ("{passkey_id}", "no-such-passkey"),
    ):
        path = path.replace(name, value)
    return method, path


def test_the_table_names_every_console_route(tmp_path: Path) -> None:
    console = {r for r in routes(tmp_path) if " /console/" in r and not r.startswith("HEAD")}
    assert console == PUBLIC | ANY | set(NEEDS)


@pytest.mark.parametrize("role", list(Role))
async def test_each_role_reaches_what_it_is_granted_and_nothing_else(
    server: RunningServer, role: Role
) -> None:
    tenant = server.create_tenant("Acme")
    async with httpx.AsyncClient(base_url=server.base_url) as client:
        await admin_of(server, client, tenant.tenant_id, "acme", "ada@acme.test", role)
        token = csrf(await client.get(f"{BASE}/security"))
        walked = [
            *NEEDS.items(),
            *((r, None) for r in sorted(ANY - {"POST /console/{slug}/signout"})),
        ]
        refused = 0
        for route, needed in walked:
            method, path = url(route)
            answer = await client.request(
                method, path, data={"csrf": token} if method == "POST" else None
            )
            where = answer.headers.get("location", "")
            assert not where.endswith("/signin"), (role, route, answer.status_code)
            if needed is None or needed in GRANTS[role]:
                assert answer.status_code != 403, (role, route)
            else:
                assert answer.status_code == 403, (role, route, answer.status_code)
                refused += 1
        assert refused == sum(p not in GRANTS[role] for p in NEEDS.values())
        assert refused > 0 or role is Role.TENANT_ADMIN


async def test_another_tenants_session_reaches_nothing_here(server: RunningServer) -> None:
    acme = server.create_tenant("Acme")
    globex = server.create_tenant("Globex")
    async with httpx.AsyncClient(base_url=server.base_url) as ada:
        await admin_of(server, ada, acme.tenant_id, "acme", "ada@acme.test")
    async with httpx.AsyncClient(base_url=server.base_url) as gil:
        await admin_of(server, gil, globex.tenant_id, "globex", "gil@globex.test")
        session = gil.cookies.get(SESSION_COOKIE, path="/console/globex/")
        assert session
        token = csrf(await gil.get("/console/globex/security"))
    async with httpx.AsyncClient(
        base_url=server.base_url, headers={"Cookie": f"{SESSION_COOKIE}={session}"}
    ) as stolen:
        for route in sorted(ANY | set(NEEDS)):
            method, path = url(route)
            answer = await stolen.request(
                method, path, data={"csrf": token} if method == "POST" else None
            )
            assert answer.status_code in (303, 401), (route, answer.status_code)
            if answer.status_code == 303:
                assert answer.headers["location"].endswith(f"{BASE}/signin"), route
