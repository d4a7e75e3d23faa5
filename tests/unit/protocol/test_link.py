"""passback.protocol.link: the sans-I/O relay link, both sides (S1, S8)."""

from __future__ import annotations

import json

import pytest

from passback.protocol.errors import (
    AuthenticationFailed,
    BadFrame,
    CloseCode,
    FrameTooLarge,
    UnexpectedMessage,
    UnsupportedVersion,
)
from passback.protocol.link import (
    AgentLink,
    AuthRequested,
    Closed,
    Frame,
    HubLink,
    OperationReceived,
    Received,
    State,
)
from passback.protocol.messages import (
    MAX_OPERATION_FRAME,
    PROTOCOL_VERSION,
    Auth,
    Heartbeat,
    Hello,
    Ready,
    Result,
    Rules,
    RulesRequest,
    SyncBatch,
    SyncRequest,
    encode,
)
from passback.protocol.outcomes import Outcome

HELLO = Hello(PROTOCOL_VERSION, "agent-1", "tenant-1", "test/1")
SECRET = "pbr_the-relay-secret"


def deliver(frames: list[Frame], link: HubLink | AgentLink) -> list[object]:
    events: list[object] = []
    for f in frames:
        events += link.receive(f)
    return events


def ready_pair() -> tuple[HubLink, AgentLink]:
    hub, agent = HubLink(), AgentLink(HELLO, SECRET)
    (requested,) = deliver(agent.outgoing(), hub)
    assert isinstance(requested, AuthRequested)
    hub.accept("session-1", 300, 1_700_000_000)
    deliver(hub.outgoing(), agent)
    assert hub.state is agent.state is State.READY
    return hub, agent


def test_happy_handshake_both_sides() -> None:
    """The agent sends hello+auth at once; the hub answers ready (one round trip)."""
    hub, agent = HubLink(), AgentLink(HELLO, SECRET)
    assert agent.state is State.AWAIT_AUTH
    assert hub.state is State.AWAIT_HELLO and hub.hello is None

    sent = agent.outgoing()
    assert [json.loads(f)["type"] for f in sent] == ["hello", "auth"]  # type: ignore[arg-type]
    assert agent.outgoing() == []  # drained

    events = deliver(sent, hub)
    assert events == [AuthRequested(HELLO, SECRET)]
    assert hub.hello == HELLO
    assert hub.state is State.AUTHENTICATING
    assert SECRET not in repr(events[0])

    hub.accept("session-1", 300, 1_700_000_000)
    assert hub.state is State.READY
    (ready_frame,) = hub.outgoing()

    events = agent.receive(ready_frame)
    ready = Ready("session-1", 300, 1_700_000_000)
    assert events == [Received(ready)]
    assert agent.ready == ready
    assert agent.state is State.READY


def test_traffic_when_ready() -> None:
    hub, agent = ready_pair()

    envelope = b"\x01" + bytes(100)
    hub.send_operation(envelope)
    hub.send_sync_request("sync-1")
    events = deliver(hub.outgoing(), agent)
    assert events == [OperationReceived(envelope), Received(SyncRequest("sync-1"))]

    sent = [
        Result("req-1", Outcome.OK),
        Heartbeat(1, 2, 0, 3, True),
        SyncBatch("sync-1", 0, True, True, ()),
    ]
    for message in sent:
        agent.send(message)
    events = deliver(agent.outgoing(), hub)
    assert events == [Received(m) for m in sent]


def test_operation_at_the_size_bound_passes() -> None:
    hub, agent = ready_pair()
    envelope = bytes(MAX_OPERATION_FRAME)
    hub.send_operation(envelope)
    assert agent.receive(hub.outgoing()[0]) == [OperationReceived(envelope)]


def test_hello_with_another_version() -> None:
    hub = HubLink()
    (closed,) = hub.receive(encode(Hello(PROTOCOL_VERSION + 1, "a", "t", "")))
    assert isinstance(closed, Closed)
    assert closed.code is CloseCode.UNSUPPORTED_VERSION
    assert closed.reason == "unsupported protocol version"
    assert isinstance(closed.error, UnsupportedVersion)
    assert hub.state is State.CLOSED
    assert hub.close_code is CloseCode.UNSUPPORTED_VERSION
    assert hub.close_reason == "unsupported protocol version"


