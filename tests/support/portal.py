"""Helpers of the portal's integration tests: a fake agent that answers rules
requests and operations by itself, the steps of the pages and form helpers."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from email.message import EmailMessage

import httpx
import pyotp
import sqlalchemy as sa

from passback.crypto.envelope import Opened
from passback.protocol.link import OperationReceived, Received
from passback.protocol.messages import Result, Rules, RulesRequest, SyncGroup, SyncRequest
from passback.protocol.operations import Operation
from passback.protocol.outcomes import Outcome
from passback.server.notify.phone_outbox import read_outbox
from passback.server.portal import registrations
from passback.server.store import create_engine, session_factory
from passback.server.store.models import DirectoryUser
from passback.server.tenants import CreatedTenant
from tests.support.server import TIMEOUT, AgentFactory, FakeAgent, RunningServer, sync, user

MAIL = "jdoe@acme.test"
NEW_PASSWORD = "Portal-Pa55word-9d2e"
BASE = "/portal/acme"
#: As an AD with the policy-hints control answers: history is checked on a reset.
RULES = Rules("", Outcome.OK, "pso:staff", 14, True, 24, 86400, 0, True, 256, True)

CSRF = re.compile(r'name="csrf" value="([^"]+)"')
#: The code mail's link, under the test server's public URL.
LINK = re.compile(r"https://sspr\.acme\.test(/portal/acme/code/[\w-]+)")
SUPPORT = re.compile(r"<code>([0-9a-f-]{36})</code>")


#: A status read's answer: an enabled account, not locked out, its password
#: set at a known time that never expires.
ACCOUNT: dict[str, int | str] = {
    "enabled": 1,
    "locked": 0,
    "must_change": 0,
    "password_set_at": 1_700_000_000,
    "password_expires_at": 0,
}


class AutoAgent:
    """Answers every rules request with ``rules``, every status read with
    ``account`` (none when it is None: an agent too old to know the read),
    and every other operation with the next of ``outcomes`` (OK when none is
    left); keeps the operations it opened, reads apart."""

    def __init__(self, agent: FakeAgent) -> None:
        self.agent = agent
        self.rules = RULES
        self.outcomes: list[tuple[Outcome, dict[str, int | str]]] = []
        self.opened: list[Opened] = []
        #: Rules requests answered.
        self.rules_asked = 0
        self.account: dict[str, int | str] | None = dict(ACCOUNT)
        #: A status read's outcome; its detail is ``account`` only when OK.
        self.account_outcome = Outcome.OK
        #: Status reads received.
        self.reads = 0
        #: Set when an operation arrives.
        self.received = asyncio.Event()
        #: Awaited before an operation is answered (the test acts meanwhile).
        self.before_answer: Callable[[], Awaitable[None]] | None = None
        #: Drop the link instead of answering the next operation (its outcome
        #: is then unknown to the server), and connect again.
        self.drop_next = False
        self.reconnected = asyncio.Event()

    async def run(self) -> None:
        while True:
            try:
                event = await self.agent.next_event()
            except TimeoutError:
                continue  # idle
            if isinstance(event, OperationReceived):
                opened = self.agent.open(event.envelope)
                if opened.metadata.operation is Operation.STATUS:
                    self.reads += 1
                    if self.account is not None:
                        rid, outcome = opened.metadata.request_id, self.account_outcome
                        detail = self.account if outcome is Outcome.OK else {}
                        await self.agent.send(Result(rid, outcome, detail, 31029))
                    continue
                self.opened.append(opened)
                self.received.set()
                if self.drop_next:
                    self.drop_next = False
                    await self.agent.close()
                    await self.agent.connect_ready()
                    self.reconnected.set()
                    continue
                if self.before_answer is not None:
                    await self.before_answer()
                outcome, detail = self.outcomes.pop(0) if self.outcomes else (Outcome.OK, {})
                event_id = 31002 if outcome is Outcome.OK else 31003
                await self.agent.send(Result(opened.metadata.request_id, outcome, detail, event_id))
            elif isinstance(event, Received) and isinstance(event.message, RulesRequest):
                self.rules_asked += 1
                answer = dataclasses.replace(self.rules, request_id=event.message.request_id)
                await self.agent.send(answer)
            elif isinstance(event, Received) and isinstance(event.message, SyncRequest):
                continue
            else:
                return  # closed


@contextlib.asynccontextmanager
async def portal_tenant(
    server: RunningServer,
    client: httpx.AsyncClient,
    make_agent: AgentFactory,
    *,
    mail: str | None = MAIL,
    mobile: str | None = None,
    telephone: str | None = None,
    groups: tuple[SyncGroup, ...] = (),
    member_of: tuple[str, ...] = (),
    features: tuple[str, ...] | None = None,
) -> AsyncIterator[tuple[CreatedTenant, AutoAgent]]:
    """A tenant "Acme" (slug ``acme``) whose agent is connected and answers,
    with the synced user ``jdoe`` (with the directory's ``mobile`` and
    ``telephone`` given, a member of the groups of SIDs ``member_of``), and
    the directory's ``groups``; the agent announces ``features``, all by default)."""
    tenant = server.create_tenant("Acme")
    agent = await make_agent(tenant)
    if features is not None:
        agent.features = features
    await agent.connect_ready()
    await agent.next_sync_request()
    jdoe = user("jdoe")
    jdoe = type(jdoe)(
        jdoe.anchor, "jdoe", "jdoe@acme.test", mail, True, mobile, telephone, member_of
    )
    await sync(agent, client, tenant, (jdoe,), groups=groups)
    auto = AutoAgent(agent)
    task = asyncio.create_task(auto.run())
    try:
        yield tenant, auto
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def csrf(page: httpx.Response) -> str:
    found = CSRF.search(page.text)
    assert found, page.text
    return found.group(1)


