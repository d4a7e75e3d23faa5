"""The admin-reset use-case against a fake router and a real SQLite store."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy.orm import Session, sessionmaker

from passback.crypto.envelope import open_envelope, read_metadata
from passback.crypto.keys import PackageKey, generate_private_key, public_key_to_pem
from passback.protocol.features import Feature
from passback.protocol.messages import Result, SyncUser
from passback.protocol.operations import Operation
from passback.protocol.outcomes import Outcome
from passback.server.agents import onboard_agent
from passback.server.errors import (
    AgentLost,
    AgentUnavailable,
    Conflict,
    NotEntitled,
    NotFound,
    ReplyTimeout,
    RequestBusy,
    ServiceUnavailable,
    Unprocessable,
)
from passback.server.services import Services
from passback.server.settings import ServerSettings
from passback.server.store import create_engine, session_factory, upgrade
from passback.server.store.models import DirectoryUser, OperationRecord, Tenant, utcnow
from passback.server.sync import upsert_users
from passback.server.tenants import create_tenant, new_onboarding_token, set_banned
from passback.server.types import Outbound, ReplyT
from passback.server.writeback import (
    UserId,
    WritebackResult,
    change_password,
    record_success,
    reset_password,
    verify_password,
    write_account,
)
from tests.support.keys import TEST_MASTER_KEY

PASSWORD = "Marker-Pa55word-7f3c"
NOW = 1_700_000_000
ANCHOR = base64.urlsafe_b64encode(b"\x01" * 16).decode().rstrip("=")


@pytest.fixture(scope="module")
def private_key() -> rsa.RSAPrivateKey:
    return generate_private_key()


class FakeRouter:
    """Answers each agent as told: a Result outcome, or an exception to raise."""

    def __init__(self) -> None:
        self.agents: list[str] = []
        #: What each agent announced; an agent not named here announced everything.
        self.announced: dict[str, frozenset[str]] = {}
        self.behaviour: dict[str, Outcome | Exception] = {}
        self.requests: list[tuple[str, str, str, bytes]] = []
        self.on_request: Callable[[], None] = lambda: None  # called as each envelope leaves

    async def present(self, tenant_id: str, needs: frozenset[str] = frozenset()) -> list[str]:
        features = await self.features(tenant_id)
        return [a for a in self.agents if needs <= features[a]]

    async def features(self, tenant_id: str) -> dict[str, frozenset[str]]:
        every = frozenset(f.value for f in Feature)
        return {a: self.announced.get(a, every) for a in self.agents}

    async def send(self, tenant_id: str, agent_id: str, message: Outbound) -> None:
        raise NotImplementedError

    async def request(
        self,
        tenant_id: str,
        agent_id: str,
        request_id: str,
        message: Outbound,
        reply: type[ReplyT],
        timeout: float,
    ) -> ReplyT:
        assert isinstance(message, bytes)
        self.requests.append((tenant_id, agent_id, request_id, message))
        self.on_request()
        what = self.behaviour.get(agent_id, Outcome.OK)
        if isinstance(what, Exception):
            raise what
        answer = Result(request_id, what, detail={"min_length": 12}, event_id=31009)
        assert isinstance(answer, reply)
        return answer


@dataclasses.dataclass
class World:
    sessions: sessionmaker[Session]
    hub: FakeRouter
    settings: ServerSettings
    tenant_id: str
    other_tenant_id: str
    agents: list[str]
    package_keys: dict[str, PackageKey]
    db_path: Path

    def __post_init__(self) -> None:
        self.services = Services(self.settings, self.sessions, self.hub, TEST_MASTER_KEY)

    async def reset(
        self, user: str = "jdoe", password: str = PASSWORD, **kw: object
    ) -> WritebackResult:
        return await reset_password(
            Operation.ADMIN_RESET,
            services=self.services,
            tenant_id=kw.pop("tenant_id", self.tenant_id),  # type: ignore[arg-type]
            user=user,
            new_password=password,
            clock=lambda: dt.datetime.fromtimestamp(NOW, dt.UTC),
            **kw,  # type: ignore[arg-type]
        )

    async def write_account(
        self, operation: Operation, user: str = "jdoe", **kw: object
    ) -> WritebackResult:
        return await write_account(
            operation,
            services=self.services,
            tenant_id=self.tenant_id,
            user=user,
            clock=lambda: dt.datetime.fromtimestamp(NOW, dt.UTC),
            **kw,  # type: ignore[arg-type]
        )

    async def records(self) -> list[OperationRecord]:
        """Every record, once what is recorded after the answer is in."""
        await self.services.deferred.drain()
        return self.stored()

    def stored(self) -> list[OperationRecord]:
        with self.sessions() as db:
            return list(db.scalars(sa.select(OperationRecord)))


@pytest.fixture
def world(tmp_path: Path, private_key: rsa.RSAPrivateKey) -> Iterator[World]:
    path = tmp_path / "store.db"
    url = f"sqlite:///{path}"
    upgrade(url)
    engine = create_engine(url)
    sessions = session_factory(engine)
    pem = public_key_to_pem(private_key.public_key())
    with sessions() as db, db.begin():
        tenant = create_tenant(db, "Acme", master_key=TEST_MASTER_KEY)
        other = create_tenant(db, "Other", master_key=TEST_MASTER_KEY)
        agents = []
        for name in ("a1", "a2"):
            token = new_onboarding_token(db, tenant.tenant_id)
            onboarded = onboard_agent(
                db, token, name=name, public_key_pem=pem, software="t", master_key=TEST_MASTER_KEY
            )
            agents.append(onboarded.agent_id)
        keys = {onboarded.package_key.key_id: onboarded.package_key}
        user = SyncUser(ANCHOR, "JDoe", "jdoe@acme.test", None, True)
        upsert_users(db, tenant.tenant_id, [user], utcnow())
        second = SyncUser("Ag", "other", None, None, True)
        upsert_users(db, tenant.tenant_id, [second], utcnow())
        upsert_users(db, other.tenant_id, [SyncUser("Aw", "bob", None, None, True)], utcnow())
    hub = FakeRouter()
    hub.agents = list(agents)
    settings = ServerSettings(url, operation_ttl=300)
    yield World(sessions, hub, settings, tenant.tenant_id, other.tenant_id, agents, keys, path)
    engine.dispose()


async def test_ok_seals_for_the_agent(world: World, private_key: rsa.RSAPrivateKey) -> None:
    result = await world.reset(unlock=True)
    assert result.outcome is Outcome.OK
    assert result.agent_id == world.agents[0]
    [(tenant, agent, request_id, envelope)] = world.hub.requests
    opened = open_envelope(
        envelope, agent_key=private_key, package_keys=world.package_keys, now=NOW
    )
    meta = opened.metadata
    assert opened.secrets == (PASSWORD,)
    assert (meta.tenant_id, meta.agent_id, meta.request_id) == (tenant, agent, request_id)
    assert meta.operation is Operation.ADMIN_RESET
    assert meta.anchor == b"\x01" * 16
    assert (meta.issued_at, meta.expires_at, meta.unlock) == (NOW, NOW + 300, True)
    [record] = await world.records()
    assert (record.outcome, record.agent_id, record.event_id) == ("ok", agent, 31009)
    assert record.support_code == result.support_code
    assert PASSWORD.encode() not in world.db_path.read_bytes()


@pytest.mark.parametrize("name", ["jdoe", "JDOE", "jdoe@ACME.test"])
async def test_user_by_name_or_upn(world: World, name: str) -> None:
    assert (await world.reset(name)).outcome is Outcome.OK


async def test_user_by_id(world: World) -> None:
    with world.sessions() as db:
        user_id = db.scalar(sa.select(DirectoryUser.id).where(DirectoryUser.anchor == ANCHOR))
    assert user_id is not None
    assert (await world.reset(user_id)).outcome is Outcome.OK


async def test_a_resolved_user_is_found_by_its_id_alone(world: World) -> None:
    """The portal passes the user it resolved (``UserId``): looked up as an id
    only, never as an account name or UPN that happens to equal it."""
    with world.sessions() as db:
        user_id = db.scalar(sa.select(DirectoryUser.id).where(DirectoryUser.anchor == ANCHOR))
    assert user_id is not None
    assert (await world.reset(UserId(user_id))).outcome is Outcome.OK  # type: ignore[arg-type]
    with pytest.raises(NotFound):
        await world.reset(UserId("jdoe"))  # type: ignore[arg-type]
    other = await world.reset("bob", tenant_id=world.other_tenant_id)  # bob's own tenant
    with world.sessions() as db:
        bob = db.scalar(sa.select(DirectoryUser.id).where(DirectoryUser.sam_account_name == "bob"))
    assert other.outcome is Outcome.SERVICE_UNAVAILABLE and bob is not None
    with pytest.raises(NotFound):
        await world.reset(UserId(bob))  # type: ignore[arg-type]  # another tenant's user


async def test_unlock_defaults_to_the_tenant_setting(world: World) -> None:
    await world.reset()
    assert read_metadata(world.hub.requests[0][3]).unlock is True
    await world.reset(unlock=False)
    assert read_metadata(world.hub.requests[1][3]).unlock is False


@pytest.mark.parametrize(("password", "code"), [("", "empty"), ("a\0b", "invalid")])
async def test_password_refused_before_anything(world: World, password: str, code: str) -> None:
    with pytest.raises(Unprocessable) as caught:
        await world.reset(password=password)
    assert caught.value.code == code
    assert world.hub.requests == []


async def test_too_long_is_an_outcome(world: World) -> None:
    result = await world.reset(password="x" * 257)
    assert result.outcome is Outcome.TOO_LONG
    assert world.hub.requests == []


@pytest.mark.parametrize(
    ("password", "reason"),
    [("Summer2026!", "common"), ("P@ssw0rd1", "common"), ("Acme-2026!x", "banned_word")],
)
async def test_common_password_is_an_outcome(world: World, password: str, reason: str) -> None:
    result = await world.reset(password=password)
    assert result.outcome is Outcome.COMMON_PASSWORD
    assert result.detail == {"reason": reason}
    assert world.hub.requests == []
    assert await world.records() == []


async def test_banned_words_and_the_setting_are_the_tenants(world: World) -> None:
    with world.sessions() as db, db.begin():
        set_banned(db, world.tenant_id, banned_words=["Roadrunner"])
    assert (await world.reset(password="R0adrunner-beep-9")).outcome is Outcome.COMMON_PASSWORD
    other = await world.reset("bob", password="R0adrunner-beep-9", tenant_id=world.other_tenant_id)
    assert other.outcome is Outcome.SERVICE_UNAVAILABLE  # not banned there; no agent
    with world.sessions() as db, db.begin():
        set_banned(db, world.tenant_id, refuse_common=False)
    assert (await world.reset(password="Summer2026!")).outcome is Outcome.OK


async def test_unknown_user(world: World) -> None:
    with pytest.raises(NotFound) as caught:
        await world.reset("nobody")
    assert caught.value.code == "user_not_found"


async def test_other_tenants_user_is_not_found(world: World) -> None:
    with pytest.raises(NotFound):
        await world.reset("bob")


async def test_request_ids_are_each_tenants_own(world: World) -> None:
    """Issue "Hardening" 13: a request id another tenant used is no conflict here
    (nothing tells one tenant that another used it), and each keeps its record."""
    request_id = str(uuid.uuid4())
    theirs = await world.reset("bob", request_id=request_id, tenant_id=world.other_tenant_id)
    mine = await world.reset(request_id=request_id)
    assert theirs.outcome is Outcome.SERVICE_UNAVAILABLE  # that tenant has no agent here
    assert mine.outcome is Outcome.OK
    assert theirs.support_code != mine.support_code
    assert {(r.tenant_id, r.request_id) for r in (await world.records())} == {
        (world.other_tenant_id, request_id),
        (world.tenant_id, request_id),
    }


async def test_no_agent_present(world: World) -> None:
    world.hub.agents = []
    result = await world.reset()
    assert result.outcome is Outcome.SERVICE_UNAVAILABLE
    assert world.hub.requests == []
    [record] = await world.records()
    assert record.outcome == "service_unavailable"


async def test_must_change_goes_only_to_an_agent_that_announced_it(world: World) -> None:
    """protocol.features: an older agent would refuse the envelope's flag."""
    old, new = world.agents[0], world.agents[1]
    world.hub.announced[old] = frozenset()
    result = await world.reset(must_change=True)
    assert result.outcome is Outcome.OK
    assert [r[1] for r in world.hub.requests] == [new]
    assert read_metadata(world.hub.requests[0][3]).must_change