@pytest.mark.parametrize(
    "first", [encode(Auth(SECRET)), encode(Heartbeat(1, 1, 1, 1, False)), encode(SyncRequest("s"))]
)
def test_message_before_hello(first: str) -> None:
    (closed,) = HubLink().receive(first)
    assert isinstance(closed, Closed)
    assert closed.code is CloseCode.UNEXPECTED_MESSAGE
    assert isinstance(closed.error, UnexpectedMessage)


@pytest.mark.parametrize("second", [encode(HELLO), encode(Heartbeat(1, 1, 1, 1, False))])
def test_auth_missing(second: str) -> None:
    hub = HubLink()
    assert hub.receive(encode(HELLO)) == []
    (closed,) = hub.receive(second)
    assert isinstance(closed, Closed)
    assert closed.code is CloseCode.UNEXPECTED_MESSAGE
    assert closed.reason == "unexpected message"


def test_message_while_authenticating() -> None:
    hub = HubLink()
    deliver([encode(HELLO), encode(Auth(SECRET))], hub)
    (closed,) = hub.receive(encode(Heartbeat(1, 1, 1, 1, False)))
    assert isinstance(closed, Closed) and closed.code is CloseCode.UNEXPECTED_MESSAGE


@pytest.mark.parametrize(
    "message", [HELLO, Auth(SECRET), Ready("s", 1, 1), SyncRequest("s")], ids=lambda m: m.type
)
def test_hub_refuses_what_an_agent_never_sends_when_ready(message: object) -> None:
    hub, _ = ready_pair()
    (closed,) = hub.receive(encode(message))  # type: ignore[arg-type]
    assert isinstance(closed, Closed) and closed.code is CloseCode.UNEXPECTED_MESSAGE


def test_reject() -> None:
    """S1: a refused relay secret closes with 4004, a final code."""
    hub = HubLink()
    deliver([encode(HELLO), encode(Auth("pbr_wrong"))], hub)
    closed = hub.reject()
    assert closed.code is CloseCode.AUTH_FAILED == 4004
    assert closed.reason == "authentication failed"
    assert isinstance(closed.error, AuthenticationFailed)
    assert "pbr_wrong" not in closed.reason
    assert hub.state is State.CLOSED
    assert hub.outgoing() == []


def test_binary_frame_to_the_hub() -> None:
    hub, _ = ready_pair()
    (closed,) = hub.receive(b"\x01\x02")
    assert isinstance(closed, Closed)
    assert closed.code is CloseCode.BAD_FRAME
    assert isinstance(closed.error, BadFrame)


@pytest.mark.parametrize("frame", ["not json", '{"type":"nope"}', "[]"])
def test_garbage_text_closes_either_side_with_bad_frame(frame: str) -> None:
    (closed,) = HubLink().receive(frame)
    assert isinstance(closed, Closed) and closed.code is CloseCode.BAD_FRAME
    (closed,) = AgentLink(HELLO, SECRET).receive(frame)
    assert isinstance(closed, Closed) and closed.code is CloseCode.BAD_FRAME


def test_oversize_control_frame_closes_with_1009() -> None:
    (closed,) = HubLink().receive(encode(HELLO) + " " * 5000)
    assert isinstance(closed, Closed) and closed.code is CloseCode.TOO_LARGE == 1009


def test_operation_to_an_agent_before_ready() -> None:
    agent = AgentLink(HELLO, SECRET)
    (closed,) = agent.receive(b"\x01" * 10)
    assert isinstance(closed, Closed)
    assert closed.code is CloseCode.UNEXPECTED_MESSAGE
    assert agent.state is State.CLOSED


@pytest.mark.parametrize(
    "message", [SyncRequest("s"), Heartbeat(1, 1, 1, 1, False)], ids=lambda m: m.type
)
def test_agent_waits_for_ready_first(message: object) -> None:
    (closed,) = AgentLink(HELLO, SECRET).receive(encode(message))  # type: ignore[arg-type]
    assert isinstance(closed, Closed) and closed.code is CloseCode.UNEXPECTED_MESSAGE


@pytest.mark.parametrize(
    "message",
    [Ready("s", 1, 1), HELLO, Result("r", Outcome.OK), Heartbeat(1, 1, 1, 1, False)],
    ids=lambda m: m.type,
)
def test_agent_refuses_what_a_hub_never_sends_when_ready(message: object) -> None:
    _, agent = ready_pair()
    (closed,) = agent.receive(encode(message))  # type: ignore[arg-type]
    assert isinstance(closed, Closed) and closed.code is CloseCode.UNEXPECTED_MESSAGE


