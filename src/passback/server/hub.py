"""The routing seam between the use-cases and the agents' links (SPEC L4, S5).

A use-case asks the ``Hub`` which agents of a tenant are present and hands it
one sealed envelope for one of them; it gets the agent's ``Result`` back or a
``HubError`` saying how delivery failed. Nothing but this module and
``relay.py`` may assume that an agent's socket lives in this process: a hub
over Redis (ARCHITECTURE "Scale-out") implements the same protocol.

The relay endpoint of the node that holds a link ``attach``-es its
``AgentSession``, passes every result to ``resolve`` and ``detach``-es it when
the link ends.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import uuid
from typing import Protocol

from passback.protocol.messages import Result
from passback.server.errors import AgentLost, AgentUnavailable, ReplyTimeout, RequestInProgress

logger = logging.getLogger(__name__)


class AgentSession(Protocol):
    """One authenticated link of one agent, as the hub sees it."""

    @property
    def tenant_id(self) -> str: ...

    @property
    def agent_id(self) -> str: ...

    async def send_operation(self, envelope: bytes) -> None:
        """Put the envelope on the link; raises any exception if it could not."""
        ...

    async def send_sync_request(self, sync_id: str) -> None: ...


class Hub(Protocol):
    # -- what the use-cases call --------------------------------------------------
    async def present(self, tenant_id: str) -> list[str]:
        """Ids of the tenant's agents that are connected and authenticated now."""
        ...

    async def request(
        self, tenant_id: str, agent_id: str, request_id: str, envelope: bytes, timeout: float
    ) -> Result:
        """Deliver ``envelope`` to one agent and wait for its result.

        Raises:
            AgentUnavailable: the agent is not connected, or the send failed
                before delivery: another agent may be tried.
            AgentLost: delivered, then the link dropped before a result.
            ReplyTimeout: delivered, no result within ``timeout`` seconds.
            RequestInProgress: ``request_id`` is already waiting for a result.
        """
        ...

    async def request_sync(self, tenant_id: str) -> None:
        """Ask one present agent of the tenant for a full sync (L5).

        Raises:
            AgentUnavailable: no agent of the tenant took the request.
        """
        ...

    # -- what the relay endpoint of the node holding the link calls ----------------
    async def attach(self, session: AgentSession) -> None: ...

    async def detach(self, session: AgentSession) -> None: ...

    async def resolve(self, session: AgentSession, result: Result) -> None: ...


@dataclasses.dataclass
class _Pending:
    session: AgentSession
    future: asyncio.Future[Result]


class LocalHub:
    """The in-process hub: every link ends in this process (one server node).

    Must be used from one event loop: the one serving the relay endpoint.
    """

    def __init__(self) -> None:
        # Insertion order = connection order; a reconnecting agent moves last.
        self._sessions: dict[tuple[str, str], AgentSession] = {}
        self._pending: dict[str, _Pending] = {}

    async def present(self, tenant_id: str) -> list[str]:
        return [agent for tenant, agent in self._sessions if tenant == tenant_id]

    async def request(
        self, tenant_id: str, agent_id: str, request_id: str, envelope: bytes, timeout: float
    ) -> Result:
        session = self._sessions.get((tenant_id, agent_id))
        if session is None:
            raise AgentUnavailable(f"agent {agent_id} is not connected")
        if request_id in self._pending:
            raise RequestInProgress(f"request {request_id} is already waiting for a result")
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = _Pending(session, future)
        try:
            try:
                await session.send_operation(envelope)
            except Exception as exc:
                raise AgentUnavailable(f"could not send to agent {agent_id}") from exc
            try:
                async with asyncio.timeout(timeout):
                    return await future
            except TimeoutError as exc:
                raise ReplyTimeout(f"no result from agent {agent_id} in {timeout} s") from exc
        finally:
            mine = self._pending.get(request_id)
            if mine is not None and mine.future is future:
                del self._pending[request_id]
            if future.done() and not future.cancelled():
                future.exception()  # retrieved: asyncio must not log it as lost
            else:
                future.cancel()

    async def request_sync(self, tenant_id: str) -> None:
        for (tenant, _agent), session in reversed(list(self._sessions.items())):
            if tenant != tenant_id:
                continue
            try:
                await session.send_sync_request(str(uuid.uuid4()))
            except Exception:
                logger.warning("sync request to agent %s failed", session.agent_id, exc_info=True)
                continue
            return
        raise AgentUnavailable(f"no agent of tenant {tenant_id} took the sync request")

    async def attach(self, session: AgentSession) -> None:
        key = (session.tenant_id, session.agent_id)
        # The agent reconnected before its old link was seen dead: the new link
        # wins; the old one fails its pending requests when it ends.
        self._sessions.pop(key, None)
        self._sessions[key] = session

    async def detach(self, session: AgentSession) -> None:
        key = (session.tenant_id, session.agent_id)
        if self._sessions.get(key) is session:
            del self._sessions[key]
        for request_id, pending in list(self._pending.items()):
            if pending.session is session and not pending.future.done():
                pending.future.set_exception(
                    AgentLost(f"link to agent {session.agent_id} ended before the result")
                )
                del self._pending[request_id]

    async def resolve(self, session: AgentSession, result: Result) -> None:
        pending = self._pending.get(result.request_id)
        if pending is None or pending.session is not session or pending.future.done():
            # Late (after a timeout), duplicated, or not this agent's request.
            logger.warning(
                "result for request %s from agent %s matches no pending request",
                result.request_id,
                session.agent_id,
                extra={"request_id": result.request_id, "agent_id": session.agent_id},
            )
            return
        pending.future.set_result(result)
