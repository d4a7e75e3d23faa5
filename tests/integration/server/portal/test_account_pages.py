""" "My account" against the real server and a fake agent on the real relay
(SPEC U4, W3, T2, S7): sign-in, the account page, change, forced change,
sign-out, and the throttles. The directory's own answers are proven against
the real Samba DC in tests/integration/test_account_e2e.py."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from passback.protocol.operations import Operation
from passback.protocol.outcomes import Outcome
from passback.server.portal.account import FAILURE_FLOOR, MAX_ACCOUNT_FAILURES
from passback.server.portal.account_session import MAX_CHANGE_ATTEMPTS
from passback.server.services import RECORDS_PER_ADDRESS
from passback.server.store import create_engine
from tests.support.portal import (
    BASE,
    CURRENT_PASSWORD,
    NEW_PASSWORD,
    AutoAgent,
    csrf,
    field_error,
    portal_tenant,
    rows,
    sign_in,
    support_code,
)
from tests.support.server import AgentFactory, RunningServer

NOW = int(time.time())
STATE = {"locked": 0, "password_set_at": NOW - 86400, "password_expires_at": NOW + 30 * 86400}
WRONG = (Outcome.WRONG_PASSWORD, {})


async def test_sign_in_opens_my_account(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory
) -> None:
    async with portal_tenant(server, client, make_agent) as (_tenant, agent):
        form = await client.get(f"{BASE}/signin")
        assert form.status_code == 200
        assert 'autocomplete="current-password"' in form.text
        agent.outcomes.append((Outcome.OK, STATE))
        signed = await sign_in(client)
        assert (signed.status_code, signed.headers["location"]) == (303, f"{BASE}/account")
        [opened] = agent.opened
        assert opened.metadata.operation is Operation.VERIFY
        assert opened.secrets == (CURRENT_PASSWORD,)
        cookies = {c.split("=", 1)[0]: c for c in signed.headers.get_list("set-cookie")}
        session = cookies["passback_session"].lower()
        assert "httponly" in session and "samesite=strict" in session
        assert f"path={BASE}/" in session
        assert "max-age" not in session  # a browser session's cookie
        assert "max-age" in cookies["passback_device"].lower()

        page = await client.get(f"{BASE}/account")
        assert page.status_code == 200
        assert "<title>My account · Acme</title>" in page.text
        assert "jdoe" in page.text and "Not locked" in page.text
        assert "Password last set" in page.text and "Never" not in page.text
        assert f'href="{BASE}/change"' in page.text

        out = await client.post(f"{BASE}/signout", data={"csrf": csrf(page)})
        assert (out.status_code, out.headers["location"]) == (303, f"{BASE}/signin")
        again = await client.get(f"{BASE}/account", follow_redirects=True)
        assert again.url.path == f"{BASE}/signin"
        assert again.status_code == 401
        assert "You are not signed in" in again.text
    assert rows(server, "SELECT count(*) FROM account_sessions") == [(0,)]


async def test_unknown_user_and_wrong_password_answer_alike(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory
) -> None:
    """T2: the same words, status and (at least) time; neither signs in."""
    async with portal_tenant(server, client, make_agent) as (_tenant, agent):
        answers = []
        for username, outcome in (("jdoe", WRONG), ("nobody", None)):
            if outcome is not None:
                agent.outcomes.append(outcome)
            started = time.monotonic()
            posted = await sign_in(client, username, "Wrong-Pa55word")
            took = time.monotonic() - started
            assert took >= FAILURE_FLOOR
            assert (posted.status_code, posted.headers["location"]) == (303, f"{BASE}/signin")
            page = await client.get(f"{BASE}/signin")
            assert page.status_code == 401
            assert "<title>Error: Sign in to your account" in page.text
            assert field_error(page, "password").startswith(
                "The username or password is not correct"
            )
            kept = f'value="{username}"'
            assert kept in page.text  # the form keeps the username, never the password
            answers.append(page.text.replace(support_code(page), "").replace(kept, ""))
            # PRG: a reload shows the same page, with the same support code
            again = await client.get(f"{BASE}/signin")
            assert again.status_code == 401 and support_code(again) == support_code(page)
        assert answers[0] == answers[1]
        assert len(agent.opened) == 1  # only the known user's password reached the agent


async def test_sign_ins_and_changes_are_audit_events(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory
) -> None:
    """E5: every sign-in and change that reached a decision is an event of the
    user's with its outcome and support code (E2); a name that matches nobody
    is kept only keyed, never as typed (S7)."""
    async with portal_tenant(server, client, make_agent) as (tenant, agent):
        await sign_in(client, "no-such-person", "Wrong-Pa55word")
        agent.outcomes += [WRONG, (Outcome.OK, STATE)]
        await sign_in(client, "jdoe", "Wrong-Pa55word")
        shown = support_code(await client.get(f"{BASE}/signin"))
        await sign_in(client)
        form = await client.get(f"{BASE}/change")
        data = {
            "current_password": "Wrong-Pa55word",
            "new_password": NEW_PASSWORD,
            "confirm_password": NEW_PASSWORD,
            "csrf": csrf(form),
        }
        agent.outcomes += [WRONG, (Outcome.OK, {})]
        await client.post(f"{BASE}/change", data=data)
        done = await client.post(
            f"{BASE}/change", data={**data, "current_password": CURRENT_PASSWORD}
        )
        assert done.headers["location"] == f"{BASE}/account"
        events = rows(
            server,
            "SELECT activity, result, user_id, subject, detail_json FROM audit_events "
            f"WHERE tenant_id = '{tenant.tenant_id}' AND actor = 'user' ORDER BY at",
        )
    [(jdoe,)] = rows(server, "SELECT id FROM directory_users WHERE sam_account_name = 'jdoe'")
    assert [(a, r, u) for a, r, u, _, _ in events] == [
        ("sign_in", "failure", None),
        ("sign_in", "failure", jdoe),
        ("sign_in", "success", jdoe),
        ("change_password", "failure", jdoe),
        ("change_password", "success", jdoe),
    ]
    details = [json.loads(str(d)) for *_, d in events]
    assert [d["outcome"] for d in details] == [
        "user_not_found",
        "wrong_password",
        "ok",
        "wrong_password",
        "ok",
    ]
    # T2: the page's code is its own record, made as for a name that matches
    # nobody; the record names the check's own support code.
    [(note,)] = rows(server, f"SELECT note FROM support_records WHERE code = '{shown}'")
    assert details[1]["support_code"] in str(note)
    unknown = str(events[0][3])
    assert unknown and "no-such-person" not in unknown and "no-such-person" not in events[0][4]


async def known_to_the_account(owner: httpx.AsyncClient, agent: AutoAgent) -> None:
    """The owner signs in once from ``owner`` (it keeps the device token),
    then leaves the session."""
    agent.outcomes.append((Outcome.OK, STATE))
    assert (await sign_in(owner)).headers["location"] == f"{BASE}/account"
    owner.cookies.delete("passback_session")


async def test_failed_sign_ins_are_throttled_per_account_not_for_the_owners_browser(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory
) -> None:
    async with (
        portal_tenant(server, client, make_agent) as (_tenant, agent),
        httpx.AsyncClient(base_url=server.base_url) as owner,
    ):
        await known_to_the_account(owner, agent)
        # A stranger fails up to the account's limit, then is told to wait
        # without the directory being asked (its lockout is not driven further).
        agent.outcomes += [WRONG] * MAX_ACCOUNT_FAILURES
        for _ in range(MAX_ACCOUNT_FAILURES):
            await sign_in(client, "jdoe", "Guess-Pa55word")
        asked = len(agent.opened)
        await sign_in(client, "jdoe", "Guess-Pa55word")
        page = await client.get(f"{BASE}/signin")
        assert page.status_code == 429
        assert "Too many failed sign-ins for this account" in page.text
        assert len(agent.opened) == asked
        # The owner's browser keeps its own count: still signs in.
        agent.outcomes.append((Outcome.OK, STATE))
        assert (await sign_in(owner)).headers["location"] == f"{BASE}/account"
        # A forged device token is not the owner's.
        client.cookies.set("passback_device", "x.y.z", path=f"{BASE}/")
        await sign_in(client, "jdoe", "Guess-Pa55word")
        assert (await client.get(f"{BASE}/signin")).status_code == 429


async def test_past_the_address_budget_no_wrong_password_shows_a_support_code(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory
) -> None:
    """T2: a known name's wrong password and an unknown name's show a support
    code alike, within the address's record budget, and none past it."""
    async with portal_tenant(server, client, make_agent) as (_tenant, agent):
        foreign = {"Origin": "https://elsewhere.example"}
        for _ in range(RECORDS_PER_ADDRESS):  # the budget, spent on refused forms
            await client.post(f"{BASE}/", data={"username": "jdoe"}, headers=foreign)
        agent.outcomes.append(WRONG)
        for name in ("jdoe", "no-such-person"):
            await sign_in(client, name, "Guess-Pa55word")
            page = await client.get(f"{BASE}/signin")
            assert page.status_code == 401 and "Support code" not in page.text


