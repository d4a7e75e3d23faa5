"""The portal's limits hold under parallel requests, against the real server,
a fake agent on the real relay and a real SMTP server (SPEC W1, T1, T2, E2):
codes per flow (H1), one writeback at a time and a limit of them (H2),
code mails per user and the link mails past them, forms from other sites
(M4), retries after an unknown outcome (M5), and the words a portal user
reads (M7)."""

from __future__ import annotations

import asyncio
import datetime as dt
import time

import httpx
import pytest
import sqlalchemy as sa

from passback.demo.mailcatcher import find_code
from passback.protocol.outcomes import Outcome
from passback.server.portal import blocks, flow
from passback.server.portal.codes import CODE_DIGITS
from passback.server.store import create_engine
from tests.support.portal import (
    BASE,
    MAIL,
    NEW_PASSWORD,
    csrf,
    enter_code,
    from_address,
    mailed_link,
    portal_tenant,
    rows,
    set_password,
    start,
    support_code,
)
from tests.support.server import TIMEOUT, AgentFactory, RunningServer
from tests.support.smtp import MailCatcher


def execute(server: RunningServer, sql: str, **values: object) -> None:
    engine = create_engine(server.database_url)
    try:
        with engine.begin() as connection:
            connection.execute(sa.text(sql), values)
    finally:
        engine.dispose()


async def at_password_step(client: httpx.AsyncClient, mail: MailCatcher, count: int = 1) -> None:
    await start(client)
    code = await asyncio.to_thread(mail.code_for, MAIL, count)
    checked = await enter_code(client, code)
    assert checked.status_code == 303, checked.text


def password_form(page: httpx.Response) -> dict[str, str]:
    return {
        "new_password": NEW_PASSWORD,
        "confirm_password": NEW_PASSWORD,
        "csrf": csrf(page),
    }


async def test_parallel_codes_cannot_beat_the_limit(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory, mail: MailCatcher
) -> None:
    async with portal_tenant(server, client, make_agent):
        await start(client)
        code = await asyncio.to_thread(mail.code_for, MAIL)
        wrong = "00000000" if code != "00000000" else "11111111"
        token = csrf(await client.get(f"{BASE}/code"))
        answers = await asyncio.gather(
            *(client.post(f"{BASE}/code", data={"code": wrong, "csrf": token}) for _ in range(20))
        )
        statuses = [answer.status_code for answer in answers]
        assert statuses.count(422) == 4, statuses  # attempts 1-4: "attempts left"
        assert sum("Too many wrong codes" in answer.text for answer in answers) == 1
        assert set(statuses) == {422, 410}
        right = await client.post(f"{BASE}/code", data={"code": code, "csrf": token})
        assert right.status_code == 410  # the right code is too late now
    assert rows(server, "SELECT attempts, step FROM portal_flows") == [(5, "ended")]


async def test_parallel_passwords_write_once(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory, mail: MailCatcher
) -> None:
    async with portal_tenant(server, client, make_agent) as (_tenant, agent):
        await at_password_step(client, mail)
        form = password_form(await client.get(f"{BASE}/password"))
        gate = asyncio.Event()
        agent.before_answer = gate.wait  # the first writeback waits for the rest
        async with asyncio.timeout(4 * TIMEOUT):
            tasks = {
                asyncio.create_task(client.post(f"{BASE}/password", data=form)) for _ in "12345"
            }
            await agent.received.wait()
            others: list[httpx.Response] = []
            while len(tasks) > 1:
                done, tasks = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
                others += [task.result() for task in done]
            gate.set()
            won = await tasks.pop()
        # Post/Redirect/Get: the one that wrote goes on to the success page,
        # the others back to the form, which says why (one carried message,
        # checked in test_pages: here the five share one cookie jar).
        assert (won.status_code, won.headers["location"]) == (303, f"{BASE}/done"), won.text
        assert {(o.status_code, o.headers["location"]) for o in others} == {
            (303, f"{BASE}/password")
        }
    assert len(agent.opened) == 1  # one writeback, not five
    assert rows(server, "SELECT step, write_attempts FROM portal_flows") == [("done", 1)]


