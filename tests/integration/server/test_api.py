"""The JSON API over a real socket: onboarding, tokens, tenant isolation, error bodies."""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from passback.crypto.keys import public_key_to_pem
from passback.protocol.outcomes import Outcome
from passback.server import writeback
from tests.support.portal import ACCOUNT, MAIL, portal_tenant, rows
from tests.support.server import AgentFactory, RunningServer, assert_error, bearer
from tests.support.smtp import MailCatcher

MARKER = "Marker-Secret-9f81c2"  # a password that must never come back


def onboard_body(key: rsa.RSAPrivateKey, **changes: str) -> dict[str, str]:
    body = {
        "name": "dc-agent",
        "public_key": public_key_to_pem(key.public_key()),
        "software": "passback-agent/0.1",
    }
    return body | changes


#: What a writeback route may answer, as its OpenAPI document says.
WRITE_ANSWERS = {"200", "400", "401", "403", "404", "409", "413", "422", "502", "503", "504"}


async def test_health(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.json() == {"status": "ok"}


async def test_openapi_documents_every_route(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    assert set(spec["paths"]) == {
        "/healthz",
        "/api/v1/agents/onboard",
        "/api/v1/agents",
        "/api/v1/agents/onboarding-tokens",
        "/api/v1/agents/{agent_id}/revoke",
        "/api/v1/users",
        "/api/v1/sync",
        "/api/v1/users/{user}/password-reset",
        "/api/v1/users/{user}/password-rules",
        "/api/v1/users/{user}/account",
        "/api/v1/users/{user}/unlock",
        "/api/v1/users/{user}/require-password-change",
        "/api/v1/users/{user}/blocks",
        "/api/v1/users/{user}/assignment",
        "/api/v1/policy",
        "/api/v1/admins",
        "/api/v1/admins/{admin_id}/disable",
        "/api/v1/admins/{admin_id}/enable",
        "/api/v1/admins/{admin_id}/setup-link",
        "/api/v1/audit-events",
        "/api/v1/audit-events.csv",
        "/api/v1/support/{code}",
        "/api/v1/portal/{slug}/status",
        "/api/v1/portal/{slug}/reset",
        "/api/v1/portal/{slug}/reset/method",
        "/api/v1/portal/{slug}/reset/number",
        "/api/v1/portal/{slug}/reset/code",
        "/api/v1/portal/{slug}/reset/rules",
        "/api/v1/portal/{slug}/reset/password",
    }
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            assert operation.get("summary"), (method, path)
            for status, response in operation["responses"].items():
                if status == "204":
                    assert "content" not in response, (method, path)
                    continue
                if path.endswith(".csv") and status == "200":
                    assert set(response["content"]) == {"text/csv"}, path
                    continue
                schema = response["content"]["application/json"]["schema"]
                if status.startswith(("4", "5")):
                    assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (path, status)
    reset = spec["paths"]["/api/v1/users/{user}/password-reset"]["post"]
    assert set(reset["responses"]) == WRITE_ANSWERS
    for name in ("unlock", "require-password-change"):
        route = spec["paths"][f"/api/v1/users/{{user}}/{name}"]["post"]
        assert set(route["responses"]) == WRITE_ANSWERS
        assert route["requestBody"].get("required") is not True  # the body is optional
    account = spec["paths"]["/api/v1/users/{user}/account"]["get"]
    assert set(account["responses"]) == WRITE_ANSWERS - {"504"}  # a read: never in doubt
    assert account["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/AccountStateOut"
    }


async def test_api_docs_load_nothing_from_another_origin(client: httpx.AsyncClient) -> None:
    """/docs works on an offline server: every script, style sheet and image it
    references is served by the server itself (set-up issue)."""
    page = await client.get("/docs")
    assert page.status_code == 200
    references = re.findall(r"""(?:src|href|url)\s*[=:]\s*['"]([^'"]+)['"]""", page.text)
    assert references, page.text
    for reference in references:
        assert reference.startswith("/"), reference  # same origin, no scheme or host
        assert (await client.get(reference)).status_code == 200, reference
    assert "://" not in page.text  # no absolute address at all
    assert (await client.get("/redoc")).status_code == 404  # no page that needs a CDN


async def test_onboarding(
    server: RunningServer, client: httpx.AsyncClient, agent_key: rsa.RSAPrivateKey
) -> None:
    tenant = server.create_tenant("Acme")
    response = await client.post(
        "/api/v1/agents/onboard",
        headers=bearer(tenant.onboarding_token),
        json=onboard_body(agent_key),
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["tenant_id"] == tenant.tenant_id
    assert body["relay_secret"].startswith("pbr_")
    assert body["relay_path"] == "/relay/v1"
    assert body["heartbeat_interval"] == 300
    assert set(body["package_key"]) == {"key_id", "key"}
    uuid.UUID(body["agent_id"])

    again = await client.post(
        "/api/v1/agents/onboard",
        headers=bearer(tenant.onboarding_token),
        json=onboard_body(agent_key),
    )
    assert_error(again, 401, "unauthorized")
    assert again.headers["www-authenticate"] == "Bearer"


async def test_agents_are_added_and_revoked_with_the_admin_token(
    server: RunningServer, client: httpx.AsyncClient, agent_key: rsa.RSAPrivateKey
) -> None:
    """L1 through the API, each an audit event naming the API token."""
    tenant = server.create_tenant("Acme")
    made = await client.post("/api/v1/agents/onboarding-tokens", headers=bearer(tenant.admin_token))
    assert made.status_code == 201
    token = made.json()["onboarding_token"]
    joined = await client.post(
        "/api/v1/agents/onboard", headers=bearer(token), json=onboard_body(agent_key)
    )
    agent_id = joined.json()["agent_id"]
    for _ in range(2):  # revoking again is answered the same
        revoked = await client.post(
            f"/api/v1/agents/{agent_id}/revoke", headers=bearer(tenant.admin_token)
        )
        assert revoked.status_code == 204
    listed = await client.get("/api/v1/agents", headers=bearer(tenant.admin_token))
    assert listed.json()[0]["revoked"] is True
    other = server.create_tenant("Globex")
    foreign = await client.post(
        f"/api/v1/agents/{agent_id}/revoke", headers=bearer(other.admin_token)
    )
    assert_error(foreign, 404, "agent_not_found")
    events = rows(server, "SELECT activity, actor, detail_json FROM audit_events ORDER BY at")
    assert [e[0] for e in events] == [
        "onboarding_token",
        "onboard_agent",
        "revoke_agent",
        "revoke_agent",
    ]
    assert all('"via": "api_token"' in str(e[2]) for e in events if e[1] == "admin")
    assert events[1][1] == "system" and agent_id in str(events[1][2])


async def test_onboarding_refuses_a_bad_key_and_keeps_the_token(
    server: RunningServer, client: httpx.AsyncClient, agent_key: rsa.RSAPrivateKey
) -> None:
    tenant = server.create_tenant("Acme")
    headers = bearer(tenant.onboarding_token)
    bad = onboard_body(agent_key, public_key="-----BEGIN PUBLIC KEY-----\nnope\n")
    response = await client.post("/api/v1/agents/onboard", headers=headers, json=bad)
    assert_error(response, 422, "invalid_public_key")
    good = await client.post(
        "/api/v1/agents/onboard", headers=headers, json=onboard_body(agent_key)
    )
    assert good.status_code == 201


@pytest.mark.parametrize("token", [None, "pbo_unknown", "pba_wrong_kind"])
async def test_onboarding_needs_a_valid_token(
    server: RunningServer,
    client: httpx.AsyncClient,
    agent_key: rsa.RSAPrivateKey,
    token: str | None,
) -> None:
    tenant = server.create_tenant("Acme")
    if token == "pba_wrong_kind":
        token = tenant.admin_token
    headers = bearer(token) if token else {}
    response = await client.post(
        "/api/v1/agents/onboard", headers=headers, json=onboard_body(agent_key)
    )
    assert_error(response, 401, "unauthorized")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/users"),
        ("GET", "/api/v1/users/jdoe/account"),
        ("GET", "/api/v1/agents"),
        ("POST", "/api/v1/sync"),
        ("POST", "/api/v1/users/jdoe/password-reset"),
    ],
)
async def test_admin_routes_need_an_admin_token(
    server: RunningServer, client: httpx.AsyncClient, method: str, path: str
) -> None:
    tenant = server.create_tenant("Acme")
    body = {"new_password": "Xx-123456789"}
    for headers in ({}, bearer("pba_unknown"), bearer(tenant.onboarding_token)):
        response = await client.request(method, path, headers=headers, json=body)
        assert_error(response, 401, "unauthorized")


async def test_unknown_route_has_the_error_body_and_stores_nothing(
    server: RunningServer, client: httpx.AsyncClient
) -> None:
    """A path or method that does not exist (a browser's /favicon.ico, a
    scanner) is nothing an operator looks up: no record, no support code."""
    assert_error(await client.get("/api/v1/nothing"), 404, "not_found", recorded=False)
    assert_error(await client.get("/favicon.ico"), 404, "not_found", recorded=False)
    assert_error(await client.delete("/healthz"), 405, "method_not_allowed", recorded=False)
    assert rows(server, "SELECT count(*) FROM support_records") == [(0,)]


async def test_sync_without_agent(server: RunningServer, client: httpx.AsyncClient) -> None:
    tenant = server.create_tenant("Acme")
    response = await client.post("/api/v1/sync", headers=bearer(tenant.admin_token))
    assert_error(response, 503, "service_unavailable")


@pytest.mark.parametrize(
    "content",
    [
        # A typo: FastAPI would echo the whole body as the "missing" field's input.
        f'{{"new_pasword": "{MARKER}"}}',
        f'{{"new_password": ["{MARKER}"]}}',
        f'{{"new_password": {{"value": "{MARKER}"}}}}',
        f'{{"new_password": "{MARKER}", "request_id": "{MARKER}"}}',
        f'{{"new_password": "{MARKER}", "unlock": "{MARKER}"}}',
        f'{{"new_password": "{MARKER}", "extra": "{MARKER}"}}',
        f'{{"new_password": "{MARKER}"',  # not JSON
        f'["{MARKER}"]',
    ],
)
async def test_validation_errors_never_echo_the_input(
    server: RunningServer,
    client: httpx.AsyncClient,
    caplog: pytest.LogCaptureFixture,
    content: str,
) -> None:
    tenant = server.create_tenant("Acme")
    caplog.set_level(logging.DEBUG)
    response = await client.post(
        "/api/v1/users/jdoe/password-reset",
        headers=bearer(tenant.admin_token) | {"Content-Type": "application/json"},
        content=content,
    )
    error = assert_error(response, 422, "validation_failed")
    assert error["detail"]["errors"], error
    assert MARKER not in response.text
    assert error["support_code"] in caplog.text  # the server's logs were captured
    assert MARKER not in caplog.text
    assert all(MARKER not in str(r.args) for r in caplog.records)


@pytest.mark.parametrize(
    ("path", "body"),
    [
        # Python's URL parsing drops CR and LF from the path; other controls stay.
        ("/api/v1/users/x%1B%5B2J%E2%80%A8WARNING%20forged/password-rules", None),  # 404
        ("/api/v1/users/jdoe/password-reset", {"new_password": "x", "a\x1b[2J\u2028b": 1}),  # 422
    ],
)
async def test_log_lines_escape_what_the_client_sent(
    server: RunningServer,
    client: httpx.AsyncClient,
    caplog: pytest.LogCaptureFixture,
    path: str,
    body: Any,
) -> None:
    headers = bearer(server.create_tenant("Acme").admin_token)
    caplog.set_level(logging.INFO)
    method = "GET" if body is None else "POST"
    response = await client.request(method, path, json=body, headers=headers)
    support_code = response.json()["error"]["support_code"]
    [line] = [r.getMessage() for r in caplog.records if support_code in r.getMessage()]
    assert "\x1b" not in line and "\u2028" not in line
    assert "\\x1b[2J\\u2028" in line


async def test_a_body_that_is_not_utf8_is_a_documented_400(
    server: RunningServer, client: httpx.AsyncClient
) -> None:
    tenant = server.create_tenant("Acme")
    response = await client.post(
        "/api/v1/users/jdoe/password-reset",
        headers=bearer(tenant.admin_token) | {"Content-Type": "application/json"},
        content=b'{"new_password": "\xff\xfe"}',
    )
    assert_error(response, 400, "unreadable_body")
    document = (await client.get("/openapi.json")).json()
    assert "400" in document["paths"]["/api/v1/users/{user}/password-reset"]["post"]["responses"]


@pytest.mark.parametrize("password", ["", "x" * 1025])
async def test_password_length_is_in_the_schema(
    server: RunningServer, client: httpx.AsyncClient, password: str
) -> None:
    tenant = server.create_tenant("Acme")
    response = await client.post(
        "/api/v1/users/jdoe/password-reset",
        headers=bearer(tenant.admin_token),
        json={"new_password": password},
    )
    assert_error(response, 422, "validation_failed")
    document = (await client.get("/openapi.json")).json()
    field = document["components"]["schemas"]["ResetRequest"]["properties"]["new_password"]
    assert (field["minLength"], field["maxLength"]) == (1, 1024)


async def test_an_admin_reset_through_the_api_is_mailed_to_the_user(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory, mail: MailCatcher
) -> None:
    """G9, as in the console: the user learns of it, never the password."""
    async with portal_tenant(server, client, make_agent) as (tenant, _agent):
        reset = await client.post(
            "/api/v1/users/jdoe/password-reset",
            headers=bearer(tenant.admin_token) | {"Accept-Language": "pt-BR"},
            json={"new_password": "Api-Reset-Pa55-1"},
        )
        assert reset.status_code == 200, reset.text
        notice = await asyncio.to_thread(mail.wait_for, MAIL)
        assert notice["Subject"] == "Sua senha foi redefinida"
        assert "Api-Reset-Pa55-1" not in notice.get_content()


async def test_an_admin_reset_is_audited_under_its_user_before_the_answer(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory
) -> None:
    """A password no directory takes is refused before writeback looks the user
    up: an unknown user is still answered 404, and a known user's refusal is
    audited under the user; a success is audited before its answer."""
    async with portal_tenant(server, client, make_agent) as (tenant, _agent):
        headers = bearer(tenant.admin_token)
        for password in ("x" * 300, "Summer2026!"):  # too long for AD; too common
            missing = await client.post(
                "/api/v1/users/nobody/password-reset",
                headers=headers,
                json={"new_password": password},
            )
            assert_error(missing, 404, "user_not_found")
        common = await client.post(
            "/api/v1/users/jdoe/password-reset",
            headers=headers,
            json={"new_password": "Summer2026!"},
        )
        assert common.json()["error"]["code"] == "common_password"
        [(user_id, result)] = rows(
            server,
            "SELECT user_id, result FROM audit_events WHERE activity = 'reset_password' "
            f"AND tenant_id = '{tenant.tenant_id}'",
        )
        assert user_id is not None and result == "failure"
        # A success is audited before its answer: the next call sees it.
        done = await client.post(
            "/api/v1/users/jdoe/password-reset",
            headers=headers,
            json={"new_password": "Api-Reset-Pa55-2"},
        )
        assert done.status_code == 200, done.text
        events = await client.get(
            "/api/v1/audit-events", headers=headers, params={"activity": "reset_password"}
        )
        assert [e["result"] for e in events.json()] == ["success", "failure"]


async def test_the_account_as_the_directory_has_it(
    server: RunningServer,
    client: httpx.AsyncClient,
    make_agent: AgentFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Read by the agent (a status operation), nothing written, nothing audited;
    each way it cannot be read has its own code."""
    async with portal_tenant(server, client, make_agent) as (tenant, agent):
        agent.account = {**ACCOUNT, "locked": 1, "password_expires_at": 1_703_000_000}
        audited = rows(server, "SELECT count(*) FROM audit_events")
        read = await client.get("/api/v1/users/jdoe/account", headers=bearer(tenant.admin_token))
        assert read.status_code == 200, read.text
        assert read.json() == {
            "enabled": True,
            "locked": True,
            "must_change": False,
            "password_set_at": "2023-11-14T22:13:20Z",
            "password_expires_at": "2023-12-19T15:33:20Z",
            "protection": None,
        }
        assert (agent.reads, agent.opened) == (1, [])
        assert rows(server, "SELECT count(*) FROM operations") == [(0,)]
        assert rows(server, "SELECT count(*) FROM audit_events") == audited
        missing = await client.get(
            "/api/v1/users/nobody/account", headers=bearer(tenant.admin_token)
        )
        assert_error(missing, 404, "user_not_found")

        agent.account_outcome = Outcome.DIRECTORY_UNAVAILABLE
        down = await client.get("/api/v1/users/jdoe/account", headers=bearer(tenant.admin_token))
        assert_error(down, 502, "directory_unavailable")
        assert "could not reach the directory" in down.json()["error"]["message"]

        monkeypatch.setattr(writeback, "READ_TIMEOUT", 0.2)
        agent.account = None  # an agent that announced the read but stays silent
        silent = await client.get("/api/v1/users/jdoe/account", headers=bearer(tenant.admin_token))
        assert_error(silent, 502, "no_answer")
        assert "did not answer in time" in silent.json()["error"]["message"]


async def test_the_account_without_an_agent(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory
) -> None:
    async with portal_tenant(server, client, make_agent) as (tenant, agent):
        await agent.agent.close()
        response = await client.get(
            "/api/v1/users/jdoe/account", headers=bearer(tenant.admin_token)
        )
        assert_error(response, 503, "service_unavailable")
        assert "No agent is connected" in response.json()["error"]["message"]