async def test_near_the_lockout_a_stranger_reads_a_wrong_password_the_owner_why(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory
) -> None:
    """U4, T2: the agent did not bind (the account is near its lockout in the
    directory). A browser the account never used reads a wrong password, as
    for a name that matches nobody; the owner's own browser (its device
    token) reads why, and the try does not count against it."""
    async with (
        portal_tenant(server, client, make_agent) as (_tenant, agent),
        httpx.AsyncClient(base_url=server.base_url) as owner,
    ):
        await known_to_the_account(owner, agent)
        near = (Outcome.NEAR_LOCKOUT, {})
        agent.outcomes += [near, near]
        await sign_in(client)
        assert agent.opened[-1].metadata.owner is False  # the agent keeps the reserve
        stranger = await client.get(f"{BASE}/signin")
        assert field_error(stranger, "password").startswith("The username or password is not")
        await sign_in(owner)
        assert agent.opened[-1].metadata.owner is True  # its own browser: none kept
        shown = await owner.get(f"{BASE}/signin")
        assert shown.status_code == 409
        assert "one more could lock it out" in shown.text
        agent.outcomes += [(Outcome.OK, STATE)]
        assert (await sign_in(owner)).headers["location"] == f"{BASE}/account"


async def test_change_with_the_current_password(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory
) -> None:
    async with portal_tenant(server, client, make_agent) as (_tenant, agent):
        agent.outcomes.append((Outcome.OK, STATE))
        await sign_in(client)
        form = await client.get(f"{BASE}/change")
        assert form.status_code == 200
        assert 'name="current_password"' in form.text
        assert "Not one of your last 24 passwords" in form.text  # a change checks history
        data = {
            "current_password": "Wrong-Pa55word",
            "new_password": NEW_PASSWORD,
            "confirm_password": NEW_PASSWORD,
            "csrf": csrf(form),
        }
        # no CSRF token: refused before anything is sent
        forged = await client.post(f"{BASE}/change", data={**data, "csrf": "x"})
        assert forged.status_code == 303
        assert (await client.get(f"{BASE}/change")).status_code == 403
        agent.outcomes.append(WRONG)
        wrong = await client.post(f"{BASE}/change", data=data)
        assert (wrong.status_code, wrong.headers["location"]) == (303, f"{BASE}/change")
        page = await client.get(f"{BASE}/change")
        assert page.status_code == 422
        assert field_error(page, "current_password") == "Your current password is not correct."
        assert 'id="current_password" name="current_password"' in page.text
        assert "autofocus" in page.text.split('id="current_password"')[1].split(">")[0]

        agent.outcomes.append((Outcome.TOO_YOUNG, {"retry_after": "2031-05-04T10:20:30+00:00"}))
        await client.post(f"{BASE}/change", data={**data, "current_password": CURRENT_PASSWORD})
        page = await client.get(f"{BASE}/change")
        assert "can be changed again after May 4, 2031" in field_error(page, "new_password")

        done = await client.post(
            f"{BASE}/change", data={**data, "current_password": CURRENT_PASSWORD}
        )
        assert (done.status_code, done.headers["location"]) == (303, f"{BASE}/account")
        account = await client.get(f"{BASE}/account")
        assert "Your password was changed" in account.text
        change = agent.opened[-1]
        assert change.metadata.operation is Operation.CHANGE
        assert change.secrets == (NEW_PASSWORD, CURRENT_PASSWORD)  # new first


