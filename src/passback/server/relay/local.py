"""The in-process hub: every agent's link ends in this process (one server node).

It is both sides of the relay seam (``types.Hub``): use-cases route messages to
an agent of a tenant through it (``AgentRouter``), and the relay endpoint
attaches, resolves and detaches the links it serves (``LinkRegistry``). Nothing
but this package may assume that an agent's socket lives in this process: a hub
over Redis (ARCHITECTURE "Scale-out") implements the same types.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging

from passback.printable import printable
from passback.protocol.messages import Reply
from passback.server.errors import AgentLost, AgentUnavailable, ReplyTimeout, RequestInProgress
from passback.server.types import AgentSession, Outbound, ReplyT

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class _Pending:
    session: AgentSession
    kind: type[Reply]
    future: asyncio.Future[Reply]


class LocalHub:
    """``types.Hub`` for one node. Must be used from one event loop: the one
    serving the relay endpoint."""

    def __init__(self) -> None:
        # Insertion order = connection order; a reconnecting agent moves last.
        self._sessions: dict[tuple[str, str], AgentSession] = {}
        # Keyed by tenant too: request ids are each tenant's own (one tenant's
        # request id never blocks or answers another's).
        self._pending: dict[tuple[str, str], _Pending] = {}

    # -- AgentRouter -------------------------------------------------------------------

    async def present(self, tenant_id: str, needs: frozenset[str] = frozenset()) -> list[str]:
        return [
            agent
            for (tenant, agent), session in self._sessions.items()
            if tenant == tenant_id and needs <= session.features
        ]

    async def features(self, tenant_id: str) -> dict[str, frozenset[str]]:
        return {
            agent: session.features
            for (tenant, agent), session in self._sessions.items()
            if tenant == tenant_id
        }

    async def send(self, tenant_id: str, agent_id: str, message: Outbound) -> None:
        await self._send(self._session(tenant_id, agent_id), message)

    async def request(
        self,
        tenant_id: str,
        agent_id: str,
        request_id: str,
        message: Outbound,
        reply: type[ReplyT],
        timeout: float,
    ) -> ReplyT:
        session = self._session(tenant_id, agent_id)
        key = (tenant_id, request_id)
        if key in self._pending:
            raise RequestInProgress(f"request {request_id} is already waiting for a result")
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._pending[key] = _Pending(session, reply, future)
        try:
            await self._send(session, message)
            try:
                async with asyncio.timeout(timeout):
                    answer = await future
            except TimeoutError as exc:
                raise ReplyTimeout(f"no result from agent {agent_id} in {timeout} s") from exc
        finally:
            mine = self._pending.get(key)
            if mine is not None and mine.future is future:
                del self._pending[key]
            if future.done() and not future.cancelled():
                future.exception()  # retrieved: asyncio must not log it as lost
            else:
                future.cancel()
        assert isinstance(answer, reply)  # resolve() only sets a reply of the kind awaited
        return answer

    async def disconnect(self, tenant_id: str, agent_id: str, code: int, reason: str) -> None:
        session = self._sessions.get((tenant_id, agent_id))
        if session is not None:
            await session.close(code, reason)

    def _session(self, tenant_id: str, agent_id: str) -> AgentSession:
        session = self._sessions.get((tenant_id, agent_id))
        if session is None:
            raise AgentUnavailable(f"agent {agent_id} is not connected")
        return session

    async def _send(self, session: AgentSession, message: Outbound) -> None:
        try:
            await session.send(message)
        except Exception as exc:
            raise AgentUnavailable(f"could not send to agent {session.agent_id}") from exc

    # -- LinkRegistry ------------------------------------------------------------------

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
        for pending_key, pending in list(self._pending.items()):
            if pending.session is session and not pending.future.done():
                pending.future.set_exception(
                    AgentLost(f"link to agent {session.agent_id} ended before the result")
                )
                del self._pending[pending_key]

    async def resolve(self, session: AgentSession, reply: Reply) -> None:
        pending = self._pending.get((session.tenant_id, reply.request_id))
        if (
            pending is None
            or pending.session is not session
            or pending.future.done()
            or not isinstance(reply, pending.kind)
        ):
            # Late (after a timeout), duplicated, not this agent's request, or
            # not the kind of answer the request called for.
            logger.warning(
                "reply for request %s from agent %s matches no pending request",
                printable(reply.request_id),
                session.agent_id,
                extra={"request_id": reply.request_id, "agent_id": session.agent_id},
            )
            return
        pending.future.set_result(reply)