async def test_five_refused_passwords_end_the_flow(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory, mail: MailCatcher
) -> None:
    async with portal_tenant(server, client, make_agent) as (_tenant, agent):
        await at_password_step(client, mail)
        agent.outcomes = [(Outcome.TOO_SHORT, {"min_length": 14})] * flow.MAX_PASSWORD_ATTEMPTS
        for _ in range(flow.MAX_PASSWORD_ATTEMPTS - 1):
            refused = await set_password(client)
            assert refused.status_code == 422
            assert "at least 14 characters" in refused.text
        last = await set_password(client)
        assert last.status_code == 410
        assert "Too many attempts to set a new password: this reset has ended." in last.text
        assert 'name="new_password"' not in last.text
        assert (await client.get(f"{BASE}/password")).status_code == 410
    assert len(agent.opened) == flow.MAX_PASSWORD_ATTEMPTS


async def test_a_retry_after_an_unknown_outcome_reuses_the_request_id(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory, mail: MailCatcher
) -> None:
    async with portal_tenant(server, client, make_agent) as (_tenant, agent):
        await at_password_step(client, mail)
        agent.drop_next = True  # the link drops after the agent got the password
        unknown = await set_password(client)
        assert unknown.status_code == 504
        assert "We could not confirm whether your password was changed." in unknown.text
        assert "request id" not in unknown.text
        [(pending,)] = rows(server, "SELECT pending_request_id FROM portal_flows")
        assert pending == agent.opened[0].metadata.request_id
        async with asyncio.timeout(TIMEOUT):
            await agent.reconnected.wait()
        done = await set_password(client)
        assert done.status_code == 200, done.text
    first, retry = agent.opened
    assert retry.metadata.request_id == first.metadata.request_id  # the journal answers
    assert rows(server, "SELECT step, pending_request_id FROM portal_flows") == [("done", None)]


async def test_another_password_after_an_unknown_outcome_is_a_new_request(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory, mail: MailCatcher
) -> None:
    """The agent refuses the old request id with another password (it is not
    the same request); the portal then writes the new password under a new id,
    so the directory ends with the password the user typed last."""
    async with portal_tenant(server, client, make_agent) as (_tenant, agent):
        await at_password_step(client, mail)
        agent.drop_next = True
        assert (await set_password(client)).status_code == 504
        async with asyncio.timeout(TIMEOUT):
            await agent.reconnected.wait()
        agent.outcomes = [(Outcome.REPLAYED, {}), (Outcome.OK, {})]
        done = await set_password(client, "Another-Passw0rd!")
        assert done.status_code == 200, done.text
    first, replayed, fresh = agent.opened
    assert replayed.metadata.request_id == first.metadata.request_id
    assert fresh.metadata.request_id != first.metadata.request_id
    assert fresh.secrets == ("Another-Passw0rd!",)


async def test_portal_words_for_a_locked_or_vanished_account(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory, mail: MailCatcher
) -> None:
    async with portal_tenant(server, client, make_agent) as (_tenant, agent):
        await at_password_step(client, mail)
        agent.outcomes.append((Outcome.LOCKED, {}))
        locked = await set_password(client)
        assert locked.status_code == 409
        assert "Your account is locked. Contact your administrator" in locked.text
        assert "with unlock" not in locked.text
        # a reload shows the same page (the flow ended; no new support record)
        again = await client.get(f"{BASE}/password")
        assert again.status_code == 409 and support_code(again) == support_code(locked)

        client.cookies.clear()
        await at_password_step(client, mail, count=2)
        agent.outcomes.append((Outcome.USER_NOT_FOUND, {}))
        gone = await set_password(client)
        assert gone.status_code == 404
        assert "Your account could not be found in the directory." in gone.text
        assert "Check the account name" not in gone.text
        assert (await client.get(f"{BASE}/password")).status_code == 404  # the same page


async def test_a_refusal_after_the_flow_expired_is_shown(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory, mail: MailCatcher
) -> None:
    async with portal_tenant(server, client, make_agent) as (_tenant, agent):
        await at_password_step(client, mail)

        async def expire() -> None:  # while the directory is being asked
            past = (dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)).isoformat()
            await asyncio.to_thread(
                execute, server, "UPDATE portal_flows SET expires_at = :t", t=past
            )

        agent.before_answer = expire
        agent.outcomes.append((Outcome.TOO_SHORT, {"min_length": 14}))
        refused = await set_password(client)
        assert refused.status_code == 422, refused.text  # not a 500 (L1)
        assert "The password must be at least 14 characters long." in refused.text