async def test_change_checks_its_fields_and_ends_the_session_after_its_attempts(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory
) -> None:
    """Empty or differing fields are refused before an attempt is counted; the
    attempts are counted before the agent is asked, and when they are used up
    the session ends. A success's operation record is written with the session."""
    async with portal_tenant(server, client, make_agent) as (_tenant, agent):
        agent.outcomes.append((Outcome.OK, STATE))
        await sign_in(client)
        form = await client.get(f"{BASE}/change")
        data = {
            "current_password": CURRENT_PASSWORD,
            "new_password": NEW_PASSWORD,
            "confirm_password": NEW_PASSWORD,
            "csrf": csrf(form),
        }
        for field, value, error in (
            ("current_password", "", "Enter your current password."),
            ("new_password", "", "Enter the new password."),
            ("confirm_password", "Other-Pa55word", "The two passwords are not the same."),
        ):
            await client.post(f"{BASE}/change", data={**data, field: value})
            page = await client.get(f"{BASE}/change")
            assert error in field_error(page, field)
        assert rows(server, "SELECT change_attempts FROM account_sessions") == [(0,)]
        agent.outcomes.append((Outcome.OK, {}))
        done = await client.post(f"{BASE}/change", data=data)
        assert done.headers["location"] == f"{BASE}/account"
        ok = "SELECT operation, outcome FROM operations WHERE outcome = 'ok' ORDER BY created_at"
        assert rows(server, ok) == [("verify", "ok"), ("change", "ok")]
        for _ in range(MAX_CHANGE_ATTEMPTS):
            agent.outcomes.append(WRONG)
            await client.post(f"{BASE}/change", data=data)
        ended = await client.post(f"{BASE}/change", data=data)
        assert ended.status_code == 303
        assert len(agent.opened) == 2 + MAX_CHANGE_ATTEMPTS  # the last one never left
        assert rows(server, "SELECT count(*) FROM account_sessions") == [(0,)]