async def test_must_change_with_only_old_agents_is_refused_before_sealing(world: World) -> None:
    for agent in world.agents:
        world.hub.announced[agent] = frozenset({Feature.GROUPS.value})
    with pytest.raises(ServiceUnavailable) as refused:
        await world.reset(must_change=True)
    assert refused.value.code == "agent_too_old" and "upgrade the agents" in str(refused.value)
    assert world.hub.requests == []
    assert (await world.reset()).outcome is Outcome.OK  # without it, any agent will do


async def test_unavailable_agent_falls_over_to_another(world: World) -> None:
    world.hub.behaviour[world.agents[0]] = AgentUnavailable("gone")
    result = await world.reset()
    assert result.outcome is Outcome.OK
    assert [r[1] for r in world.hub.requests] == world.agents
    assert read_metadata(world.hub.requests[1][3]).agent_id == world.agents[1]


async def test_all_unavailable(world: World) -> None:
    for agent in world.agents:
        world.hub.behaviour[agent] = AgentUnavailable("gone")
    assert (await world.reset()).outcome is Outcome.SERVICE_UNAVAILABLE


@pytest.mark.parametrize("error", [AgentLost("dropped"), ReplyTimeout("slow")])
async def test_lost_or_late_is_unknown(world: World, error: Exception) -> None:
    world.hub.behaviour[world.agents[0]] = error
    result = await world.reset()
    assert result.outcome is Outcome.OUTCOME_UNKNOWN
    assert len(world.hub.requests) == 1  # never sent to a second agent
    assert (await world.records())[0].outcome == "outcome_unknown"


