"""The portal's pages against the real server, a fake agent on the real relay
and a real SMTP server on loopback (SPEC W1, W2, W8, T2, E2, S7)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from passback.protocol.operations import Operation
from passback.protocol.outcomes import Outcome
from passback.server.store import create_engine
from tests.support.portal import (
    BASE,
    MAIL,
    NEW_PASSWORD,
    csrf,
    enter_code,
    mailed_link,
    portal_tenant,
    rows,
    set_password,
    start,
    support_code,
)
from tests.support.server import TIMEOUT, AgentFactory, RunningServer, bearer
from tests.support.smtp import MailCatcher


async def test_no_agent_is_503_before_anything(
    server: RunningServer, client: httpx.AsyncClient
) -> None:
    server.create_tenant("Acme")
    page = await client.get(f"{BASE}/")
    assert page.status_code == 503
    assert "can&#39;t be reset right now" in page.text
    assert 'name="username"' not in page.text  # not even asked (W2)
    code = support_code(page)
    [record] = rows(server, f"SELECT error, status, note FROM support_records WHERE code='{code}'")
    assert record == ("service_unavailable", 503, "no agent of the tenant is connected (W2)")


async def test_whole_reset_in_the_pages(
    server: RunningServer,
    client: httpx.AsyncClient,
    make_agent: AgentFactory,
    mail: MailCatcher,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    async with portal_tenant(server, client, make_agent) as (_tenant, agent):
        first = await client.get(f"{BASE}/")
        assert first.status_code == 200
        assert '<label for="username">' in first.text
        assert first.headers["content-language"] == "en"
        assert "script" not in first.text.lower()

        started = await start(client)
        cookie = started.headers["set-cookie"]
        # Lax: the mail's link (a cross-site navigation from webmail) brings it.
        assert "httponly" in cookie.lower() and "samesite=lax" in cookie.lower()
        assert "secure" not in cookie.lower()  # plain HTTP here; Secure over HTTPS
        assert f"path={BASE}/" in cookie.lower()
        code = await asyncio.to_thread(mail.code_for, MAIL)
        message = mail.wait_for(MAIL)
        assert message["Subject"] == "Your password reset code"
        assert "https://sspr.acme.test/portal/acme/code/" in message.get_content()

        checked = await enter_code(client, code)
        assert checked.status_code == 303 and checked.headers["location"] == f"{BASE}/password"

        page = await client.get(f"{BASE}/password")
        assert "At least 14 characters" in page.text
        assert "Not one of your last 24 passwords" in page.text
        assert "(staff)" in page.text  # the PSO that applies to this user

        mismatch = await set_password(client, confirm="something else")
        assert mismatch.status_code == 422
        assert 'id="confirm_password-error"' in mismatch.text
        assert not agent.opened  # nothing was sent

        agent.outcomes.append((Outcome.TOO_SHORT, {"min_length": 14}))
        refused = await set_password(client)
        assert refused.status_code == 422
        assert "The password must be at least 14 characters long." in refused.text
        assert 'aria-describedby="rules new_password-error"' in refused.text
        assert "At least 14 characters" in refused.text  # the rules, shown again...
        assert agent.rules_asked == 1  # ...as the agent reported them: not asked again
        refused_code = support_code(refused)

        done = await set_password(client)
        assert done.status_code == 200, done.text
        assert "Password changed" in done.text

    assert [o.metadata.operation for o in agent.opened] == [Operation.RESET, Operation.RESET]
    assert agent.opened[-1].secrets == (NEW_PASSWORD,)
    [flow] = rows(server, "SELECT step, code_hash, completed_at, user_id FROM portal_flows")
    assert flow[0] == "done" and flow[1] is None and flow[2] is not None and flow[3]
    [record] = rows(
        server,
        f"SELECT error, request_id, event_id, agent_id, user_id FROM support_records "
        f"WHERE code='{refused_code}'",
    )
    assert record[0] == "too_short" and record[2] == 31003 and record[3] and record[4]
    # S7: neither the password nor the code is in the store or the logs.
    database = Path(server.database_url.removeprefix("sqlite:///"))
    stored = b"".join(p.read_bytes() for p in database.parent.glob(database.name + "*"))
    for secret in (NEW_PASSWORD, code):
        assert secret.encode() not in stored
        assert secret not in caplog.text


async def test_unknown_user_gets_the_same_answer(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory, mail: MailCatcher
) -> None:
    async with portal_tenant(server, client, make_agent):
        known = await start(client, "jdoe")
        known_page = await client.get(f"{BASE}/code")
        client.cookies.clear()
        unknown = await start(client, "nobody")
        unknown_page = await client.get(f"{BASE}/code")
        assert known.status_code == unknown.status_code == 303
        assert known_page.text.replace(csrf(known_page), "") == unknown_page.text.replace(
            csrf(unknown_page), ""
        )
        wrong = await enter_code(client, "12345678")
        assert wrong.status_code == 422
        assert "Attempts left: 4." in wrong.text
        record = rows(
            server, f"SELECT note FROM support_records WHERE code='{support_code(wrong)}'"
        )
        assert record == [("the flow's code step cannot pass: unknown_user",)]
    assert len(mail.to(MAIL)) == 1  # only the known user got a code


async def test_user_without_mail_gets_the_same_answer(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory
) -> None:
    async with portal_tenant(server, client, make_agent, mail=None):
        await start(client, "jdoe")
        wrong = await enter_code(client, "12345678")
        assert wrong.status_code == 422
        record = rows(
            server, f"SELECT note FROM support_records WHERE code='{support_code(wrong)}'"
        )
        assert record == [("the flow's code step cannot pass: no_mail",)]


async def test_steps_cannot_be_skipped_and_the_code_is_single_use(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory, mail: MailCatcher
) -> None:
    async with portal_tenant(server, client, make_agent):
        assert (await client.get(f"{BASE}/password")).status_code == 409  # no flow
        await start(client)
        code_page = await client.get(f"{BASE}/code")
        skip = await client.post(
            f"{BASE}/password",
            data={
                "new_password": NEW_PASSWORD,
                "confirm_password": NEW_PASSWORD,
                "csrf": csrf(code_page),
            },
            follow_redirects=True,
        )
        assert skip.status_code == 409
        assert "finish the steps in order" in skip.text
        code = await asyncio.to_thread(mail.code_for, MAIL)
        assert (await enter_code(client, code)).status_code == 303
        # Issue "Hardening" 11: the flow has a new token now, so the old form's
        # CSRF token is no good; with the current one, the code is spent.
        stale = await client.post(f"{BASE}/code", data={"code": code, "csrf": csrf(code_page)})
        assert stale.status_code == 403
        current = csrf(await client.get(f"{BASE}/password"))
        again = await client.post(f"{BASE}/code", data={"code": code, "csrf": current})
        assert again.status_code == 409  # spent: the flow is past the code step


async def test_code_expires(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory, mail: MailCatcher
) -> None:
    async with portal_tenant(server, client, make_agent):
        await start(client)
        code = await asyncio.to_thread(mail.code_for, MAIL)
        token = csrf(await client.get(f"{BASE}/code"))
        past = (dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)).isoformat()
        engine = create_engine(server.database_url)
        with engine.begin() as connection:
            connection.execute(sa.text("UPDATE portal_flows SET expires_at = :t"), {"t": past})
        engine.dispose()
        page = await client.post(f"{BASE}/code", data={"code": code, "csrf": token})
        assert page.status_code == 410
        assert "This step has expired" in page.text
        [(step,)] = rows(server, "SELECT step FROM portal_flows")
        assert step == "code"  # the right code, too late: the flow did not move on
        expired = await client.get(f"{BASE}/code")
        assert expired.status_code == 410
        assert "This step has expired" in expired.text


async def test_five_wrong_codes_end_the_flow(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory, mail: MailCatcher
) -> None:
    async with portal_tenant(server, client, make_agent):
        await start(client)
        code = await asyncio.to_thread(mail.code_for, MAIL)
        wrong = "00000000" if code != "00000000" else "11111111"
        for left in (4, 3, 2, 1):
            page = await enter_code(client, wrong)
            assert f"Attempts left: {left}." in page.text
        page = await enter_code(client, wrong)
        assert page.status_code == 410
        code_page = await client.get(f"{BASE}/code")
        assert code_page.status_code == 410  # even the right code is too late now


async def test_forms_need_the_flows_csrf_token(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory, mail: MailCatcher
) -> None:
    async with portal_tenant(server, client, make_agent):
        await start(client)
        code = await asyncio.to_thread(mail.code_for, MAIL)
        forged = await client.post(f"{BASE}/code", data={"code": code, "csrf": "0" * 64})
        assert forged.status_code == 403
        support_code(forged)


async def test_lookups_are_rate_limited_per_address(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory
) -> None:
    async with portal_tenant(server, client, make_agent):
        for n in range(10):
            await start(client, f"user{n}")
        limited = await client.post(f"{BASE}/", data={"username": "jdoe"})
        assert limited.status_code == 429
        assert "Too many attempts" in limited.text
        support_code(limited)


async def test_language_follows_the_browser_and_the_switch(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory, mail: MailCatcher
) -> None:
    async with portal_tenant(server, client, make_agent) as (_tenant, agent):
        pt = {"Accept-Language": "pt-BR,pt;q=0.9,en;q=0.5"}
        page = await client.get(f"{BASE}/", headers=pt)
        assert page.headers["content-language"] == "pt-BR"
        assert '<html lang="pt-BR">' in page.text and "Redefina sua senha" in page.text
        assert f'href="{BASE}/?lang=en"' in page.text
        switched = await client.get(f"{BASE}/?lang=en", headers=pt)
        assert "Reset your password" in switched.text
        assert "passback_lang=en" in switched.headers["set-cookie"]
        client.cookies.clear()

        await client.post(f"{BASE}/", data={"username": "jdoe"}, headers=pt)
        message = mail.wait_for(MAIL)
        assert message["Subject"] == "Seu código para redefinir a senha"
        code = await asyncio.to_thread(mail.code_for, MAIL)
        code_page = await client.get(f"{BASE}/code", headers=pt)
        await client.post(f"{BASE}/code", data={"code": code, "csrf": csrf(code_page)}, headers=pt)
        page = await client.get(f"{BASE}/password", headers=pt)
        assert "Pelo menos 14 caracteres" in page.text
        when = "2031-05-04T10:20:30+00:00"
        agent.outcomes.append((Outcome.TOO_YOUNG, {"retry_after": when}))
        refused = await client.post(
            f"{BASE}/password",
            data={
                "new_password": NEW_PASSWORD,
                "confirm_password": NEW_PASSWORD,
                "csrf": csrf(page),
            },
            headers=pt,
            follow_redirects=True,
        )
        assert refused.status_code == 422
        assert "poderá ser alterada de novo depois de 4 de maio de 2031" in refused.text


async def test_the_flow_cookie_is_replaced_when_the_code_passes(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory, mail: MailCatcher
) -> None:
    """Issue "Hardening" 11: the token that was used before the code proved
    anything (and may have leaked) opens nothing once the code passed."""
    async with portal_tenant(server, client, make_agent):
        await start(client)
        before = client.cookies["passback_flow"]
        code = await asyncio.to_thread(mail.code_for, MAIL)
        passed = await enter_code(client, code)
        assert passed.status_code == 303
        after = client.cookies["passback_flow"]
        assert after != before
        async with httpx.AsyncClient(base_url=server.base_url, timeout=TIMEOUT) as thief:
            thief.cookies.set("passback_flow", before)
            assert (await thief.get(f"{BASE}/password")).status_code == 409
        assert (await client.get(f"{BASE}/password")).status_code == 200


async def unlock_flow(
    client: httpx.AsyncClient, mail: MailCatcher, code_mail: int = 1
) -> httpx.Response:
    """Start an unlock for jdoe and pass the code (of the ``code_mail``-th mail
    to jdoe): the unlock page."""
    started = await client.post(f"{BASE}/unlock", data={"username": "jdoe"})
    assert started.headers["location"] == f"{BASE}/code"
    code = await asyncio.to_thread(mail.code_for, MAIL, code_mail)
    passed = await enter_code(client, code)
    assert passed.headers["location"] == f"{BASE}/unlock/confirm"
    page = await client.get(f"{BASE}/unlock/confirm")
    assert page.status_code == 200
    return page


async def test_unlock_once_then_a_new_password_is_offered(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory, mail: MailCatcher
) -> None:
    async with portal_tenant(server, client, make_agent) as (_tenant, agent):
        first = await client.get(f"{BASE}/unlock")
        assert "<h1>Unlock your account</h1>" in first.text
        assert f'action="{BASE}/unlock"' in first.text
        page = await unlock_flow(client, mail)
        early = await client.get(f"{BASE}/unlocked")
        assert (early.status_code, early.headers["location"]) == (303, f"{BASE}/unlock/confirm")
        for _ in range(2):  # a second post (Back, Reload) writes nothing again
            done = await client.post(f"{BASE}/unlock/confirm", data={"csrf": csrf(page)})
            assert (done.status_code, done.headers["location"]) == (303, f"{BASE}/unlocked")
        assert [o.metadata.operation for o in agent.opened] == [Operation.UNLOCK]
        assert agent.opened[0].secrets == ()
        unlocked = await client.get(f"{BASE}/unlocked")
        assert "Your account is unlocked" in unlocked.text
        # the same flow goes on to a new password
        assert await set_password(client) is not None
        assert [o.metadata.operation for o in agent.opened] == [Operation.UNLOCK, Operation.RESET]


async def test_a_users_own_unlock_and_resets_are_audit_events(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory, mail: MailCatcher
) -> None:
    """E5: each write of a flow is an event of the user's, with its outcome and
    the support code the page showed (E2), in the transaction that moves the
    flow on."""
    async with portal_tenant(server, client, make_agent) as (tenant, agent):
        page = await unlock_flow(client, mail)
        await client.post(f"{BASE}/unlock/confirm", data={"csrf": csrf(page)})
        agent.outcomes.append((Outcome.TOO_SHORT, {"min_length": 12}))
        refused = await set_password(client)
        shown = support_code(refused)
        await set_password(client)
        events = rows(
            server,
            "SELECT activity, result, actor, user_id, detail_json FROM audit_events "
            f"WHERE tenant_id = '{tenant.tenant_id}' AND actor = 'user' AND activity != 'gate' "
            "ORDER BY at",
        )
        [(user_id,)] = rows(
            server, "SELECT id FROM directory_users WHERE sam_account_name = 'jdoe'"
        )
        assert [(a, r, actor, u) for a, r, actor, u, _ in events] == [
            ("unlock_account", "success", "user", user_id),
            ("reset_password", "failure", "user", user_id),
            ("reset_password", "success", "user", user_id),
        ]
        details = [json.loads(str(d)) for *_, d in events]
        assert [d["outcome"] for d in details] == ["ok", "too_short", "ok"]
        assert details[1]["support_code"] == shown
        codes = {str(c) for (c,) in rows(server, "SELECT support_code FROM operations")}
        assert {d["support_code"] for d in details} <= codes


async def test_unlock_of_a_disabled_account_ends_the_flow(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory, mail: MailCatcher
) -> None:
    async with portal_tenant(server, client, make_agent) as (_tenant, agent):
        page = await unlock_flow(client, mail)
        agent.outcomes.append((Outcome.DISABLED, {}))
        await client.post(f"{BASE}/unlock/confirm", data={"csrf": csrf(page)})
        shown = await client.get(f"{BASE}/unlock/confirm")
        assert shown.status_code == 409
        assert "disabled" in shown.text
        assert rows(server, "SELECT step, unlocked_at FROM portal_flows") == [("ended", None)]


async def test_a_reset_flow_cannot_unlock(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory, mail: MailCatcher
) -> None:
    async with portal_tenant(server, client, make_agent) as (_tenant, agent):
        await start(client)
        code = await asyncio.to_thread(mail.code_for, MAIL)
        assert (await enter_code(client, code)).headers["location"] == f"{BASE}/password"
        assert (await client.get(f"{BASE}/unlock/confirm")).status_code == 409
        form = await client.get(f"{BASE}/password")
        await client.post(f"{BASE}/unlock/confirm", data={"csrf": csrf(form)})
        assert agent.opened == []


async def test_the_user_is_told_of_a_reset_and_of_an_unlock_by_mail(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory, mail: MailCatcher
) -> None:
    """G9: when, what, and what to do if it was not them."""
    async with portal_tenant(server, client, make_agent):
        await start(client)
        code = await asyncio.to_thread(mail.code_for, MAIL)
        await enter_code(client, code)
        assert (await set_password(client)).status_code == 200
        notice = await asyncio.to_thread(mail.wait_for, MAIL, 2)
        assert notice["Subject"] == "Your password was reset"
        body = notice.get_content()
        assert "The password of your Acme account was reset on" in body
        assert "If it was not you" in body and NEW_PASSWORD not in body
        client.cookies.clear()
        page = await unlock_flow(client, mail, code_mail=3)
        await client.post(f"{BASE}/unlock/confirm", data={"csrf": csrf(page)})
        unlocked = await asyncio.to_thread(mail.wait_for, MAIL, 4)
        assert unlocked["Subject"] == "Your account was unlocked"


async def test_an_administrators_unlock_is_told_in_the_users_own_language(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory, mail: MailCatcher
) -> None:
    """G9: the portal keeps the language of a user once a gate proved who they
    are; a notice of an administrator's action is then written in it."""
    async with portal_tenant(server, client, make_agent) as (tenant, _agent):
        client.headers["Accept-Language"] = "pt-BR"
        await start(client)
        code = await asyncio.to_thread(mail.code_for, MAIL)
        await enter_code(client, code)
        assert rows(server, "SELECT language FROM directory_users") == [("pt_BR",)]
        unlocked = await client.post(
            "/api/v1/users/jdoe/unlock",
            headers={**bearer(tenant.admin_token), "Accept-Language": "en"},
        )
        assert unlocked.status_code == 200, unlocked.text
        notice = await asyncio.to_thread(mail.wait_for, MAIL, 2)
        assert notice["Subject"] == "Sua conta foi desbloqueada"