@pytest.mark.parametrize(
    ("outcome", "why"),
    [
        (Outcome.MUST_CHANGE, "requires a new password before you sign in"),  # 773
        (Outcome.PASSWORD_EXPIRED, "Your password has expired."),  # 532
    ],
)
async def test_forced_change_asks_the_password_once_and_signs_in(
    server: RunningServer,
    client: httpx.AsyncClient,
    make_agent: AgentFactory,
    outcome: Outcome,
    why: str,
) -> None:
    async with portal_tenant(server, client, make_agent) as (_tenant, agent):
        agent.outcomes.append((outcome, {"password_set_at": 0, "locked": 0}))
        signed = await sign_in(client)
        assert signed.headers["location"] == f"{BASE}/change"
        # S7: the password typed at sign-in is kept only sealed
        [(sealed,)] = rows(server, "SELECT sealed_password FROM account_sessions")
        assert CURRENT_PASSWORD.encode() not in sealed
        assert CURRENT_PASSWORD.encode("utf-16-le") not in sealed
        # not signed in yet: My account leads back to the change
        early = await client.get(f"{BASE}/account")
        assert (early.status_code, early.headers["location"]) == (303, f"{BASE}/change")
        form = await client.get(f"{BASE}/change")
        assert 'name="current_password"' not in form.text
        assert why in form.text
        done = await client.post(
            f"{BASE}/change",
            data={
                "new_password": NEW_PASSWORD,
                "confirm_password": NEW_PASSWORD,
                "csrf": csrf(form),
            },
        )
        assert done.headers["location"] == f"{BASE}/account"
        assert agent.opened[-1].secrets == (NEW_PASSWORD, CURRENT_PASSWORD)
        account = await client.get(f"{BASE}/account")
        assert account.status_code == 200 and "Must be changed now" not in account.text
        assert rows(server, "SELECT state, sealed_password FROM account_sessions") == [
            ("signed_in", None)
        ]
        # Without the cookie's token the sealed password could not be opened.
    database = Path(server.database_url.removeprefix("sqlite:///"))
    stored = b"".join(p.read_bytes() for p in database.parent.glob(database.name + "*"))
    for secret in (CURRENT_PASSWORD, NEW_PASSWORD):
        assert secret.encode() not in stored