async def test_retry_goes_to_the_same_agent(world: World) -> None:
    request_id = str(uuid.uuid4())
    world.hub.behaviour[world.agents[0]] = AgentUnavailable("gone")
    first = await world.reset(request_id=request_id)
    assert first.agent_id == world.agents[1]
    world.hub.behaviour.clear()
    world.hub.agents = list(reversed(world.agents))
    second = await world.reset(request_id=request_id)
    assert second.agent_id == world.agents[1]
    assert second.support_code == first.support_code
    envelopes = [r[3] for r in world.hub.requests]
    assert len(set(envelopes)) == len(envelopes)  # freshly sealed each time
    assert {read_metadata(e).request_id for e in envelopes} == {request_id}


async def test_retry_waits_for_its_agent(world: World) -> None:
    """The agent that had a request holds its journal; another agent would write
    the password again (L4). Without it the retry is still "outcome unknown",
    never the "not written" of service_unavailable (issue "Hardening" 6)."""
    request_id = str(uuid.uuid4())
    world.hub.behaviour[world.agents[0]] = AgentLost("dropped after receiving it")
    first = await world.reset(request_id=request_id)
    assert (first.outcome, first.agent_id) == (Outcome.OUTCOME_UNKNOWN, world.agents[0])
    world.hub.behaviour.clear()
    world.hub.agents = [world.agents[1]]  # the first agent is gone
    for _ in range(2):
        retry = await world.reset(request_id=request_id)
        assert (retry.outcome, retry.agent_id) == (Outcome.OUTCOME_UNKNOWN, world.agents[0])
        assert retry.support_code == first.support_code
    assert [r[1] for r in world.hub.requests] == [world.agents[0]]
    world.hub.agents = list(world.agents)  # back: its journal settles it
    settled = await world.reset(request_id=request_id)
    assert (settled.outcome, settled.agent_id) == (Outcome.OK, world.agents[0])