async def wait_for_mail_limit_record(server: RunningServer, count: int) -> None:
    deadline = time.monotonic() + TIMEOUT  # the note is stored after the answer
    sql = "SELECT 1 FROM support_records WHERE error = 'mail_limit'"
    while len(rows(server, sql)) < count:
        assert time.monotonic() < deadline, "no support record of the mail cap"
        await asyncio.sleep(0.05)


async def test_a_flood_from_one_address_leaves_the_owner_their_codes(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory, mail: MailCatcher
) -> None:
    """Issue "Hardening" 5 (a), T1, T2: a stranger starting flows for a username
    from one address uses up only that address's code mails; the owner, from
    another address, still gets a code and resets."""
    async with (
        portal_tenant(server, client, make_agent),
        from_address(server, "127.0.0.2") as owner,
    ):
        pages = []
        for _ in range(blocks.MAX_RESET_STARTS):
            client.cookies.clear()
            await start(client)
            pages.append(await client.get(f"{BASE}/code"))
        # The capped answer is the very same page (T2).
        assert pages[-1].status_code == 200
        assert pages[-1].text.replace(csrf(pages[-1]), "") == pages[0].text.replace(
            csrf(pages[0]), ""
        )
        # Past the address's cap, one link mail (at most one in five minutes)
        await wait_for_mail_limit_record(server, blocks.MAX_RESET_STARTS - 4)
        sent = flow.MAX_MAILS_PER_USER_PER_CLIENT + 1
        assert len(mail.to(MAIL)) == sent
        # T1: a sixth start from this address for this username within the hour
        # blocks the address for it, and says until when
        client.cookies.clear()
        blocked = await client.post(f"{BASE}/", data={"username": "jdoe"})
        assert blocked.status_code == 429
        assert "Too many attempts for this account from your network" in blocked.text
        await start(owner)
        code = await asyncio.to_thread(mail.code_for, MAIL, sent + 1)
        assert (await enter_code(owner, code)).status_code == 303
        assert (await set_password(owner)).status_code == 200


async def test_many_addresses_get_a_bounded_number_of_codes(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory, mail: MailCatcher
) -> None:
    """Issue "Hardening" 5 (b), T1: an attacker spread over many addresses gets at
    most MAX_MAILS_PER_USER codes an hour for one user, so at most
    MAX_MAILS_PER_USER × MAX_CODE_ATTEMPTS guesses at 10**8 codes."""
    addresses = [f"127.0.0.{n}" for n in range(10, 10 + flow.MAX_MAILS_PER_USER + 4)]
    async with portal_tenant(server, client, make_agent):
        for address in addresses:
            async with from_address(server, address) as stranger:
                await start(stranger)
        await wait_for_mail_limit_record(server, 3)
    # Past the caps, one link mail: its code is not of a flow anyone started.
    assert len(mail.to(MAIL)) == flow.MAX_MAILS_PER_USER + 1
    started = "SELECT count(*) FROM portal_flows WHERE mailed AND who_hash IS NOT NULL"
    assert rows(server, started) == [(flow.MAX_MAILS_PER_USER,)]
    guesses = flow.MAX_MAILS_PER_USER * flow.MAX_CODE_ATTEMPTS
    assert guesses / 10**CODE_DIGITS < 1e-6  # the chance of a hit in an hour