@pytest.mark.parametrize(
    ("outcome", "text"),
    [
        (Outcome.DISABLED, "Your account is disabled."),
        (Outcome.ACCOUNT_EXPIRED, "Your account has expired."),
    ],
)
async def test_an_account_that_cannot_sign_in_says_why(
    server: RunningServer,
    client: httpx.AsyncClient,
    make_agent: AgentFactory,
    outcome: Outcome,
    text: str,
) -> None:
    async with portal_tenant(server, client, make_agent) as (_tenant, agent):
        agent.outcomes.append((outcome, {}))
        await sign_in(client)
        page = await client.get(f"{BASE}/signin")
        assert page.status_code == 409
        assert text in page.text
        code = support_code(page)
        [(error, request_id)] = rows(
            server, f"SELECT error, request_id FROM support_records WHERE code='{code}'"
        )
        assert error == outcome.value and request_id


async def test_a_locked_account_answers_like_a_wrong_password(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory
) -> None:
    """T2: the directory says "locked" to any password, so the portal does not
    repeat it (that would tell a stranger the account exists); the shared
    words point to the unlock."""
    async with portal_tenant(server, client, make_agent) as (_tenant, agent):
        agent.outcomes.append((Outcome.LOCKED, {}))
        await sign_in(client)
        page = await client.get(f"{BASE}/signin")
        assert page.status_code == 401
        assert "or the account is locked" in field_error(page, "password")
        assert f'href="{BASE}/unlock"' in page.text


async def test_parallel_sign_ins_cannot_pass_the_account_limit(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory
) -> None:
    """Each attempt is counted before the directory is asked: twenty at once
    reach the directory no more than the limit allows."""
    async with portal_tenant(server, client, make_agent) as (_tenant, agent):
        agent.outcomes += [WRONG] * 20
        await asyncio.gather(*(sign_in(client, "jdoe", "Guess-Pa55word") for _ in range(20)))
        assert len(agent.opened) == MAX_ACCOUNT_FAILURES


async def test_a_session_ends_when_idle(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory
) -> None:
    async with portal_tenant(server, client, make_agent) as (_tenant, agent):
        agent.outcomes.append((Outcome.OK, STATE))
        await sign_in(client)
        assert (await client.get(f"{BASE}/account")).status_code == 200
        engine = create_engine(server.database_url)
        with engine.begin() as connection:
            connection.execute(
                sa.text("UPDATE account_sessions SET last_seen_at = :t"),
                {"t": "2000-01-01 00:00:00.000000"},
            )
        engine.dispose()
        gone = await client.get(f"{BASE}/account")
        assert (gone.status_code, gone.headers["location"]) == (303, f"{BASE}/signin")


async def test_a_directory_that_cannot_be_asked_is_not_a_wrong_password(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory
) -> None:
    async with portal_tenant(server, client, make_agent) as (_tenant, agent):
        agent.outcomes += [(Outcome.DIRECTORY_UNAVAILABLE, {})] * (MAX_ACCOUNT_FAILURES + 1)
        for _ in range(MAX_ACCOUNT_FAILURES + 1):  # an outage counts no failure
            await sign_in(client)
            page = await client.get(f"{BASE}/signin")
            assert page.status_code == 503
            assert "can&#39;t be checked right now" in page.text


async def test_switching_language_keeps_the_page_and_its_support_code(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory
) -> None:
    """An error page (here: a refused sign-in) in another language is the same
    page: the same words, translated, and the same support code, no new record."""
    async with portal_tenant(server, client, make_agent) as (_tenant, agent):
        agent.outcomes.append(WRONG)
        await sign_in(client, "jdoe", "Wrong-Pa55word")
        english = await client.get(f"{BASE}/signin")
        portuguese = await client.get(f"{BASE}/signin?lang=pt-BR")
        assert portuguese.status_code == english.status_code == 401
        assert "não estão corretos" in field_error(portuguese, "password")
        assert support_code(portuguese) == support_code(english)
        assert rows(server, "SELECT count(*) FROM support_records") == [(1,)]