def test_oversize_operation() -> None:
    """S8: an operation frame is one envelope under 1 KB; more is 1009."""
    hub, agent = ready_pair()
    too_big = bytes(MAX_OPERATION_FRAME + 1)
    with pytest.raises(FrameTooLarge) as info:
        hub.send_operation(too_big)
    assert info.value.close_code is CloseCode.TOO_LARGE
    assert hub.outgoing() == []
    assert hub.state is State.READY

    (closed,) = agent.receive(too_big)
    assert isinstance(closed, Closed)
    assert closed.code is CloseCode.TOO_LARGE == 1009
    assert isinstance(closed.error, FrameTooLarge)


def test_messages_after_close_are_ignored() -> None:
    hub, agent = ready_pair()
    assert hub.close(CloseCode.GOING_AWAY, "bye") == Closed(CloseCode.GOING_AWAY, "bye")
    assert hub.receive(encode(Heartbeat(1, 1, 1, 1, False))) == []
    assert hub.receive(b"junk") == []
    agent.close()
    assert agent.state is State.CLOSED
    assert agent.close_code is CloseCode.NORMAL
    assert agent.receive(b"\x01") == []
    assert agent.receive("garbage") == []


def test_first_close_wins() -> None:
    hub = HubLink()
    hub.receive("garbage")
    assert hub.close_code is CloseCode.BAD_FRAME
    later = hub.close(CloseCode.NORMAL, "later")
    assert later == Closed(CloseCode.NORMAL, "later")
    assert (hub.close_code, hub.close_reason) == (CloseCode.BAD_FRAME, "bad frame")


def test_send_before_ready_raises() -> None:
    hub, agent = HubLink(), AgentLink(HELLO, SECRET)
    with pytest.raises(RuntimeError, match="await_auth, not ready"):
        agent.send(Heartbeat(1, 1, 1, 1, False))
    with pytest.raises(RuntimeError, match="await_hello, not ready"):
        hub.send_operation(b"x")
    with pytest.raises(RuntimeError):
        hub.send_sync_request("s")
    with pytest.raises(RuntimeError, match="not authenticating"):
        hub.accept("s", 1, 1)
    with pytest.raises(RuntimeError, match="not authenticating"):
        hub.reject()


def test_accept_or_reject_only_once() -> None:
    hub, _ = ready_pair()
    with pytest.raises(RuntimeError):
        hub.accept("s", 1, 1)
    with pytest.raises(RuntimeError):
        hub.reject()


def test_send_after_close_raises() -> None:
    _, agent = ready_pair()
    agent.close()
    with pytest.raises(RuntimeError, match="closed"):
        agent.send(Result("r", Outcome.OK))


def test_send_validates_the_message() -> None:
    _, agent = ready_pair()
    with pytest.raises(BadFrame):
        agent.send(Result("", Outcome.OK))


def test_connection_lost() -> None:
    hub, agent = ready_pair()
    for link in (hub, agent):
        closed = link.connection_lost()
        assert closed == Closed(CloseCode.GOING_AWAY, "connection lost")
        assert link.state is State.CLOSED
        assert link.close_code is CloseCode.GOING_AWAY


def test_deeply_nested_frame_closes_the_link() -> None:
    """Anything a peer sends under the size bound ends in an event, never an exception."""
    (closed,) = HubLink().receive("[" * 100_000)
    assert isinstance(closed, Closed) and closed.code is CloseCode.BAD_FRAME


def test_rules_request_and_answer() -> None:
    """The hub asks for a user's password rules; the agent answers in kind."""
    hub, agent = ready_pair()
    hub.send_rules_request("req-9", "AAECAwQFBgcICQoLDA0ODw")
    (asked,) = deliver(hub.outgoing(), agent)
    assert isinstance(asked, Received) and asked.message == RulesRequest(
        "req-9", "AAECAwQFBgcICQoLDA0ODw"
    )
    answer = Rules("req-9", Outcome.OK, "domain", 7, True, 24, 0, 0)
    agent.send(answer)
    (got,) = deliver(agent.outgoing(), hub)
    assert isinstance(got, Received) and got.message == answer


def test_rules_request_before_ready_raises() -> None:
    hub = HubLink()
    with pytest.raises(RuntimeError):
        hub.send_rules_request("r", "AA")