async def test_strangers_past_the_caps_cannot_hold_the_owner_up(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory, mail: MailCatcher
) -> None:
    """T1 without a denial of service: strangers on four addresses use up the
    user's code mails for the hour, and one of them takes the link mail that
    goes past the caps. Its code opens nothing on the flow that asked for it;
    that flow's wrong codes and "send again" leave the link alone; and the
    owner, whose own start then sends nothing, resets through that link."""
    strangers = [f"127.0.0.{n}" for n in range(10, 14)]
    cap = flow.MAX_MAILS_PER_USER
    async with portal_tenant(server, client, make_agent):
        for n in range(cap):
            async with from_address(server, strangers[n // 3]) as stranger:
                await start(stranger)
                page = await stranger.get(f"{BASE}/code")  # the same for every username
                assert "If the mail asks you to open a page, type the code" in page.text
        await asyncio.to_thread(mail.wait_for, MAIL, cap)
        async with from_address(server, strangers[-1]) as stranger:
            await start(stranger)
            message = await asyncio.to_thread(mail.wait_for, MAIL, cap + 1)
            code, link = find_code(message), mailed_link(message)
            assert code and "open this page and type the code there" in message.get_content()
            again = await stranger.get(f"{BASE}/code")
            sent = await stranger.post(f"{BASE}/code/again", data={"csrf": csrf(again)})
            assert sent.status_code == 303
            for _ in range(flow.MAX_CODE_ATTEMPTS):
                await enter_code(stranger, code)
            ended = await stranger.get(f"{BASE}/code")
            assert ended.status_code == 410 and "This reset has ended" in ended.text
        async with from_address(server, "127.0.0.2") as owner:
            await start(owner)
            await wait_for_mail_limit_record(server, 2)  # "send again", the owner
            assert len(mail.to(MAIL)) == cap + 1
            page = await owner.get(link)
            lifetime = flow.LINK_CODE_LIFETIME.seconds // 60
            assert f"It works once, for {lifetime} minutes" in page.text
            assert "If the mail asks you to open a page" not in page.text  # it is that page
            passed = await owner.post(link, data={"code": code, "csrf": csrf(page)})
            assert passed.headers["location"] == f"{BASE}/password"
            assert (await set_password(owner)).status_code == 200


async def test_a_stranger_start_leaves_the_owner_flow_alone(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory, mail: MailCatcher
) -> None:
    """Issue "Hardening" 5: a start for the same username neither spoils the
    owner's code nor ends the owner's flow at the password step."""
    async with (
        portal_tenant(server, client, make_agent),
        from_address(server, "127.0.0.2") as stranger,
    ):
        await start(client)
        first = await asyncio.to_thread(mail.code_for, MAIL, 1)
        await start(stranger)
        assert (await enter_code(client, first)).status_code == 303
        await start(stranger)
        assert (await set_password(client)).status_code == 200
    steps = rows(server, "SELECT step, blocked FROM portal_flows ORDER BY created_at")
    assert steps == [("done", None), ("code", None), ("code", None)]


@pytest.mark.no_public_url
async def test_without_a_public_url_no_link_mail_is_promised_or_sent(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory, mail: MailCatcher
) -> None:
    """A link mail needs a link: past the caps nothing is sent, support says
    why, and the code page promises neither link mails nor their page."""
    async with portal_tenant(server, client, make_agent):
        for _ in range(flow.MAX_MAILS_PER_USER_PER_CLIENT + 1):
            client.cookies.clear()
            await start(client)
        page = await client.get(f"{BASE}/code")
        assert "If the mail asks you to open a page" not in page.text
        assert "no code is sent until the hour is over" in page.text
        await wait_for_mail_limit_record(server, 1)
    assert len(mail.to(MAIL)) == flow.MAX_MAILS_PER_USER_PER_CLIENT
    why = rows(server, "SELECT message FROM support_records WHERE error = 'mail_limit'")
    assert "no public URL (--public-url)" in str(why[0][0])


async def test_the_start_form_refuses_other_sites(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory, mail: MailCatcher
) -> None:
    async with portal_tenant(server, client, make_agent):
        for headers in (
            {"Sec-Fetch-Site": "cross-site"},
            {"Sec-Fetch-Site": "same-site"},
            {"Origin": "https://evil.test"},
            {"Origin": "null"},
        ):
            refused = await client.post(f"{BASE}/", data={"username": "jdoe"}, headers=headers)
            assert refused.status_code == 403, headers
            assert "sent from another site" in refused.text
            assert "set-cookie" not in refused.headers
        own = str(client.base_url).rstrip("/")
        same = {"Sec-Fetch-Site": "same-origin", "Origin": own}
        allowed = await client.post(f"{BASE}/", data={"username": "jdoe"}, headers=same)
        assert allowed.status_code == 303
        assert "samesite=lax" in allowed.headers["set-cookie"].lower()
        typed = await client.post(
            f"{BASE}/", data={"username": "jdoe"}, headers={"Sec-Fetch-Site": "none"}
        )
        assert typed.status_code == 303
        # What Chromium sends for the portal's own form when the page's referrer
        # policy hides the origin: Sec-Fetch-Site decides.
        hidden = {"Sec-Fetch-Site": "same-origin", "Origin": "null"}
        own_form = await client.post(f"{BASE}/", data={"username": "jdoe"}, headers=hidden)
        assert own_form.status_code == 303
        page = await client.get(f"{BASE}/")
        assert page.headers["referrer-policy"] == "same-origin"
        await asyncio.to_thread(mail.wait_for, MAIL, 3)
    assert rows(server, "SELECT count(*) FROM portal_flows") == [(3,)]
