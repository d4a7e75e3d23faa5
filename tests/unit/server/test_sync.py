from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from passback.protocol.messages import SyncBatch, SyncGroup, SyncRequest, SyncUser
from passback.server.entitlements import group_pattern
from passback.server.errors import AgentUnavailable
from passback.server.store import create_engine, session_factory, upgrade
from passback.server.store.models import DirectoryGroup, DirectoryUser
from passback.server.sync import (
    MAX_FULL_SYNCS,
    FullSyncs,
    remove_unseen,
    request_full_sync,
    upsert_groups,
    upsert_users,
)
from passback.server.tenants import create_tenant
from passback.server.types import Outbound, ReplyT
from tests.support.keys import TEST_MASTER_KEY

T0 = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Session]:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    upgrade(url)
    engine = create_engine(url)
    with session_factory(engine)() as session:
        yield session
    engine.dispose()


def test_upsert_skips_bad_anchors_and_keeps_the_last_duplicate(
    db: Session, caplog: pytest.LogCaptureFixture
) -> None:
    tenant = create_tenant(db, "Acme", master_key=TEST_MASTER_KEY).tenant_id
    users = [
        SyncUser("!bad!", "bad", None, None, True),
        SyncUser(b64(b"\x01"), "first", None, None, True),
        SyncUser(b64(b"\x01"), "second", None, None, False),
    ]
    assert upsert_users(db, tenant, users, T0) == 1
    assert "bad anchor" in caplog.text
    [row] = db.scalars(sa.select(DirectoryUser))
    assert (row.sam_account_name, row.enabled, row.synced_at) == ("second", False, T0)
    assert upsert_users(db, tenant, [users[0]], T0) == 0


def test_remove_unseen_is_per_tenant(db: Session) -> None:
    acme, other = (
        create_tenant(db, "Acme", master_key=TEST_MASTER_KEY).tenant_id,
        create_tenant(db, "Other", master_key=TEST_MASTER_KEY).tenant_id,
    )
    old = SyncUser(b64(b"\x01"), "old", None, None, True)
    upsert_users(db, acme, [old], T0)
    upsert_users(db, other, [old], T0)
    later = T0 + dt.timedelta(minutes=1)
    upsert_users(db, acme, [SyncUser(b64(b"\x02"), "new", None, None, True)], later)
    assert remove_unseen(db, acme, later) == 1
    names = {(u.tenant_id, u.sam_account_name) for u in db.scalars(sa.select(DirectoryUser))}
    assert names == {(acme, "new"), (other, "old")}


class FakeRouter:
    """Agents present in connection order; those in ``broken`` refuse what is sent."""

    def __init__(self, *agents: str, broken: tuple[str, ...] = ()) -> None:
        self.agents = list(agents)
        self.broken = broken
        self.sent: list[tuple[str, Outbound]] = []

    async def present(self, tenant_id: str, needs: frozenset[str] = frozenset()) -> list[str]:
        return list(self.agents)

    async def features(self, tenant_id: str) -> dict[str, frozenset[str]]:
        return dict.fromkeys(self.agents, frozenset())

    async def send(self, tenant_id: str, agent_id: str, message: Outbound) -> None:
        if agent_id in self.broken:
            raise AgentUnavailable("gone")
        self.sent.append((agent_id, message))

    async def request(
        self,
        tenant_id: str,
        agent_id: str,
        request_id: str,
        message: Outbound,
        reply: type[ReplyT],
        timeout: float,
    ) -> ReplyT:
        raise NotImplementedError


async def test_full_sync_goes_to_the_newest_working_agent() -> None:
    router = FakeRouter("old", "mid", "new", broken=("new",))
    await request_full_sync(router, "t")
    [(agent, message)] = router.sent
    assert agent == "mid" and isinstance(message, SyncRequest)


async def test_full_sync_without_a_working_agent_is_unavailable() -> None:
    for router in (FakeRouter(), FakeRouter("a", broken=("a",))):
        with pytest.raises(AgentUnavailable):
            await request_full_sync(router, "t")


