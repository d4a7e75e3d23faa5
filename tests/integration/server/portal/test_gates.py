"""Verification gates in the reset flow (SPEC G1, G6, T2): the tenant's policy
allows the email code and an authenticator app, and asks for one or two."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from pathlib import Path

import httpx
import pyotp
import sqlalchemy as sa

from passback.server.portal import registrations
from passback.server.store import create_engine, session_factory
from passback.server.store.models import DirectoryUser
from tests.support.portal import (
    BASE,
    MAIL,
    csrf,
    enter_code,
    from_address,
    portal_tenant,
    register_authenticator,
    rows,
    set_password,
    support_code,
)
from tests.support.server import AgentFactory, RunningServer, bearer
from tests.support.smtp import MailCatcher


async def set_policy(client: httpx.AsyncClient, admin_token: str, **body: object) -> None:
    changed = await client.patch("/api/v1/policy", headers=bearer(admin_token), json=body)
    assert changed.status_code == 200, changed.text


async def start(client: httpx.AsyncClient, username: str = "jdoe") -> None:
    started = await client.post(f"{BASE}/", data={"username": username})
    assert started.headers["location"] == f"{BASE}/method", started.text


async def choose(client: httpx.AsyncClient, method: str) -> httpx.Response:
    page = await client.get(f"{BASE}/method")
    assert 'name="method"' in page.text, page.text  # the form (with the last error)
    return await client.post(f"{BASE}/method", data={"method": method, "csrf": csrf(page)})


async def test_one_gate_of_the_users_choice(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory, mail: MailCatcher
) -> None:
    async with portal_tenant(server, client, make_agent) as (tenant, _agent):
        await set_policy(client, tenant.admin_token, methods=["email", "totp"])
        secret = register_authenticator(server)
        await start(client)
        page = await client.get(f"{BASE}/method")
        assert 'value="email"' in page.text and 'value="totp"' in page.text
        # T2: the same choice for a username that matches nobody
        async with httpx.AsyncClient(base_url=server.base_url) as stranger:
            await start(stranger, "nobody")
            other = await stranger.get(f"{BASE}/method")
            assert other.text.replace(csrf(other), "") == page.text.replace(csrf(page), "")
            await choose(stranger, "totp")
            wrong = await enter_code(stranger, pyotp.TOTP(secret).now())
            assert wrong.status_code == 422  # nobody's authenticator: never passes

        chosen = await choose(client, "totp")
        assert chosen.headers["location"] == f"{BASE}/code"
        code_page = await client.get(f"{BASE}/code")
        assert "authenticator app" in code_page.text and "No email?" not in code_page.text
        passed = await enter_code(client, pyotp.TOTP(secret).now())
        assert passed.headers["location"] == f"{BASE}/password"
    assert mail.to(MAIL) == []  # nothing was mailed


async def test_two_gates_of_different_methods(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory, mail: MailCatcher
) -> None:
    async with portal_tenant(server, client, make_agent) as (tenant, _agent):
        await set_policy(client, tenant.admin_token, methods=["email", "totp"], gates_required=2)
        secret = register_authenticator(server)
        await start(client)
        assert (await choose(client, "email")).headers["location"] == f"{BASE}/code"
        code = await asyncio.to_thread(mail.code_for, MAIL)
        first = await enter_code(client, code)
        assert first.headers["location"] == f"{BASE}/method"  # one more
        page = await client.get(f"{BASE}/method")
        assert "Done: 1." in page.text
        assert 'value="email"' not in page.text and 'value="totp"' in page.text
        refused = await client.post(f"{BASE}/method", data={"method": "email", "csrf": csrf(page)})
        assert refused.headers["location"] == f"{BASE}/method"
        assert (await client.get(f"{BASE}/method")).status_code == 422
        await choose(client, "totp")
        second = await enter_code(client, pyotp.TOTP(secret).now())
        assert second.headers["location"] == f"{BASE}/password"
    assert rows(server, "SELECT gates_passed FROM portal_flows") == [("email,totp",)]


async def test_two_gates_with_one_method_on_file_says_what_is_missing(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory, mail: MailCatcher
) -> None:
    """G6, told only once a gate proved who the user is (T2)."""
    async with portal_tenant(server, client, make_agent) as (tenant, _agent):
        await set_policy(client, tenant.admin_token, methods=["email", "totp"], gates_required=2)
        await start(client)
        await choose(client, "email")
        code = await asyncio.to_thread(mail.code_for, MAIL)
        assert (await enter_code(client, code)).headers["location"] == f"{BASE}/method"
        page = await client.get(f"{BASE}/method")
        assert page.status_code == 409
        assert "requires 2 ways to prove who you are, and only 1 is on file" in page.text
        [(note,)] = rows(
            server, f"SELECT note FROM support_records WHERE code='{support_code(page)}'"
        )
        assert note == "G6: passed email, on file email"
        assert rows(server, "SELECT step FROM portal_flows") == [("ended",)]


async def test_an_authenticator_code_is_taken_once(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory, mail: MailCatcher
) -> None:
    async with portal_tenant(server, client, make_agent) as (tenant, _agent):
        await set_policy(client, tenant.admin_token, methods=["email", "totp"])
        secret = register_authenticator(server)
        code = pyotp.TOTP(secret).now()
        await start(client)
        await choose(client, "totp")
        assert (await enter_code(client, code)).headers["location"] == f"{BASE}/password"
        client.cookies.clear()
        await start(client)
        await choose(client, "totp")
        again = await enter_code(client, code)  # the same code, read over a shoulder
        assert again.status_code == 422


async def test_the_json_api_passes_two_gates(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory, mail: MailCatcher
) -> None:
    api = "/api/v1/portal/acme/reset"
    async with portal_tenant(server, client, make_agent) as (tenant, _agent):
        await set_policy(client, tenant.admin_token, methods=["email", "totp"], gates_required=2)
        secret = register_authenticator(server)
        started = await client.post(api, json={"username": "jdoe"})
        assert started.status_code == 201, started.text
        body = started.json()
        assert (body["step"], body["methods"]) == ("method", ["email", "totp"])
        flow = {"X-Passback-Flow": body["flow_token"]}
        chosen = await client.post(f"{api}/method", json={"method": "totp"}, headers=flow)
        assert chosen.json()["step"] == "code", chosen.text
        first = await client.post(
            f"{api}/code", json={"code": pyotp.TOTP(secret).now()}, headers=flow
        )
        assert first.status_code == 200, first.text
        assert (first.json()["step"], first.json()["methods"]) == ("method", ["email"])
        flow = {"X-Passback-Flow": first.json()["flow_token"]}
        bad = await client.post(f"{api}/method", json={"method": "totp"}, headers=flow)
        assert (bad.status_code, bad.json()["error"]["code"]) == (422, "invalid_method")
        await client.post(f"{api}/method", json={"method": "email"}, headers=flow)
        code = await asyncio.to_thread(mail.code_for, MAIL)
        second = await client.post(f"{api}/code", json={"code": code}, headers=flow)
        assert second.json()["step"] == "password", second.text


def register_questions(server: RunningServer, answers: dict[str, str]) -> None:
    engine = create_engine(server.database_url)
    try:
        with session_factory(engine)() as db, db.begin():
            user = db.scalar(
                sa.select(DirectoryUser).where(DirectoryUser.sam_account_name == "jdoe")
            )
            assert user is not None
            now = dt.datetime.now(dt.UTC)
            registrations.set_questions(db, user.tenant_id, user.id, answers, now)
    finally:
        engine.dispose()


ANSWERS = {"first_pet": "Rex", "birth_city": "Porto Alegre", "first_school": "Escola 7"}


async def answer(client: httpx.AsyncClient, answers: list[str]) -> httpx.Response:
    page = await client.get(f"{BASE}/questions")
    assert page.status_code in (200, 422), page.text  # 422: the last try's error, shown once
    return await client.post(f"{BASE}/questions", data={"csrf": csrf(page), "answer": answers})


async def test_security_questions_gate(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory, mail: MailCatcher
) -> None:
    from passback.server.portal.gates.questions import QUESTIONS

    async with portal_tenant(server, client, make_agent) as (tenant, _agent):
        await set_policy(client, tenant.admin_token, methods=["email", "questions"])
        register_questions(server, ANSWERS)
        await start(client)
        chosen = await choose(client, "questions")
        assert chosen.headers["location"] == f"{BASE}/questions"
        page = await client.get(f"{BASE}/questions")
        shown = {k: page.text.find(text.replace("'", "&#39;")) for k, text in QUESTIONS.items()}
        asked = sorted((k for k, at in shown.items() if at >= 0), key=shown.__getitem__)
        assert len(asked) == 2 and set(asked) <= ANSWERS.keys()  # M = 2 of the user's 3
        # the same questions every time for this username (T2)
        async with httpx.AsyncClient(base_url=server.base_url) as again:
            await start(again)
            await choose(again, "questions")
            assert (await again.get(f"{BASE}/questions")).text.replace(
                csrf(await again.get(f"{BASE}/questions")), ""
            ) == page.text.replace(csrf(page), "")
        wrong = await answer(client, [ANSWERS[asked[0]], "wrong"])
        assert wrong.headers["location"] == f"{BASE}/questions"
        shown = await client.get(f"{BASE}/questions")
        assert shown.status_code == 422
        assert "At least one answer is not right. Attempts left: 4." in shown.text
        right = await answer(client, [f"  {ANSWERS[k].upper()} " for k in asked])
        assert right.headers["location"] == f"{BASE}/password"


async def test_answers_of_any_shape_are_a_wrong_answer_and_never_stored(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory, mail: MailCatcher
) -> None:
    """Bad input at the gate: 10 KB, NUL, RTL marks, emoji, nothing, too many
    fields — each a wrong answer (one try), nothing kept or logged."""
    async with portal_tenant(server, client, make_agent) as (tenant, _agent):
        await set_policy(client, tenant.admin_token, methods=["email", "questions"])
        register_questions(server, ANSWERS)
        await start(client)
        await choose(client, "questions")
        odd = ["x" * 10_000, "Rex\x00", "\u202eRex", "🐶🐶🐶"]
        for left, answers in zip(
            range(4, 0, -1), (odd[:2], odd[2:], [], ["Rex"] * 20), strict=True
        ):
            wrong = await answer(client, answers)
            assert wrong.headers["location"] == f"{BASE}/questions"
            shown = await client.get(f"{BASE}/questions")
            assert shown.status_code == 422 and f"Attempts left: {left}." in shown.text
        page = await client.get(f"{BASE}/questions")
        flood = await client.post(
            f"{BASE}/questions", data={"csrf": csrf(page), "answer": ["Rex"] * 40}
        )
        assert flood.status_code == 400  # too many fields: refused before anything counts
        assert rows(server, "SELECT attempts FROM portal_flows") == [(4,)]
    database = Path(server.database_url.removeprefix("sqlite:///"))
    stored = b"".join(p.read_bytes() for p in database.parent.glob(database.name + "*"))
    for text in ("x" * 100, "🐶🐶🐶", "\u202eRex"):
        assert text.encode() not in stored


async def test_questions_for_a_username_without_any_never_pass(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory, mail: MailCatcher
) -> None:
    async with portal_tenant(server, client, make_agent) as (tenant, _agent):
        await set_policy(client, tenant.admin_token, methods=["email", "questions"])
        await start(client, "nobody")
        await choose(client, "questions")
        page = await client.get(f"{BASE}/questions")
        assert page.text.count('name="answer"') == 2  # asked like anyone (T2)
        for _ in range(5):
            await answer(client, ["Rex", "Porto Alegre"])
        assert (await client.get(f"{BASE}/questions")).status_code == 410  # ended


async def test_wrong_answers_block_the_questions_not_the_owner(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory, mail: MailCatcher
) -> None:
    """T1 with the attribution of portal.blocks: 5 wrong answers within an hour
    block the account's questions for 24 hours, from everywhere; the owner keeps
    the email code; an administrator lifts the block."""
    async with portal_tenant(server, client, make_agent) as (tenant, _agent):
        await set_policy(client, tenant.admin_token, methods=["email", "questions"])
        register_questions(server, ANSWERS)
        for attempt in range(5):  # five strangers, one wrong answer each
            async with from_address(server, f"127.0.0.{10 + attempt}") as stranger:
                await start(stranger)
                await choose(stranger, "questions")
                await answer(stranger, ["wrong", f"guess {attempt}"])
        client.cookies.clear()
        await start(client)
        refused = await choose(client, "questions")
        assert refused.headers["location"] == f"{BASE}/method"
        page = await client.get(f"{BASE}/method")
        assert page.status_code == 429
        assert "Security questions are blocked for this account until" in page.text
        # the owner, with their mailbox, still gets in
        async with httpx.AsyncClient(base_url=server.base_url) as owner:
            await start(owner)
            await choose(owner, "email")
            code = await asyncio.to_thread(mail.code_for, MAIL)
            assert (await enter_code(owner, code)).headers["location"] == f"{BASE}/password"
        lifted = await client.delete(
            "/api/v1/users/jdoe/blocks", headers=bearer(tenant.admin_token)
        )
        assert lifted.json() == {"lifted": 1}
        client.cookies.clear()
        await start(client)
        assert (await choose(client, "questions")).headers["location"] == f"{BASE}/questions"
    activities = rows(
        server,
        "SELECT activity, result, method FROM audit_events "
        "WHERE activity != 'change_policy' ORDER BY at",
    )
    assert activities.count(("gate", "failure", "questions")) == 5
    assert ("block", "success", None) in activities
    assert ("lift_block", "success", None) in activities
    assert ("gate", "success", "email") in activities


async def test_a_questions_gate_takes_no_code_and_the_api_sends_to_the_pages(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory, mail: MailCatcher
) -> None:
    async with portal_tenant(server, client, make_agent) as (tenant, _agent):
        await set_policy(client, tenant.admin_token, methods=["email", "questions"])
        register_questions(server, ANSWERS)
        await start(client)
        await choose(client, "questions")
        code_page = await client.get(f"{BASE}/questions")
        posted = await client.post(f"{BASE}/code", data={"code": "123456", "csrf": csrf(code_page)})
        assert posted.status_code == 409  # answers, not a code
        api = "/api/v1/portal/acme/reset"
        body = (await client.post(api, json={"username": "jdoe"})).json()
        assert body["methods"] == ["email"]  # questions: in the pages only
        flow = {"X-Passback-Flow": body["flow_token"]}
        refused = await client.post(f"{api}/method", json={"method": "questions"}, headers=flow)
        assert refused.status_code == 422
        assert "answered in the portal's pages" in refused.json()["error"]["message"]


async def test_many_addresses_cannot_guess_an_authenticator_at_leisure(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory, mail: MailCatcher
) -> None:
    """portal.blocks: 10 wrong app codes in an hour to one account, from any
    addresses, and no code is compared until the hour has passed."""
    async with portal_tenant(server, client, make_agent) as (tenant, _agent):
        await set_policy(client, tenant.admin_token, methods=["email", "totp"])
        secret = register_authenticator(server)
        for attempt in range(10):
            async with from_address(server, f"127.0.1.{attempt + 1}") as stranger:
                await start(stranger)
                await choose(stranger, "totp")
                await enter_code(stranger, "000000")
        await start(client)
        await choose(client, "totp")
        refused = await enter_code(client, pyotp.TOTP(secret).now())
        assert refused.status_code == 422  # the right code, not compared
        engine = create_engine(server.database_url)
        with engine.begin() as connection:  # an hour later
            connection.execute(sa.text("UPDATE audit_events SET at = '2000-01-01 00:00:00.000000'"))
        engine.dispose()
        passed = await enter_code(client, pyotp.TOTP(secret).now())
        assert passed.headers["location"] == f"{BASE}/password"


async def test_strangers_who_use_up_the_app_codes_cannot_hold_the_owner_up(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory, mail: MailCatcher
) -> None:
    """T1 without a denial of service: strangers' 10 wrong app codes stop the
    app codes of flows that passed no gate, but not the owner's. With one
    gate, the browser a finished reset left a device token in counts its
    own; with two, the app after the email code counts apart."""
    async with portal_tenant(server, client, make_agent) as (tenant, _agent):
        await set_policy(client, tenant.admin_token, methods=["email", "totp"])
        secret = register_authenticator(server)
        await start(client)  # the owner's browser finishes a reset by email
        await choose(client, "email")
        await enter_code(client, await asyncio.to_thread(mail.code_for, MAIL))
        assert (await set_password(client)).status_code == 200
        assert client.cookies.get("passback_device", path=f"{BASE}/")
        again = await client.get(f"{BASE}/done")  # a reload keeps the token it has
        assert again.status_code == 200 and "passback_device" not in str(again.headers)
        await asyncio.to_thread(mail.wait_for, MAIL, 2)  # the notice of the change
        for attempt in range(10):
            async with from_address(server, f"127.0.1.{attempt + 1}") as stranger:
                await start(stranger)
                await choose(stranger, "totp")
                await enter_code(stranger, "000000")
        async with httpx.AsyncClient(base_url=server.base_url) as elsewhere:
            await start(elsewhere)  # a browser the account never used
            await choose(elsewhere, "totp")
            refused = await enter_code(elsewhere, pyotp.TOTP(secret).now())
            assert refused.status_code == 422  # the right code, not compared
        await start(client)
        await choose(client, "totp")
        passed = await enter_code(client, pyotp.TOTP(secret).now())
        assert passed.headers["location"] == f"{BASE}/password"
        await set_policy(client, tenant.admin_token, gates_required=2)
        async with httpx.AsyncClient(base_url=server.base_url) as owner:
            await start(owner)
            await choose(owner, "email")
            await enter_code(owner, await asyncio.to_thread(mail.code_for, MAIL, 3))
            await choose(owner, "totp")
            later = pyotp.TOTP(secret).at(time.time() + 30)  # the step before was taken
            passed = await enter_code(owner, later)
            assert passed.headers["location"] == f"{BASE}/password"
    subjects = rows(
        server, "SELECT subject FROM audit_events WHERE method = 'totp' AND result = 'success'"
    )
    (device,), (after_gate,) = subjects
    assert str(device).startswith("device:") and str(after_gate).endswith(":after-gate")


async def test_with_two_gates_questions_come_second(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory, mail: MailCatcher
) -> None:
    """A stranger neither sees an account's questions nor blocks them."""
    async with portal_tenant(server, client, make_agent) as (tenant, _agent):
        await set_policy(
            client, tenant.admin_token, methods=["email", "totp", "questions"], gates_required=2
        )
        register_questions(server, ANSWERS)
        await start(client)
        first = await client.get(f"{BASE}/method")
        assert 'value="questions"' not in first.text
        await choose(client, "email")
        code = await asyncio.to_thread(mail.code_for, MAIL)
        await enter_code(client, code)
        second = await client.get(f"{BASE}/method")
        assert 'value="questions"' in second.text


