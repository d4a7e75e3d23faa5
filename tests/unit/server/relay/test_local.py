"""LocalHub against fake agent sessions: routing, replies, and each way delivery fails."""

from __future__ import annotations

import asyncio
import logging

import pytest

from passback.protocol.messages import Result, Rules, RulesRequest, SyncRequest
from passback.protocol.outcomes import Outcome
from passback.server.errors import AgentLost, AgentUnavailable, ReplyTimeout, RequestInProgress
from passback.server.relay.local import LocalHub
from passback.server.types import AgentRouter, Hub, LinkRegistry, Outbound

T1, T2 = "tenant-1", "tenant-2"
RID = "8e7f2a0c-5a2b-4c8e-9f1e-0b7c9d3e4f5a"


class FakeSession:
    def __init__(
        self,
        tenant_id: str,
        agent_id: str,
        *,
        broken: bool = False,
        features: frozenset[str] = frozenset(),
    ) -> None:
        self.tenant_id = tenant_id
        self.agent_id = agent_id
        self.features = features
        self.broken = broken
        self.sent: list[Outbound] = []
        self.delivered = asyncio.Event()
        self.closed: tuple[int, str] | None = None

    async def send(self, message: Outbound) -> None:
        if self.broken:
            raise ConnectionResetError("socket gone")
        self.sent.append(message)
        self.delivered.set()

    async def close(self, code: int, reason: str) -> None:
        self.closed = (code, reason)


def ok(request_id: str = RID) -> Result:
    return Result(request_id, Outcome.OK, event_id=31009)


def test_local_hub_is_both_sides_of_the_relay() -> None:
    hub: Hub = LocalHub()
    router: AgentRouter = hub
    links: LinkRegistry = hub
    assert router is hub and links is hub


async def test_present_lists_the_tenants_agents_only() -> None:
    hub = LocalHub()
    await hub.attach(FakeSession(T1, "a"))
    await hub.attach(FakeSession(T1, "b"))
    await hub.attach(FakeSession(T2, "c"))
    assert await hub.present(T1) == ["a", "b"]
    assert await hub.present(T2) == ["c"]
    assert await hub.present("nobody") == []


async def test_present_with_needs_lists_the_agents_that_announced_them() -> None:
    hub = LocalHub()
    await hub.attach(FakeSession(T1, "old"))
    await hub.attach(FakeSession(T1, "new", features=frozenset({"must_change", "groups"})))
    await hub.attach(FakeSession(T2, "other", features=frozenset({"must_change"})))
    assert await hub.present(T1, frozenset({"must_change"})) == ["new"]
    assert await hub.present(T1, frozenset({"must_change", "account_status"})) == []
    assert await hub.features(T1) == {
        "old": frozenset(),
        "new": frozenset({"must_change", "groups"}),
    }


async def test_request_returns_the_agents_result() -> None:
    hub = LocalHub()
    agent = FakeSession(T1, "a")
    await hub.attach(agent)
    task = asyncio.create_task(hub.request(T1, "a", RID, b"envelope", Result, 5))
    await agent.delivered.wait()
    assert agent.sent == [b"envelope"]
    await hub.resolve(agent, ok())
    assert await task == ok()


async def test_not_connected_is_unavailable() -> None:
    hub = LocalHub()
    await hub.attach(FakeSession(T2, "a"))
    with pytest.raises(AgentUnavailable):
        await hub.request(T1, "a", RID, b"x", Result, 5)  # right agent id, wrong tenant


async def test_failed_send_is_unavailable() -> None:
    hub = LocalHub()
    await hub.attach(FakeSession(T1, "a", broken=True))
    with pytest.raises(AgentUnavailable):
        await hub.request(T1, "a", RID, b"x", Result, 5)
    # Nothing stays pending: the same request id may go to another agent.
    await hub.attach(agent := FakeSession(T1, "b"))
    task = asyncio.create_task(hub.request(T1, "b", RID, b"x", Result, 5))
    await agent.delivered.wait()
    await hub.resolve(agent, ok())
    assert (await task).outcome is Outcome.OK


async def test_link_drop_after_delivery_is_lost() -> None:
    hub = LocalHub()
    agent = FakeSession(T1, "a")
    await hub.attach(agent)
    task = asyncio.create_task(hub.request(T1, "a", RID, b"x", Result, 5))
    await agent.delivered.wait()
    await hub.detach(agent)
    with pytest.raises(AgentLost):
        await task
    assert await hub.present(T1) == []


async def test_no_result_in_time_is_a_timeout() -> None:
    hub = LocalHub()
    await hub.attach(FakeSession(T1, "a"))
    with pytest.raises(ReplyTimeout):
        await hub.request(T1, "a", RID, b"x", Result, 0.01)


async def test_same_request_id_in_flight_is_refused() -> None:
    hub = LocalHub()
    agent = FakeSession(T1, "a")
    await hub.attach(agent)
    first = asyncio.create_task(hub.request(T1, "a", RID, b"x", Result, 5))
    await agent.delivered.wait()
    with pytest.raises(RequestInProgress):
        await hub.request(T1, "a", RID, b"x", Result, 5)
    await hub.resolve(agent, ok())
    assert (await first).outcome is Outcome.OK