async def test_a_notice_that_cannot_be_sent_undoes_nothing(
    server: RunningServer,
    client: httpx.AsyncClient,
    make_agent: AgentFactory,
    mail: MailCatcher,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with portal_tenant(server, client, make_agent):
        await start(client)
        code = await asyncio.to_thread(mail.code_for, MAIL)
        await enter_code(client, code)
        mail.stop()  # the SMTP server goes away before the notice
        try:
            done = await set_password(client)
            assert done.status_code == 200 and "Password changed" in done.text
            for _ in range(100):
                if "notice for user" in caplog.text:
                    break
                await asyncio.sleep(0.05)
            assert "the reset notice for user" in caplog.text
        finally:
            mail.start()
    assert rows(server, "SELECT step FROM portal_flows") == [("done",)]


async def test_a_disabled_account_is_told_right_after_the_gate(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory, mail: MailCatcher
) -> None:
    """T2: never before the gate (the code page is the same as anyone's), and
    before a new password is typed."""
    async with portal_tenant(server, client, make_agent) as (_tenant, agent):
        engine = create_engine(server.database_url)
        with engine.begin() as connection:
            connection.execute(sa.text("UPDATE directory_users SET enabled = 0"))
        engine.dispose()
        await start(client)
        code = await asyncio.to_thread(mail.code_for, MAIL)
        passed = await enter_code(client, code)
        assert passed.headers["location"] == f"{BASE}/password"
        page = await client.get(f"{BASE}/password")
        assert page.status_code == 409
        assert "disabled" in page.text and 'name="new_password"' not in page.text
        assert rows(server, "SELECT step FROM portal_flows") == [("ended",)]
        assert agent.opened == []


async def test_the_mail_link_continues_on_another_device(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory, mail: MailCatcher
) -> None:
    """The link in the code mail finds the flow on the phone that got the mail;
    the link alone opens nothing (a GET changes nothing: mail scanners open
    links), the code decides, and the phone carries on from there."""
    async with portal_tenant(server, client, make_agent):
        await start(client)
        code = await asyncio.to_thread(mail.code_for, MAIL)
        link = mailed_link(mail.wait_for(MAIL))
        async with httpx.AsyncClient(base_url=server.base_url) as phone:
            for _ in range(2):  # scanners and reloads: nothing moves
                page = await phone.get(link)
                assert page.status_code == 200 and 'name="code"' in page.text
            assert rows(server, "SELECT step, attempts FROM portal_flows") == [("code", 0)]
            wrong = await phone.post(link, data={"code": "00000000", "csrf": csrf(page)})
            assert wrong.headers["location"] == link
            shown = await phone.get(link)
            assert shown.status_code == 422 and "Attempts left: 4." in shown.text
            forged = await phone.post(link, data={"code": code, "csrf": "x"})
            assert forged.status_code == 403
            passed = await phone.post(link, data={"code": code, "csrf": csrf(page)})
            assert passed.headers["location"] == f"{BASE}/password"
            assert (await phone.get(f"{BASE}/password")).status_code == 200
            assert (await phone.get(link)).status_code == 409  # spent with the code
        # the browser that asked holds a token that opens nothing any more
        assert (await client.get(f"{BASE}/password")).status_code == 409
        assert (await client.get(f"{BASE}/code/not-a-link")).status_code == 409


async def test_support_records_are_kept_for_what_an_operator_looks_up(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory
) -> None:
    """E2, mended: a field typed wrong keeps no record (and shows no code); a
    record keeps the language the user saw; one address cannot fill the store."""
    async with portal_tenant(server, client, make_agent):
        empty = await client.post(f"{BASE}/", data={"username": " "})
        assert empty.status_code == 422 and "Support code" not in empty.text
        assert rows(server, "SELECT count(*) FROM support_records") == [(0,)]
        foreign = {"Origin": "https://elsewhere.example"}
        refused = await client.post(
            f"{BASE}/?lang=pt-BR", data={"username": "jdoe"}, headers=foreign
        )
        assert refused.status_code == 403
        assert rows(
            server, f"SELECT language FROM support_records WHERE code='{support_code(refused)}'"
        ) == [("pt-BR",)]
        for _ in range(70):
            await client.post(f"{BASE}/", data={"username": "jdoe"}, headers=foreign)
        [(count,)] = rows(server, "SELECT count(*) FROM support_records")
        assert count == 60  # the budget of one address in 10 minutes
        last = await client.post(f"{BASE}/", data={"username": "jdoe"}, headers=foreign)
        assert last.status_code == 403 and "Support code" not in last.text