async def test_retry_of_a_written_request_without_its_agent_is_unknown(world: World) -> None:
    """The first answer was "ok"; a retry cannot be checked without the agent
    (the password may differ), so it is "unknown", not "not written"."""
    request_id = str(uuid.uuid4())
    assert (await world.reset(request_id=request_id)).outcome is Outcome.OK
    world.hub.agents = []
    retry = await world.reset(request_id=request_id)
    assert retry.outcome is Outcome.OUTCOME_UNKNOWN


async def test_retry_of_an_undelivered_request_without_agents_is_unavailable(
    world: World,
) -> None:
    request_id = str(uuid.uuid4())
    world.hub.agents = []
    assert (await world.reset(request_id=request_id)).outcome is Outcome.SERVICE_UNAVAILABLE
    retry = await world.reset(request_id=request_id)
    assert retry.outcome is Outcome.SERVICE_UNAVAILABLE  # nothing was ever sent


async def test_the_record_names_the_agent_before_the_envelope_leaves(world: World) -> None:
    """From then on the request is in doubt until its outcome is recorded."""
    world.hub.behaviour[world.agents[0]] = AgentUnavailable("gone")
    named: list[tuple[str | None, str | None]] = []
    world.hub.on_request = lambda: named.extend((r.agent_id, r.outcome) for r in world.stored())
    await world.reset()
    assert named == [(world.agents[0], None), (world.agents[1], None)]
    [record] = await world.records()
    assert (record.agent_id, record.outcome) == (world.agents[1], "ok")


