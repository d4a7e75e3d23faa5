"""``/api/v1/support/{code}``: a support code's record through the API (SPEC
E2), as ``passback support show`` prints it, of the caller's tenant only."""

from __future__ import annotations

import logging
import uuid

import httpx
import pytest

from passback.protocol.outcomes import Outcome
from passback.server.console.roles import Role
from passback.server.services import RECORDS_PER_ADDRESS
from tests.support.console import admin_of, make_token
from tests.support.portal import portal_tenant, rows
from tests.support.server import AgentFactory, RunningServer, assert_error, bearer


async def test_a_refused_actions_code_is_found_in_this_tenant_only(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory
) -> None:
    async with portal_tenant(server, client, make_agent) as (tenant, agent):
        auth = bearer(tenant.admin_token)
        agent.outcomes.append((Outcome.ACCESS_DENIED, {}))
        refused = await client.post("/api/v1/users/jdoe/unlock", headers=auth)
        error = assert_error(refused, 502, "access_denied")
        code = error["support_code"]
        found = await client.get(f"/api/v1/support/{code}", headers=auth)
        assert found.status_code == 200, found.text
        [[user_id]] = rows(server, "SELECT id FROM directory_users")
        record = found.json()
        assert record["code"] == code
        assert (record["tenant"], record["tenant_id"]) == ("Acme (acme)", tenant.tenant_id)
        assert (record["user"], record["user_id"]) == ("jdoe", user_id)
        assert (record["error"], record["status"]) == ("access_denied", 502)
        assert (record["method"], record["path"]) == ("POST", "/api/v1/users/jdoe/unlock")
        assert record["request_id"] == error["request_id"]
        assert record["operation"] == "unlock" and record["outcome"] == "access_denied"
        assert record["message"] == error["message"]
        assert record["event_id"] == 31003 and record["agent_id"]
        # The code in upper case, with spaces around, finds it too.
        again = await client.get(f"/api/v1/support/%20{code.upper()}%20", headers=auth)
        assert again.json() == record

        await admin_of(server, client, tenant.tenant_id, "acme", "hal@acme.test", Role.HELPDESK)
        helpdesk = bearer(await make_token(client, "hal's script"))
        assert (await client.get(f"/api/v1/support/{code}", headers=helpdesk)).json() == record

        other = server.create_tenant("Globex")
        hidden = await client.get(f"/api/v1/support/{code}", headers=bearer(other.admin_token))
        error = assert_error(hidden, 404, "support_code_unknown")
        assert error["message"] == "No record of this organisation has this support code."
        unknown = await client.get(f"/api/v1/support/{uuid.uuid4()}", headers=auth)
        assert_error(unknown, 404, "support_code_unknown")
        for bad in ("nope", "0" * 32 + "-" * 31 + "x"):
            invalid = await client.get(f"/api/v1/support/{bad}", headers=auth)
            error = assert_error(invalid, 422, "invalid_support_code")
            assert error["detail"] == {"field": "code"}
        assert (await client.get(f"/api/v1/support/{code}")).status_code == 401


async def test_any_refusal_answered_to_a_token_is_its_tenants_record(
    server: RunningServer, client: httpx.AsyncClient
) -> None:
    tenant = server.create_tenant("Acme")
    auth = bearer(tenant.admin_token)
    missing = await client.post("/api/v1/admins/nobody/disable", headers=auth)
    code = assert_error(missing, 404, "admin_not_found")["support_code"]
    found = (await client.get(f"/api/v1/support/{code}", headers=auth)).json()
    assert (found["error"], found["status"], found["tenant_id"]) == (
        "admin_not_found",
        404,
        tenant.tenant_id,
    )
    assert found["path"] == "/api/v1/admins/nobody/disable"
    # Without a valid token, the record is nobody's: no tenant finds it.
    unknown = await client.get("/api/v1/admins", headers=bearer("pba_nope"))
    code = assert_error(unknown, 401, "unauthorized")["support_code"]
    hidden = await client.get(f"/api/v1/support/{code}", headers=auth)
    assert_error(hidden, 404, "support_code_unknown")


async def test_a_reports_token_may_not_look_codes_up(
    server: RunningServer, client: httpx.AsyncClient
) -> None:
    tenant = server.create_tenant("Acme")
    await admin_of(server, client, tenant.tenant_id, "acme", "rex@acme.test", Role.REPORTS)
    reader = bearer(await make_token(client, "rex's report"))
    refused = await client.get(f"/api/v1/support/{uuid.uuid4()}", headers=reader)
    assert_error(refused, 403, "forbidden")


async def test_a_stranger_makes_the_server_keep_only_a_budget_of_records(
    server: RunningServer, client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    """Errors answered before anyone is known (no token, a bad body, a wrong
    token) are recorded within their address's budget (60 per 10 minutes);
    past it they are answered without a support code, and the log names
    none; an administrator's own errors are still recorded."""
    caplog.set_level(logging.INFO, logger="passback.server.api.problems")
    tenant = server.create_tenant("Acme")
    codes = []
    for _ in range(RECORDS_PER_ADDRESS + 5):
        response = await client.post("/api/v1/users/jdoe/password-reset", json={})
        codes.append(response.json()["error"]["support_code"])
    assert all(codes[:RECORDS_PER_ADDRESS]) and not any(codes[RECORDS_PER_ADDRESS:])
    [(kept,)] = rows(server, "SELECT count(*) FROM support_records")
    assert kept == RECORDS_PER_ADDRESS
    unknown = await client.get("/api/v1/users", headers=bearer("not-a-token"))
    assert_error(unknown, 401, "unauthorized", recorded=False)
    lines = [r.getMessage() for r in caplog.records if r.name == "passback.server.api.problems"]
    named = [line for line in lines if "support code" in line]
    assert len(named) == RECORDS_PER_ADDRESS, lines[-3:]
    assert lines[-1].endswith("(request None, no support record: over the address's budget)")
    admins = await client.post(
        "/api/v1/users/jdoe/password-reset", json={}, headers=bearer(tenant.admin_token)
    )
    assert_error(admins, 422, "validation_failed")