def mailed_link(message: EmailMessage) -> str:
    """The path of the link in a code mail."""
    found = LINK.search(message.get_content())
    assert found, message.get_content()
    return found.group(1)


def support_code(page: httpx.Response) -> str:
    found = SUPPORT.search(page.text)
    assert found, page.text
    return found.group(1)


async def start(client: httpx.AsyncClient, username: str = "jdoe") -> httpx.Response:
    response = await client.post(f"{BASE}/", data={"username": username})
    assert response.status_code == 303, response.text
    assert response.headers["location"] == f"{BASE}/code"
    return response


async def enter_code(client: httpx.AsyncClient, code: str) -> httpx.Response:
    page = await client.get(f"{BASE}/code")
    # 200, or the last try's error shown again on the form (PRG keeps the page)
    assert 'name="code"' in page.text, page.text
    return await client.post(f"{BASE}/code", data={"code": code, "csrf": csrf(page)})


async def set_password(
    client: httpx.AsyncClient, password: str = NEW_PASSWORD, confirm: str | None = None
) -> httpx.Response:
    page = await client.get(f"{BASE}/password")
    assert 'name="new_password"' in page.text, page.text  # the form (with the last error)
    # Post/Redirect/Get: the answer is the page the post redirects to.
    return await client.post(
        f"{BASE}/password",
        data={
            "new_password": password,
            "confirm_password": password if confirm is None else confirm,
            "csrf": csrf(page),
        },
        follow_redirects=True,
    )


def execute(server: RunningServer, sql: str) -> None:
    """Run one statement on the server's store and commit it."""
    engine = create_engine(server.database_url)
    try:
        with engine.begin() as connection:
            connection.execute(sa.text(sql))
    finally:
        engine.dispose()


def rows(server: RunningServer, sql: str) -> list[sa.Row[tuple[object, ...]]]:
    engine = create_engine(server.database_url)
    try:
        with engine.connect() as connection:
            return list(connection.execute(sa.text(sql)))
    finally:
        engine.dispose()


CURRENT_PASSWORD = "Current-Pa55word-4c1a"


async def sign_in(
    client: httpx.AsyncClient, username: str = "jdoe", password: str = CURRENT_PASSWORD
) -> httpx.Response:
    """Post the sign-in form; the redirect's answer (not followed)."""
    return await client.post(f"{BASE}/signin", data={"username": username, "password": password})


def field_error(page: httpx.Response, field: str) -> str:
    found = re.search(rf'<p class="field-error" id="{field}-error">([^<]*)</p>', page.text)
    assert found, page.text
    return found.group(1)


def from_address(server: RunningServer, address: str) -> httpx.AsyncClient:
    """A client whose connections come from ``address`` (127.0.0.0/8)."""
    return httpx.AsyncClient(
        base_url=server.base_url,
        timeout=TIMEOUT,
        transport=httpx.AsyncHTTPTransport(local_address=address),
    )


async def phoned(server: RunningServer, count: int = 1) -> list[dict[str, object]]:
    """The texts and calls in the server's outbox, once there are ``count``."""
    assert server.outbox is not None
    deadline = asyncio.get_running_loop().time() + TIMEOUT
    while True:
        found = read_outbox(server.outbox)
        if len(found) >= count or asyncio.get_running_loop().time() > deadline:
            return found
        await asyncio.sleep(0.02)


def phone_code(message: dict[str, object]) -> str:
    """The 8-digit code a text or a call carries (a call reads it digit by digit)."""
    digits = re.findall(r"\d", str(message["text"]).split(":", 1)[1])
    return "".join(digits[:8])


def register_authenticator(server: RunningServer, username: str = "jdoe") -> str:
    """Set up an authenticator for ``username`` as Security info does; its secret."""
    engine = create_engine(server.database_url)
    try:
        with session_factory(engine)() as db, db.begin():
            user = db.scalar(
                sa.select(DirectoryUser).where(DirectoryUser.sam_account_name == username)
            )
            assert user is not None
            earlier = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=60)
            secret = registrations.pending_totp(
                db, server.master_key, user.tenant_id, user.id, earlier
            )
            assert secret is not None
            code = pyotp.TOTP(secret).at(earlier)
            assert registrations.confirm_totp(
                db, server.master_key, user.tenant_id, user.id, code, earlier
            )
            return secret
    finally:
        engine.dispose()
