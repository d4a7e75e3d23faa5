"""SPEC S8, measured on a real WebSocket: every password-operation frame
(request and result) and every heartbeat is under 1 KB, even for the longest
password Active Directory accepts, in the characters that encode longest."""

from __future__ import annotations

import uuid

import httpx
import pytest

from passback.protocol.messages import MAX_OPERATION_FRAME, Heartbeat, Result, encode
from passback.protocol.outcomes import Outcome
from tests.support.server import AgentFactory, RunningServer, connected_agent, reset

ONE_KB = 1024

#: 256 UTF-16 units each: the most AD takes, in the widest encodings.
LONGEST = {
    "ascii": "A" * 256,
    "cjk": "語" * 256,  # 3 bytes in UTF-8, 2 in UTF-16
    "emoji": "🔑" * 128,  # 4 bytes in UTF-8, two UTF-16 units
}


def wire_size(frame: str | bytes) -> int:
    return len(frame.encode("utf-8") if isinstance(frame, str) else frame)


@pytest.mark.parametrize("password", LONGEST.values(), ids=LONGEST.keys())
async def test_operation_and_result_frames_are_under_1kb(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory, password: str
) -> None:
    tenant, agent = await connected_agent(server, client, make_agent)
    pending = reset(client, tenant, new_password=password, request_id=str(uuid.uuid4()))
    envelope = await agent.next_operation()  # the bytes exactly as they crossed the socket
    assert wire_size(envelope) < ONE_KB
    assert wire_size(envelope) <= MAX_OPERATION_FRAME
    meta = agent.open(envelope).metadata
    # The largest result the agent sends: a policy refusal with details.
    result = Result(
        meta.request_id,
        Outcome.TOO_YOUNG,
        {"min_length": 256, "retry_after": "2026-11-22T16:00:00+00:00"},
        33008,
        replayed=True,
    )
    assert wire_size(encode(result)) < ONE_KB
    await agent.send(result)
    assert (await pending).status_code == 422


async def test_heartbeat_frame_is_under_1kb(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory
) -> None:
    _tenant, agent = await connected_agent(server, client, make_agent)
    biggest = Heartbeat(
        uptime=2**63, operations=2**63, failures=2**63, agent_time=2**63, history_on_reset=True
    )
    assert wire_size(encode(biggest)) < ONE_KB
    await agent.send(biggest)
