""" "Security info" in My account (SPEC G2, G3, E5, S7): an authenticator app
set up with its first code, removed, each an audit event; its secret only
wrapped in the store."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import time
from pathlib import Path

import httpx
import pyotp
import sqlalchemy as sa

from passback.protocol.outcomes import Outcome
from passback.server.store import create_engine
from tests.support.portal import BASE, MAIL, csrf, field_error, portal_tenant, rows, sign_in
from tests.support.server import AgentFactory, RunningServer, bearer
from tests.support.smtp import MailCatcher

STATE = {"locked": 0, "password_set_at": int(time.time()) - 60, "password_expires_at": 0}


async def allow_totp(client: httpx.AsyncClient, admin_token: str) -> None:
    changed = await client.patch(
        "/api/v1/policy", headers=bearer(admin_token), json={"methods": ["email", "totp"]}
    )
    assert changed.status_code == 200, changed.text


async def confirm_by_mail(client: httpx.AsyncClient, mail: MailCatcher, nth: int = 1) -> None:
    """Confirm the session by the emailed code (the ``nth`` mail to jdoe)."""
    page = await client.get(f"{BASE}/security/confirm")
    assert page.status_code in (200, 403), page.text  # 403: why it was asked for, once
    sent = await client.post(f"{BASE}/security/confirm", data={"csrf": csrf(page)})
    assert sent.headers["location"] == f"{BASE}/security/confirm/code"
    code = await asyncio.to_thread(mail.code_for, MAIL, nth)
    form = await client.get(f"{BASE}/security/confirm/code")
    done = await client.post(
        f"{BASE}/security/confirm/code", data={"code": code, "csrf": csrf(form)}
    )
    assert done.headers["location"] == f"{BASE}/security", done.text


def secret_of(page: httpx.Response) -> str:
    found = re.search(r'<code class="secret">([A-Z2-7 ]+)</code>', page.text)
    assert found, page.text
    return found.group(1).replace(" ", "")


async def test_set_up_and_remove_an_authenticator(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory, mail: MailCatcher
) -> None:
    async with portal_tenant(server, client, make_agent) as (tenant, agent):
        await allow_totp(client, tenant.admin_token)
        agent.outcomes.append((Outcome.OK, STATE))
        await sign_in(client)
        info = await client.get(f"{BASE}/security")
        assert info.status_code == 200
        assert "j•••@acme.test" in info.text  # the directory's mail, masked
        assert f'href="{BASE}/security/authenticator"' in info.text
        # the password alone changes nothing: first a code by mail
        early = await client.get(f"{BASE}/security/authenticator")
        assert early.headers["location"] == f"{BASE}/security/confirm"
        await confirm_by_mail(client, mail)

        page = await client.get(f"{BASE}/security/authenticator")
        assert page.status_code == 200
        assert page.headers["cache-control"] == "no-store"
        assert "<svg" in page.text and "<title>QR code</title>" in page.text
        secret = secret_of(page)
        again = await client.get(f"{BASE}/security/authenticator")
        assert secret_of(again) == secret  # a reload shows the same key

        wrong = await client.post(
            f"{BASE}/security/authenticator", data={"code": "000000", "csrf": csrf(page)}
        )
        assert wrong.headers["location"] == f"{BASE}/security/authenticator"
        shown = await client.get(f"{BASE}/security/authenticator")
        assert shown.status_code == 422
        assert "The code is not correct" in field_error(shown, "code")

        done = await client.post(
            f"{BASE}/security/authenticator",
            data={"code": pyotp.TOTP(secret).now(), "csrf": csrf(page)},
        )
        assert done.headers["location"] == f"{BASE}/security"
        info = await client.get(f"{BASE}/security")
        assert "Your authenticator app is set up" in info.text
        assert f'action="{BASE}/security/authenticator/remove"' in info.text
        # one authenticator at a time
        taken = await client.get(f"{BASE}/security/authenticator", follow_redirects=True)
        assert "already set up" in taken.text
        # test it: a code of the next step works (the one that set it up is spent)
        form = await client.get(f"{BASE}/security/test/authenticator")
        failed = await client.post(
            f"{BASE}/security/test/authenticator", data={"code": "000000", "csrf": csrf(form)}
        )
        assert failed.headers["location"] == f"{BASE}/security/test/authenticator"
        form = await client.get(f"{BASE}/security/test/authenticator")
        assert form.status_code == 422
        tested = await client.post(
            f"{BASE}/security/test/authenticator",
            data={"code": pyotp.TOTP(secret).at(time.time() + 30), "csrf": csrf(form)},
        )
        assert tested.headers["location"] == f"{BASE}/security"
        info = await client.get(f"{BASE}/security")
        assert "It works" in info.text

        removed = await client.post(
            f"{BASE}/security/authenticator/remove", data={"csrf": csrf(info)}
        )
        assert removed.headers["location"] == f"{BASE}/security"
        assert "is removed" in (await client.get(f"{BASE}/security")).text
    assert rows(
        server, "SELECT activity, result FROM audit_events WHERE actor = 'user' ORDER BY at"
    ) == [
        ("sign_in", "success"),  # My account (E5)
        ("register_method", "failure"),
        ("register_method", "success"),
        ("gate", "failure"),  # the tests count with the gate's (T1)
        ("gate", "success"),
        ("remove_method", "success"),
    ]
    # the password proved who this is: its tests count apart from strangers' (T1)
    tests = "SELECT subject FROM audit_events WHERE activity = 'gate' ORDER BY at"
    assert {str(s).split(":")[-1] for (s,) in rows(server, tests)} == {"after-gate"}
    database = Path(server.database_url.removeprefix("sqlite:///"))
    stored = b"".join(p.read_bytes() for p in database.parent.glob(database.name + "*"))
    assert secret.encode() not in stored  # S7: wrapped under the master key


async def test_security_info_needs_a_signed_in_session_and_the_policy(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory, mail: MailCatcher
) -> None:
    async with portal_tenant(server, client, make_agent) as (_tenant, agent):
        gone = await client.get(f"{BASE}/security")
        assert gone.headers["location"] == f"{BASE}/signin"
        agent.outcomes.append((Outcome.OK, STATE))
        await sign_in(client)
        info = await client.get(f"{BASE}/security")
        assert "Authenticator app" not in info.text  # the default policy: email only
        await confirm_by_mail(client, mail)
        refused = await client.get(f"{BASE}/security/authenticator", follow_redirects=True)
        assert refused.url.path == f"{BASE}/security"
        assert refused.status_code == 403
        assert "does not use this method" in refused.text
        forged = await client.post(f"{BASE}/security/authenticator/remove", data={"csrf": "nope"})
        assert forged.status_code == 303
        assert (await client.get(f"{BASE}/signin")).status_code == 403


async def set_up_questions(
    client: httpx.AsyncClient, answers: list[str], keys: list[str] | None = None
) -> httpx.Response:
    page = await client.get(f"{BASE}/security/questions")
    assert 'name="question"' in page.text, page.text  # the form (with the last error)
    chosen = keys or re.findall(r'<option value="([a-z_]+)" selected>', page.text)
    data = {"csrf": csrf(page), "question": chosen, "answer": answers}
    return await client.post(f"{BASE}/security/questions", data=data)


async def test_security_questions_are_validated_and_kept_hashed(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory, mail: MailCatcher
) -> None:
    async with portal_tenant(server, client, make_agent) as (tenant, agent):
        changed = await client.patch(
            "/api/v1/policy",
            headers=bearer(tenant.admin_token),
            json={"methods": ["email", "questions"], "questions_to_register": 3},
        )
        assert changed.status_code == 200, changed.text
        agent.outcomes.append((Outcome.OK, STATE))
        await sign_in(client)
        await confirm_by_mail(client, mail)
        page = await client.get(f"{BASE}/security/questions")
        assert page.text.count('<select id="question-') == 3
        for answers, field, words in (
            (["Rex", "jdoe junior", "Lisbon"], "answer-2", "may not contain your username"),
            (["Rex", "rex ", "Lisbon"], "answer-2", "its own answer"),
            (["Rex", "ab", "Lisbon"], "answer-2", "at least 3 characters"),
            (["Rex", "Porto", "x" * 300], "answer-3", "at most 200"),
            (["Rex", "Porto", "x" * 10_000], "answer-3", "at most 200"),  # cut at 1 KB
            (["Rex", "Por\x00to", "Lisbon"], "answer-2", "letters, digits"),
            (["Rex", "Porto\u202e", "Lisbon"], "answer-2", "letters, digits"),
            (["Rex", "\u200b\u200b\u200b", "Lisbon"], "answer-2", "letters, digits"),
        ):
            refused = await set_up_questions(client, answers)
            assert refused.headers["location"] == f"{BASE}/security/questions"
            shown = await client.get(f"{BASE}/security/questions")
            assert shown.status_code == 422
            assert words in field_error(shown, field)
        same = await set_up_questions(client, ["a1a", "b2b", "c3c"], ["first_pet"] * 3)
        assert same.headers["location"] == f"{BASE}/security/questions"
        assert "different question" in (await client.get(f"{BASE}/security/questions")).text
        assert rows(server, "SELECT count(*) FROM gate_registrations") == [(0,)]  # nothing kept

        answers = ["Rex the Dog", "Porto Alegre", "Escola Estadual 7 🌸"]
        done = await set_up_questions(client, answers)
        assert done.headers["location"] == f"{BASE}/security"
        info = await client.get(f"{BASE}/security")
        assert "Your security questions are set up" in info.text
    [(data,)] = rows(server, "SELECT data_json FROM gate_registrations")
    assert data.count("$argon2id$") == 3
    database = Path(server.database_url.removeprefix("sqlite:///"))
    stored = b"".join(p.read_bytes() for p in database.parent.glob(database.name + "*"))
    for answer in answers:
        for form in (answer, answer.casefold()):
            assert form.encode() not in stored  # S7


async def test_a_change_is_confirmed_by_mail_and_told_by_mail(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory, mail: MailCatcher
) -> None:
    """A phished password alone cannot add a way in (the code goes to the
    owner's mailbox), and the owner hears of every change."""
    async with portal_tenant(server, client, make_agent) as (tenant, agent):
        await allow_totp(client, tenant.admin_token)
        agent.outcomes.append((Outcome.OK, STATE))
        await sign_in(client)
        page = await client.get(f"{BASE}/security/confirm")
        await client.post(f"{BASE}/security/confirm", data={"csrf": csrf(page)})
        sent = await asyncio.to_thread(mail.wait_for, MAIL, 1)
        assert sent["Subject"] == "Your code to change your security info"
        form = await client.get(f"{BASE}/security/confirm/code")
        for _ in range(5):
            await client.post(
                f"{BASE}/security/confirm/code", data={"code": "00000000", "csrf": csrf(form)}
            )
        code = await asyncio.to_thread(mail.code_for, MAIL, 1)
        used_up = await client.post(
            f"{BASE}/security/confirm/code", data={"code": code, "csrf": csrf(form)}
        )
        assert used_up.headers["location"] == f"{BASE}/security/confirm/code"
        assert "used up" in (await client.get(f"{BASE}/security/confirm/code")).text
        await confirm_by_mail(client, mail, nth=2)  # a new code works
        page = await client.get(f"{BASE}/security/authenticator")
        await client.post(
            f"{BASE}/security/authenticator",
            data={"code": pyotp.TOTP(secret_of(page)).now(), "csrf": csrf(page)},
        )
        told = await asyncio.to_thread(mail.wait_for, MAIL, 3)
        assert told["Subject"] == "Your security info was changed"
        assert "If it was not you" in told.get_content()


async def test_registration_required_and_reconfirmation_at_sign_in(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory, mail: MailCatcher
) -> None:
    """G8: the tenant requires enough methods before My account, and a check
    of them every N days."""
    async with portal_tenant(server, client, make_agent) as (tenant, agent):
        changed = await client.patch(
            "/api/v1/policy",
            headers=bearer(tenant.admin_token),
            json={
                "methods": ["email", "totp"],
                "gates_required": 2,
                "registration_required": True,
                "reconfirm_days": 30,
            },
        )
        assert changed.status_code == 200, changed.text
        agent.outcomes.append((Outcome.OK, STATE))
        await sign_in(client)
        account = await client.get(f"{BASE}/account")
        assert account.headers["location"] == f"{BASE}/security"
        info = await client.get(f"{BASE}/security")
        assert "asks you to set up enough ways" in info.text
        await confirm_by_mail(client, mail)
        page = await client.get(f"{BASE}/security/authenticator")
        await client.post(
            f"{BASE}/security/authenticator",
            data={"code": pyotp.TOTP(secret_of(page)).now(), "csrf": csrf(page)},
        )
        assert (await client.get(f"{BASE}/account")).status_code == 200  # enough now

        engine = create_engine(server.database_url)
        with engine.begin() as connection:  # 31 days later
            connection.execute(
                sa.text("UPDATE gate_registrations SET confirmed_at = :t"),
                {"t": (dt.datetime.now(dt.UTC) - dt.timedelta(days=31)).isoformat()},
            )
        engine.dispose()
        again = await client.get(f"{BASE}/account")
        assert again.headers["location"] == f"{BASE}/security"
        info = await client.get(f"{BASE}/security")
        assert "check your security info now and then" in info.text
        reviewed = await client.post(f"{BASE}/security/review", data={"csrf": csrf(info)})
        assert reviewed.headers["location"] == f"{BASE}/account"
        assert (await client.get(f"{BASE}/account")).status_code == 200
    activities = [
        a for (a,) in rows(server, "SELECT activity FROM audit_events WHERE actor = 'user'")
    ]
    assert "reconfirm" in activities


async def test_the_directorys_phone_numbers_are_shown_masked(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory, mail: MailCatcher
) -> None:
    """G3: contact numbers from the directory are usable without registering and
    shown with their last two digits only."""
    async with portal_tenant(
        server, client, make_agent, mobile="(11) 91234-5678", telephone="not a number"
    ) as (tenant, agent):
        agent.outcomes.append((Outcome.OK, STATE))
        await sign_in(client)
        assert "Mobile phone" not in (await client.get(f"{BASE}/security")).text
        changed = await client.patch(
            "/api/v1/policy",
            headers=bearer(tenant.admin_token),
            json={"methods": ["email", "mobile_sms"], "phone_region": "BR"},
        )
        assert changed.status_code == 200, changed.text
        info = await client.get(f"{BASE}/security")
        assert "•••••••••••78" in info.text and "91234" not in info.text
        assert "None on file. Ask your administrator to add it" in info.text  # the office phone


async def test_a_tenants_own_question_is_registered_and_asked(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory, mail: MailCatcher
) -> None:
    """G2: admin-defined questions in both languages, chosen and asked like the
    predefined ones; their id stays when the text is edited."""
    own = {"en": "What was the name of your first team?", "pt_br": "Qual era o nome do seu time?"}
    async with portal_tenant(server, client, make_agent) as (tenant, agent):
        auth = bearer(tenant.admin_token)
        changed = await client.patch(
            "/api/v1/policy",
            headers=auth,
            json={
                "methods": ["email", "questions"],
                "questions_to_register": 1,
                "questions_to_ask": 1,
                "custom_questions": [own],
            },
        )
        assert changed.status_code == 200, changed.text
        (shown,) = changed.json()["custom_questions"]
        key = shown["id"]
        assert re.fullmatch(r"custom-[0-9a-f]{8}", key) and shown["en"] == own["en"]
        agent.outcomes.append((Outcome.OK, STATE))
        await sign_in(client)
        await confirm_by_mail(client, mail)
        page = await client.get(f"{BASE}/security/questions")
        assert f'<option value="{key}"' in page.text and own["en"] in page.text
        pt = await client.get(f"{BASE}/security/questions", headers={"Accept-Language": "pt-BR"})
        assert own["pt_br"] in pt.text
        done = await set_up_questions(client, ["Blue Lions"], [key])
        assert done.headers["location"] == f"{BASE}/security", done.text
        # the Portuguese text is edited: the question (and the answer) stay
        edited = await client.patch(
            "/api/v1/policy",
            headers=auth,
            json={
                "custom_questions": [{"en": own["en"], "pt_br": "Qual foi o seu primeiro time?"}]
            },
        )
        assert edited.json()["custom_questions"][0]["id"] == key

        async with httpx.AsyncClient(base_url=server.base_url) as browser:
            await browser.post(f"{BASE}/", data={"username": "jdoe"})
            page = await browser.get(f"{BASE}/method")
            await browser.post(f"{BASE}/method", data={"method": "questions", "csrf": csrf(page)})
            asked = await browser.get(f"{BASE}/questions", headers={"Accept-Language": "pt-BR"})
            assert "Qual foi o seu primeiro time?" in asked.text
            passed = await browser.post(
                f"{BASE}/questions", data={"answer": "blue  LIONS", "csrf": csrf(asked)}
            )
            assert passed.headers["location"] == f"{BASE}/password", passed.text

        bad = await client.patch(
            "/api/v1/policy",
            headers=auth,
            json={"custom_questions": [{"id": "custom-00000000", "en": own["en"]}]},
        )
        assert bad.status_code == 422 and "no custom question" in bad.text
        cleared = await client.patch("/api/v1/policy", headers=auth, json={"custom_questions": []})
        assert cleared.json()["custom_questions"] == []