async def test_the_forms_of_a_name_ask_the_same_questions(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory, mail: MailCatcher
) -> None:
    """T2: `nobody` and `NOBODY@acme.test` are one name, as `jdoe` and its UPN are one account."""
    async with portal_tenant(server, client, make_agent) as (tenant, _agent):
        await set_policy(client, tenant.admin_token, methods=["email", "questions"])
        pages = []
        for typed in ("nobody", "NOBODY@acme.test", "ACME\\nobody"):
            async with httpx.AsyncClient(base_url=server.base_url) as visitor:
                await start(visitor, typed)
                await choose(visitor, "questions")
                page = await visitor.get(f"{BASE}/questions")
                pages.append(page.text.replace(csrf(page), ""))
        assert pages[0] == pages[1] == pages[2]


async def test_the_user_may_choose_another_way_at_a_gate(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory, mail: MailCatcher
) -> None:
    """No phone at hand: from the app's gate back to the choice, then the mail."""
    async with portal_tenant(server, client, make_agent) as (tenant, _agent):
        await set_policy(client, tenant.admin_token, methods=["email", "totp"])
        register_authenticator(server)
        await start(client)
        await choose(client, "totp")
        await enter_code(client, "000000")  # one wrong try: it still counts
        page = await client.get(f"{BASE}/code")
        assert f'action="{BASE}/method/again"' in page.text
        back = await client.post(f"{BASE}/method/again", data={"csrf": csrf(page)})
        assert back.headers["location"] == f"{BASE}/method"
        await choose(client, "email")
        code = await asyncio.to_thread(mail.code_for, MAIL)
        assert (await enter_code(client, code)).headers["location"] == f"{BASE}/password"
        assert rows(server, "SELECT attempts FROM portal_flows") == [(2,)]


async def test_an_email_only_tenant_offers_no_other_way(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory, mail: MailCatcher
) -> None:
    async with portal_tenant(server, client, make_agent):
        await client.post(f"{BASE}/", data={"username": "jdoe"})
        page = await client.get(f"{BASE}/code")
        assert "/method/again" not in page.text
        refused = await client.post(f"{BASE}/method/again", data={"csrf": csrf(page)})
        assert refused.status_code == 409
