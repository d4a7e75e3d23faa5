"""The portal's flow as JSON (SPEC §9): the same steps, answers and limits as
the pages, and support codes an operator looks up (E2)."""

from __future__ import annotations

import asyncio
import uuid

import httpx
from click.testing import CliRunner

from passback.cli import main
from passback.protocol.operations import Operation
from passback.protocol.outcomes import Outcome
from tests.support.portal import MAIL, portal_tenant
from tests.support.server import AgentFactory, RunningServer
from tests.support.smtp import MailCatcher

API = "/api/v1/portal/acme"
NEW_PASSWORD = "Api-Pa55word-4b1a"
PT = {"Accept-Language": "pt-BR"}


def flow(token: str) -> dict[str, str]:
    return {"X-Passback-Flow": token}


async def test_status_is_503_without_an_agent(
    server: RunningServer, client: httpx.AsyncClient
) -> None:
    server.create_tenant("Acme")
    response = await client.get(f"{API}/status", headers=PT)
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "service_unavailable"
    assert error["message"] == (
        "Your password can't be reset right now. Try again in a few minutes."
    )
    assert error["localized_message"].startswith("Não é possível redefinir sua senha agora")
    started = await client.post(f"{API}/reset", json={"username": "jdoe"})
    assert started.status_code == 503


async def test_whole_reset_through_the_api(
    server: RunningServer,
    client: httpx.AsyncClient,
    make_agent: AgentFactory,
    mail: MailCatcher,
) -> None:
    async with portal_tenant(server, client, make_agent) as (_tenant, agent):
        assert (await client.get(f"{API}/status")).json() == {
            "available": True,
            "organisation": "Acme",
        }
        started = await client.post(f"{API}/reset", json={"username": "JDOE"})
        assert started.status_code == 201, started.text
        token = started.json()["flow_token"]
        code = await asyncio.to_thread(mail.code_for, MAIL)

        early = await client.post(
            f"{API}/reset/password", json={"new_password": NEW_PASSWORD}, headers=flow(token)
        )
        assert early.status_code == 409 and early.json()["error"]["code"] == "wrong_step"

        checked = await client.post(
            f"{API}/reset/code", json={"code": code}, headers=flow(token) | PT
        )
        assert checked.status_code == 200, checked.text
        body = checked.json()
        # Issue "Hardening" 11: the token changes when the code passes.
        old_token, token = token, body["flow_token"]
        assert token and token != old_token
        stale = await client.get(f"{API}/reset/rules", headers=flow(old_token))
        assert stale.status_code == 409 and stale.json()["error"]["code"] == "no_flow"
        assert body["rules"]["min_length"] == 14 and body["rules"]["source"] == "pso:staff"
        assert body["rules_text"][0] == "Pelo menos 14 caracteres"

        agent.outcomes.append((Outcome.IN_HISTORY, {"history_length": 24}))
        refused = await client.post(
            f"{API}/reset/password", json={"new_password": NEW_PASSWORD}, headers=flow(token) | PT
        )
        assert refused.status_code == 422
        error = refused.json()["error"]
        assert error["code"] == "in_history"
        assert error["message"] == "The password must differ from the last 24 passwords."
        assert error["localized_message"] == "A senha deve ser diferente das últimas 24 senhas."
        assert error["detail"] == {"history_length": 24, "field": "new_password"}

        done = await client.post(
            f"{API}/reset/password", json={"new_password": NEW_PASSWORD}, headers=flow(token)
        )
        assert done.status_code == 200, done.text
        assert done.json()["outcome"] == "ok"
        again = await client.post(
            f"{API}/reset/password", json={"new_password": NEW_PASSWORD}, headers=flow(token)
        )
        assert again.status_code == 409  # the flow is over
    assert [o.metadata.operation for o in agent.opened] == [Operation.RESET] * 2

    # E2: the support code of the refusal finds the whole record.
    result = CliRunner().invoke(
        main, ["support", "show", error["support_code"], "--database-url", server.database_url]
    )
    assert result.exit_code == 0, result.output
    out = result.output
    assert f"support code:   {error['support_code']}" in out
    assert "+00:00" in out  # time with its zone
    assert "Acme (acme)" in out and "jdoe" in out
    assert f"request id:     {error['request_id']}" in out
    assert "error:          in_history (HTTP 422)" in out
    assert "agent event:    31003 PasswordResetFail" in out
    assert "operation:      reset" in out


async def test_common_password_is_refused_and_never_reaches_the_agent(
    server: RunningServer,
    client: httpx.AsyncClient,
    make_agent: AgentFactory,
    mail: MailCatcher,
) -> None:
    async with portal_tenant(server, client, make_agent) as (_tenant, agent):
        started = await client.post(f"{API}/reset", json={"username": "jdoe"})
        token = started.json()["flow_token"]
        code = await asyncio.to_thread(mail.code_for, MAIL)
        checked = await client.post(f"{API}/reset/code", json={"code": code}, headers=flow(token))
        body = checked.json()
        token = body["flow_token"]
        assert body["rules_text"][-1] == "Not a common or easily guessed password"

        refused = await client.post(
            f"{API}/reset/password", json={"new_password": "Summer2026!"}, headers=flow(token) | PT
        )
        assert refused.status_code == 422
        error = refused.json()["error"]
        assert error["code"] == "common_password"
        assert error["message"].startswith("This password is too easy to guess")
        assert error["localized_message"].startswith("Esta senha é fácil demais de adivinhar")
        assert error["detail"] == {"reason": "common", "field": "new_password"}

        done = await client.post(
            f"{API}/reset/password", json={"new_password": NEW_PASSWORD}, headers=flow(token)
        )
        assert done.status_code == 200, done.text
    assert len(agent.opened) == 1
    assert agent.opened[0].secrets == (NEW_PASSWORD,)


async def test_unknown_user_same_answer_and_no_token_no_flow(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory
) -> None:
    async with portal_tenant(server, client, make_agent):
        known = await client.post(f"{API}/reset", json={"username": "jdoe"})
        unknown = await client.post(f"{API}/reset", json={"username": "nobody"})
        assert known.status_code == unknown.status_code == 201
        assert set(known.json()) == set(unknown.json())
        assert known.json()["message"] == unknown.json()["message"]
        wrong = await client.post(
            f"{API}/reset/code",
            json={"code": "12345678"},
            headers=flow(unknown.json()["flow_token"]),
        )
        assert wrong.status_code == 422 and wrong.json()["error"]["code"] == "wrong_code"
        missing = await client.post(f"{API}/reset/code", json={"code": "12345678"})
        assert missing.status_code == 409 and missing.json()["error"]["code"] == "no_flow"
        uuid.UUID(missing.json()["error"]["support_code"])


async def test_support_show_for_an_unknown_code(server: RunningServer) -> None:
    result = CliRunner().invoke(
        main, ["support", "show", str(uuid.uuid4()), "--database-url", server.database_url]
    )
    assert result.exit_code == 1
    assert "no record has the support code" in result.output