def batch(sync_id: str, sequence: int, *, last: bool = False) -> SyncBatch:
    return SyncBatch(sync_id, sequence, True, last, ())


def test_a_full_sync_seen_whole_is_complete_and_then_forgotten() -> None:
    syncs = FullSyncs()
    first = syncs.track(batch("s", 0), T0)
    later = T0 + dt.timedelta(minutes=1)
    assert syncs.track(batch("s", 1, last=True), later) is first
    assert first.complete and first.started == T0
    again = syncs.track(batch("s", 0), later)  # the same id after its end: a new sync
    assert again is not first and again.started == later


@pytest.mark.parametrize("sequences", [(1,), (0, 2), (0, 0)], ids=["no-first", "gap", "repeated"])
def test_a_full_sync_missing_a_batch_is_incomplete(sequences: tuple[int, ...]) -> None:
    syncs = FullSyncs()
    for sequence in sequences:
        full = syncs.track(batch("s", sequence), T0)
    assert not full.complete


def test_too_many_full_syncs_forget_the_oldest() -> None:
    syncs = FullSyncs()
    oldest = syncs.track(batch("s0", 0), T0)
    for n in range(1, MAX_FULL_SYNCS + 1):
        syncs.track(batch(f"s{n}", 0), T0)
    # Its next batch starts it afresh: it did not see batch 0, so it removes no one.
    assert not syncs.track(batch("s0", 1, last=True), T0).complete
    assert oldest.complete


SALES = "S-1-5-21-1004336348-1177238915-682003330-1105"


def test_a_users_groups_are_stored_between_spaces_and_bad_sids_left_out(db: Session) -> None:
    """G6: the SIDs a user is a member of (nested included) are stored so that
    one is found with LIKE; text that is not a SID (a % or _ among it) is not."""
    tenant = create_tenant(db, "Acme", master_key=TEST_MASTER_KEY).tenant_id
    member = SyncUser(b64(b"\x01"), "alice", None, None, True, groups=(SALES, "S-1-5-32-545", "%"))
    upsert_users(db, tenant, [member], T0)
    row = db.scalars(sa.select(DirectoryUser)).one()
    assert row.group_sids == f" {SALES} S-1-5-32-545 "
    assert (
        db.scalar(
            sa.select(sa.func.count()).where(DirectoryUser.group_sids.like(group_pattern(SALES)))
        )
        == 1
    )
    upsert_users(db, tenant, [SyncUser(b64(b"\x01"), "alice", None, None, True)], T0)
    assert row.group_sids == ""


def test_groups_are_upserted_and_removed_with_the_unseen(
    db: Session, caplog: pytest.LogCaptureFixture
) -> None:
    tenant = create_tenant(db, "Acme", master_key=TEST_MASTER_KEY).tenant_id
    other = create_tenant(db, "Other", master_key=TEST_MASTER_KEY).tenant_id
    groups = [SyncGroup(SALES, "Sales"), SyncGroup("not a sid", "x"), SyncGroup(SALES, "Sales 2")]
    assert upsert_groups(db, tenant, groups, T0) == 1
    assert "bad SID" in caplog.text
    assert upsert_groups(db, other, [SyncGroup(SALES, "Theirs")], T0) == 1
    assert (
        upsert_groups(db, tenant, [SyncGroup("S-1-5-32-545", "Users")], T0 + dt.timedelta(1)) == 1
    )
    assert db.get(DirectoryGroup, (tenant, SALES)).name == "Sales 2"  # type: ignore[union-attr]
    assert upsert_groups(db, tenant, [], T0) == 0
    remove_unseen(db, tenant, T0 + dt.timedelta(hours=1))
    left = {(g.tenant_id, g.name) for g in db.scalars(sa.select(DirectoryGroup))}
    assert left == {(tenant, "Users"), (other, "Theirs")}
