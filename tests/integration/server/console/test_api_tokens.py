"""Administrators' own API tokens (SPEC U1): made in the console and shown
once, acting with the administrator's role, listed with their last use, and
revocable; the tenant's bootstrap token stays for automation."""

from __future__ import annotations

import httpx
import sqlalchemy as sa

from passback.server.console.roles import Role
from tests.support.console import admin_of, csrf, make_token
from tests.support.portal import execute, rows
from tests.support.server import RunningServer, bearer

BASE = "/console/acme"


async def test_a_helpdesk_token_acts_with_the_helpdesk_role(
    server: RunningServer, client: httpx.AsyncClient
) -> None:
    tenant = server.create_tenant("Acme")
    await admin_of(server, client, tenant.tenant_id, "acme", "hal@acme.test", Role.HELPDESK)
    token = await make_token(client, "HR script")
    assert token not in (await client.get(f"{BASE}/tokens")).text  # shown once
    users = await client.get("/api/v1/users", headers=bearer(token))
    assert users.status_code == 200
    for method, path in (("GET", "/api/v1/policy"), ("GET", "/api/v1/agents")):
        refused = await client.request(method, path, headers=bearer(token))
        assert refused.status_code == 403, path
        assert refused.json()["error"]["code"] == "forbidden"
    listed = await client.get(f"{BASE}/tokens")
    assert "HR script" in listed.text and "Never" not in listed.text  # used just now

    page = await client.get(f"{BASE}/tokens")
    [[token_id]] = rows(server, "SELECT id FROM tokens WHERE name = 'HR script'")
    await client.post(f"{BASE}/tokens/{token_id}/revoke", data={"csrf": csrf(page)})
    assert (await client.get("/api/v1/users", headers=bearer(token))).status_code == 401
    events = rows(server, "SELECT detail_json FROM audit_events WHERE activity = 'api_token'")
    assert len(events) == 2 and token not in str(events)


async def test_a_token_dies_with_its_administrator(
    server: RunningServer, client: httpx.AsyncClient
) -> None:
    tenant = server.create_tenant("Acme")
    await admin_of(server, client, tenant.tenant_id, "acme")
    token = await make_token(client, "nightly")
    assert (await client.get("/api/v1/policy", headers=bearer(token))).status_code == 200
    engine = sa.create_engine(server.database_url)
    with engine.begin() as db:
        db.execute(sa.text("UPDATE admins SET disabled_at = created_at"))
    engine.dispose()
    assert (await client.get("/api/v1/policy", headers=bearer(token))).status_code == 401
    # The bootstrap token is no administrator's: it stays.
    assert (
        await client.get("/api/v1/policy", headers=bearer(tenant.admin_token))
    ).status_code == 200


async def test_a_tenant_administrator_sees_every_token_another_only_their_own(
    server: RunningServer, client: httpx.AsyncClient
) -> None:
    tenant = server.create_tenant("Acme")
    await admin_of(server, client, tenant.tenant_id, "acme")
    await client.get("/api/v1/users", headers=bearer(tenant.admin_token))
    await make_token(client, "ada's")
    async with httpx.AsyncClient(base_url=server.base_url) as hal:
        await admin_of(server, hal, tenant.tenant_id, "acme", "hal@acme.test", Role.REPORTS)
        await make_token(hal, "hal's")
        own = await hal.get(f"{BASE}/tokens")
        assert "hal&#39;s" in own.text and "ada&#39;s" not in own.text
        [[ada_token]] = rows(server, "SELECT id FROM tokens WHERE name = 'ada''s'")
        refused = await hal.post(f"{BASE}/tokens/{ada_token}/revoke", data={"csrf": csrf(own)})
        assert refused.status_code == 404
    every = await client.get(f"{BASE}/tokens")
    assert "hal&#39;s" in every.text and "bootstrap token" in every.text
    bad = await client.post(f"{BASE}/tokens", data={"name": " ", "csrf": csrf(every)})
    assert bad.status_code == 422 and "Name the token" in bad.text


async def test_a_tokens_last_use_is_written_at_most_once_a_minute(
    server: RunningServer, client: httpx.AsyncClient
) -> None:
    """The list shows the last use to the minute; calls in between write nothing."""
    tenant = server.create_tenant("Acme")
    auth = bearer(tenant.admin_token)
    assert (await client.get("/api/v1/users", headers=auth)).status_code == 200
    [[first]] = rows(server, "SELECT used_at FROM tokens WHERE kind = 'admin'")
    assert first is not None
    assert (await client.get("/api/v1/users", headers=auth)).status_code == 200
    assert rows(server, "SELECT used_at FROM tokens WHERE kind = 'admin'") == [(first,)]
    execute(server, "UPDATE tokens SET used_at = '2020-01-01 00:00:00.000000' WHERE kind = 'admin'")
    assert (await client.get("/api/v1/users", headers=auth)).status_code == 200
    [[later]] = rows(server, "SELECT used_at FROM tokens WHERE kind = 'admin'")
    assert str(later) > "2020-01-01 00:00:00.000000"
