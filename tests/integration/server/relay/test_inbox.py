"""A full sync removes the users it did not see, and only when it saw all of
itself: every batch, in order, stored (L5). Otherwise removing would delete
users the directory still has."""

from __future__ import annotations

import asyncio
import dataclasses

import httpx
import pytest
from sqlalchemy.exc import OperationalError

from passback.protocol.messages import SyncBatch, SyncGroup, SyncUser
from passback.server import sync as server_sync
from passback.server.tenants import CreatedTenant
from tests.support.portal import rows
from tests.support.server import (
    AgentFactory,
    FakeAgent,
    RunningServer,
    connected_agent,
    user,
    users_of,
)


def users(*numbers: int) -> tuple[SyncUser, ...]:
    return tuple(user(f"user{n}", bytes([n]) * 16) for n in numbers)


async def after(
    agent: FakeAgent, client: httpx.AsyncClient, tenant: CreatedTenant, *batches: SyncBatch
) -> set[str]:
    """Send ``batches``, then the users the server knows once it has handled
    them all: a last, incremental batch carries a marker user, and batches of
    one link are handled in order."""
    marker = f"marker{len(batches)}"
    for batch in (
        *batches,
        SyncBatch(f"mark-{marker}", 0, False, True, (user(marker, b"m" * 16),)),
    ):
        await agent.send(batch)
    for _ in range(250):
        known = set(await users_of(client, tenant))
        if marker in known:
            return known - {marker}
        await asyncio.sleep(0.02)
    raise AssertionError("the batches were not handled")


async def test_interleaved_full_syncs_remove_no_one_still_there(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory
) -> None:
    tenant, agent = await connected_agent(server, client, make_agent)
    everyone = {"jdoe", "user1", "user2", "user3"}
    full = SyncBatch("s0", 0, True, True, (*users(1, 2, 3), user("jdoe")))
    assert await after(agent, client, tenant, full) == everyone
    interleaved = (
        SyncBatch("a", 0, True, False, (*users(1, 2), user("jdoe"))),
        SyncBatch("b", 0, True, False, (*users(1, 2), user("jdoe"))),
        SyncBatch("a", 1, True, True, users(3)),
        SyncBatch("b", 1, True, True, users(3)),
    )
    assert await after(agent, client, tenant, *interleaved) == everyone


async def test_a_sync_with_a_gap_removes_no_one(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory
) -> None:
    tenant, agent = await connected_agent(server, client, make_agent)
    everyone = {"jdoe", "user1", "user2"}
    full = SyncBatch("s0", 0, True, True, (*users(1, 2), user("jdoe")))
    assert await after(agent, client, tenant, full) == everyone
    # Batch 1 never arrives: the last batch must not remove user2.
    gap = (
        SyncBatch("s1", 0, True, False, users(1)),
        SyncBatch("s1", 2, True, True, (user("jdoe"),)),
    )
    assert await after(agent, client, tenant, *gap) == everyone


async def test_a_batch_that_was_not_stored_keeps_its_users(
    server: RunningServer,
    client: httpx.AsyncClient,
    make_agent: AgentFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tenant, agent = await connected_agent(server, client, make_agent)
    everyone = {"jdoe", "user1", "user2", "user3"}
    full = SyncBatch("s0", 0, True, True, (*users(1, 2, 3), user("jdoe")))
    assert await after(agent, client, tenant, full) == everyone
    real = server_sync.upsert_users

    def locked_for_user3(db, tenant_id, batch_users, now, **kw):  # type: ignore[no-untyped-def]
        if any(u.sam_account_name == "user3" for u in batch_users):
            raise OperationalError("UPDATE", {}, Exception("database is locked"))
        return real(db, tenant_id, batch_users, now, **kw)

    monkeypatch.setattr(server_sync, "upsert_users", locked_for_user3)
    partly_stored = (
        SyncBatch("s1", 0, True, False, users(1, 2)),
        SyncBatch("s1", 1, True, False, users(3)),
        SyncBatch("s1", 2, True, True, (user("jdoe"),)),
    )
    assert await after(agent, client, tenant, *partly_stored) == everyone


SALES = "S-1-5-21-1004336348-1177238915-682003330-1105"


async def test_an_agent_without_groups_leaves_the_groups_as_they_are(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory
) -> None:
    """G6 beside an older agent (L4): one that does not announce ``groups``
    sends none, and its full syncs must not empty every user's groups nor
    the group list (everyone would fall out of a group scope)."""
    tenant, agent = await connected_agent(server, client, make_agent)
    member = dataclasses.replace(user("jdoe"), groups=(SALES,))
    await agent.send(SyncBatch("g", 0, True, True, (member,), (SyncGroup(SALES, "Sales"),)))
    await after(agent, client, tenant)
    assert rows(
        server, "SELECT group_sids FROM directory_users WHERE sam_account_name = 'jdoe'"
    ) == [(f" {SALES} ",)]
    old = await make_agent(tenant)
    old.features = ()
    await old.connect_ready()
    await old.next_sync_request()
    assert await after(old, client, tenant, SyncBatch("o", 0, True, True, (user("jdoe"),))) == {
        "jdoe"
    }
    assert rows(
        server, "SELECT group_sids FROM directory_users WHERE sam_account_name = 'jdoe'"
    ) == [(f" {SALES} ",)]
    assert rows(server, "SELECT name FROM directory_groups") == [("Sales",)]