async def test_request_ids_are_each_tenants_own() -> None:
    """Issue "Hardening" 13: another tenant's request in flight with the same id
    neither blocks this one nor takes its answer."""
    hub = LocalHub()
    mine, theirs = FakeSession(T1, "a"), FakeSession(T2, "b")
    await hub.attach(mine)
    await hub.attach(theirs)
    first = asyncio.create_task(hub.request(T1, "a", RID, b"x", Result, 5))
    await mine.delivered.wait()
    second = asyncio.create_task(hub.request(T2, "b", RID, b"y", Result, 5))
    await asyncio.wait_for(theirs.delivered.wait(), 5)
    await hub.resolve(theirs, Result(RID, Outcome.NOT_COMPLEX, event_id=33008))
    await hub.resolve(mine, ok())
    assert (await first).outcome is Outcome.OK
    assert (await second).outcome is Outcome.NOT_COMPLEX


async def test_result_from_another_agent_is_ignored(caplog: pytest.LogCaptureFixture) -> None:
    hub = LocalHub()
    agent, other = FakeSession(T1, "a"), FakeSession(T1, "b")
    await hub.attach(agent)
    await hub.attach(other)
    task = asyncio.create_task(hub.request(T1, "a", RID, b"x", Result, 5))
    await agent.delivered.wait()
    with caplog.at_level(logging.WARNING):
        await hub.resolve(other, ok())
        await hub.resolve(agent, ok("1b4e28ba-2fa1-11d2-883f-0016d3cca427"))
    assert not task.done()
    assert "matches no pending request" in caplog.text
    await hub.resolve(agent, ok())
    assert (await task).outcome is Outcome.OK


async def test_reconnect_replaces_the_old_session() -> None:
    hub = LocalHub()
    old, new = FakeSession(T1, "a"), FakeSession(T1, "a")
    await hub.attach(old)
    task = asyncio.create_task(hub.request(T1, "a", RID, b"x", Result, 5))
    await old.delivered.wait()
    await hub.attach(new)
    await hub.detach(old)  # the old link ends late: it must not remove the new one
    assert await hub.present(T1) == ["a"]
    with pytest.raises(AgentLost):
        await task
    task = asyncio.create_task(hub.request(T1, "a", RID, b"y", Result, 5))
    await new.delivered.wait()
    await hub.resolve(new, ok())
    assert (await task).outcome is Outcome.OK


async def test_cancelled_request_leaves_nothing_pending() -> None:
    hub = LocalHub()
    agent = FakeSession(T1, "a")
    await hub.attach(agent)
    task = asyncio.create_task(hub.request(T1, "a", RID, b"x", Result, 5))
    await agent.delivered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    agent.delivered.clear()
    again = asyncio.create_task(hub.request(T1, "a", RID, b"x", Result, 5))
    await agent.delivered.wait()
    await hub.resolve(agent, ok())
    assert (await again).outcome is Outcome.OK


async def test_send_delivers_without_waiting() -> None:
    hub = LocalHub()
    agent = FakeSession(T1, "a")
    await hub.attach(agent)
    await hub.send(T1, "a", SyncRequest("sync-1"))
    assert agent.sent == [SyncRequest("sync-1")]


async def test_send_to_an_absent_or_broken_agent_is_unavailable() -> None:
    hub = LocalHub()
    await hub.attach(FakeSession(T1, "b", broken=True))
    await hub.attach(FakeSession(T2, "a"))
    with pytest.raises(AgentUnavailable):
        await hub.send(T1, "a", SyncRequest("sync-1"))  # right agent id, wrong tenant
    with pytest.raises(AgentUnavailable) as raised:
        await hub.send(T1, "b", SyncRequest("sync-1"))
    assert isinstance(raised.value.__cause__, ConnectionResetError)


async def test_rules_come_back_and_a_result_does_not_answer_them() -> None:
    """A reply of the wrong kind for a pending request is ignored (logged)."""
    hub = LocalHub()
    session = FakeSession("t1", "a1")
    await hub.attach(session)
    asked = RulesRequest(RID, "AA")
    pending = asyncio.create_task(hub.request("t1", "a1", RID, asked, Rules, 5))
    await session.delivered.wait()
    assert session.sent == [asked]
    await hub.resolve(session, ok())  # a Result: not what this request awaits
    assert not pending.done()
    answer = Rules(RID, Outcome.OK, "domain", 7, True, 0, 0, 0)
    await hub.resolve(session, answer)
    assert await pending == answer


async def test_disconnect_closes_the_link_of_that_agent_only() -> None:
    hub = LocalHub()
    a, b = FakeSession(T1, "a"), FakeSession(T1, "b")
    await hub.attach(a)
    await hub.attach(b)
    await hub.disconnect(T1, "a", 4006, "revoked")
    await hub.disconnect(T2, "b", 4006, "revoked")  # not that tenant's agent
    await hub.disconnect(T1, "gone", 4006, "revoked")  # not connected: nothing to do
    assert (a.closed, b.closed) == ((4006, "revoked"), None)