async def test_delivered_nowhere_the_record_names_no_agent(world: World) -> None:
    for agent in world.agents:
        world.hub.behaviour[agent] = AgentUnavailable("gone")
    request_id = str(uuid.uuid4())
    assert (await world.reset(request_id=request_id)).outcome is Outcome.SERVICE_UNAVAILABLE
    [record] = await world.records()
    assert (record.agent_id, record.outcome) == (None, "service_unavailable")
    world.hub.behaviour.clear()
    world.hub.agents = list(reversed(world.agents))
    retry = await world.reset(request_id=request_id)  # any agent may take it
    assert (retry.outcome, retry.agent_id) == (Outcome.OK, world.agents[1])


async def test_a_success_is_recorded_after_its_answer(world: World) -> None:
    result = await world.reset()
    assert result.outcome is Outcome.OK
    [record] = await world.records()
    assert (record.outcome, record.agent_id, record.event_id) == ("ok", world.agents[0], 31009)
    assert record.finished_at is not None


@pytest.mark.parametrize(
    "behaviour", [Outcome.TOO_SHORT, AgentLost("dropped")], ids=["refused", "lost"]
)
async def test_any_other_outcome_is_recorded_before_its_answer(
    world: World, behaviour: Outcome | Exception
) -> None:
    """A support record made from the answer reads the operation's record."""
    world.hub.behaviour[world.agents[0]] = behaviour
    result = await world.reset()
    assert world.services.deferred.pending == 0
    [record] = world.stored()
    assert (record.outcome, record.agent_id) == (result.outcome.value, world.agents[0])


async def test_a_request_never_finished_is_in_doubt(world: World) -> None:
    """The server stopped after sending (or after answering, before recording):
    the record names the agent and no outcome. A retry goes to that agent only,
    and without it the answer is "outcome unknown", never "not written"."""
    request_id = str(uuid.uuid4())
    assert (await world.reset(request_id=request_id)).outcome is Outcome.OK
    await world.records()
    with world.sessions() as db, db.begin():
        record = db.get(OperationRecord, (world.tenant_id, request_id))
        assert record is not None
        record.outcome, record.event_id, record.finished_at = None, None, None
    world.hub.agents = [world.agents[1]]
    for _ in range(2):
        retry = await world.reset(request_id=request_id)
        assert (retry.outcome, retry.agent_id) == (Outcome.OUTCOME_UNKNOWN, world.agents[0])
    assert [r[1] for r in world.hub.requests] == [world.agents[0]]
    world.hub.agents = list(world.agents)
    settled = await world.reset(request_id=request_id)
    assert (settled.outcome, settled.agent_id) == (Outcome.OK, world.agents[0])
    assert [r[1] for r in world.hub.requests] == [world.agents[0]] * 2


async def test_a_caller_may_record_the_success_in_its_own_transaction(world: World) -> None:
    result = await change_password(
        services=world.services,
        tenant_id=world.tenant_id,
        user="jdoe",
        current_password="Old-Pa55word-1",
        new_password=PASSWORD,
        records_success=True,
    )
    assert result.outcome is Outcome.OK
    [record] = await world.records()
    assert (record.agent_id, record.outcome) == (world.agents[0], None)  # in doubt until
    with world.sessions() as db, db.begin():
        record_success(db, world.tenant_id, result)
    [record] = world.stored()
    assert (record.agent_id, record.outcome, record.event_id) == (world.agents[0], "ok", 31009)


async def test_a_caller_records_only_a_success(world: World) -> None:
    world.hub.behaviour[world.agents[0]] = Outcome.WRONG_PASSWORD
    result = await verify_password(
        services=world.services,
        tenant_id=world.tenant_id,
        user="jdoe",
        password=PASSWORD,
        records_success=True,
    )
    [record] = world.stored()  # a refusal is recorded before the answer all the same
    assert (record.operation, record.outcome) == ("verify", "wrong_password")
    with world.sessions() as db, pytest.raises(ValueError, match="not a success"):
        record_success(db, world.tenant_id, result)


async def test_an_id_drawn_here_is_inserted_without_a_look_up(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Should a drawn id ever meet a recorded one, the insert fails: busy, and
    the earlier record is left as it was."""
    first = await world.reset()
    [before] = await world.records()
    monkeypatch.setattr(uuid, "uuid4", lambda: uuid.UUID(first.request_id))
    with pytest.raises(RequestBusy):
        await world.reset()
    [after] = await world.records()
    assert (after.request_id, after.outcome, after.support_code) == (
        before.request_id,
        "ok",
        before.support_code,
    )
    assert len(world.hub.requests) == 1


async def test_request_id_of_another_user_conflicts(world: World) -> None:
    request_id = str(uuid.uuid4())
    await world.reset(request_id=request_id)
    with pytest.raises(Conflict) as caught:
        await world.reset("other", request_id=request_id)
    assert caught.value.code == "request_conflict"


async def test_agent_detail_comes_back(world: World) -> None:
    world.hub.behaviour[world.agents[0]] = Outcome.TOO_SHORT
    result = await world.reset()
    assert (result.outcome, result.detail) == (Outcome.TOO_SHORT, {"min_length": 12})


@pytest.mark.parametrize("operation", [Operation.UNLOCK, Operation.REQUIRE_CHANGE])
async def test_account_operations_seal_no_secret(
    world: World, private_key: rsa.RSAPrivateKey, operation: Operation
) -> None:
    request_id = str(uuid.uuid4())
    result = await world.write_account(operation, request_id=request_id)
    assert (result.outcome, result.request_id) == (Outcome.OK, request_id)
    [(_, _, _, envelope)] = world.hub.requests
    opened = open_envelope(
        envelope, agent_key=private_key, package_keys=world.package_keys, now=NOW
    )
    assert opened.secrets == ()
    assert (opened.metadata.operation, opened.metadata.unlock) == (operation, False)
    [record] = await world.records()
    assert (record.operation, record.outcome) == (operation.value, "ok")


async def test_account_operation_retry_goes_to_the_same_agent(world: World) -> None:
    request_id = str(uuid.uuid4())
    world.hub.behaviour[world.agents[0]] = AgentLost("gone")
    first = await world.write_account(Operation.UNLOCK, request_id=request_id)
    assert first.outcome is Outcome.OUTCOME_UNKNOWN
    del world.hub.behaviour[world.agents[0]]
    again = await world.write_account(Operation.UNLOCK, request_id=request_id)
    assert (again.outcome, again.agent_id) == (Outcome.OK, first.agent_id)


async def test_account_operation_of_an_unknown_user(world: World) -> None:
    with pytest.raises(NotFound):
        await world.write_account(Operation.UNLOCK, "nobody")


async def test_write_account_takes_no_password_operation(world: World) -> None:
    with pytest.raises(ValueError, match="carries a password"):
        await world.write_account(Operation.ADMIN_RESET)


async def test_a_plan_without_writeback_writes_nothing(world: World) -> None:
    """E1: nothing that writes goes to an agent of a tenant whose plan lacks
    writeback, whoever asks; the user found is named in the result."""
    ok = await world.reset()
    with world.sessions() as db:
        user_id = db.scalar(sa.select(DirectoryUser.id).where(DirectoryUser.anchor == ANCHOR))
    assert ok.user_id == user_id
    with world.sessions() as db, db.begin():
        db.execute(sa.update(Tenant).where(Tenant.id == world.tenant_id).values(plan="basic"))
    sent = len(world.hub.requests)
    with pytest.raises(NotEntitled):
        await world.reset()
    with pytest.raises(NotEntitled):
        await world.write_account(Operation.UNLOCK)
    assert len(world.hub.requests) == sent
