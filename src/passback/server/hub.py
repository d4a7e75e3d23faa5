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
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

from passback.printable import printable
from passback.protocol.messages import Reply, Result, Rules
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

    async def send_rules_request(self, request_id: str, anchor: str) -> None: ...


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

    async def rules(
        self, tenant_id: str, agent_id: str, request_id: str, anchor: str, timeout: float
    ) -> Rules:
        """Ask one agent which password rules apply to the user with ``anchor``.

        Raises:
            The same errors as ``request``.
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

    async def resolve(self, session: AgentSession, reply: Reply) -> None: ...


ReplyT = TypeVar("ReplyT", Result, Rules)


@dataclasses.dataclass
class _Pending:
    session: AgentSession
    kind: type[Reply]
    future: asyncio.Future[Reply]


class LocalHub:
    """The in-process hub: every link ends in this process (one server node).

    Must be used from one event loop: the one serving the relay endpoint.
    """

    def __init__(self) -> None:
        # Insertion order = connection order; a reconnecting agent moves last.
        self._sessions: dict[tuple[str, str], AgentSession] = {}
        # Keyed by tenant too: request ids are each tenant's own (one tenant's
        # request id never blocks or answers another's).
        self._pending: dict[tuple[str, str], _Pending] = {}

    async def present(self, tenant_id: str) -> list[str]:
        return [agent for tenant, agent in self._sessions if tenant == tenant_id]

    async def request(
        self, tenant_id: str, agent_id: str, request_id: str, envelope: bytes, timeout: float
    ) -> Result:
        return await self._exchange(
            Result,
            tenant_id,
            agent_id,
            request_id,
            lambda session: session.send_operation(envelope),
            timeout,
        )

    async def rules(
        self, tenant_id: str, agent_id: str, request_id: str, anchor: str, timeout: float
    ) -> Rules:
        return await self._exchange(
            Rules,
            tenant_id,
            agent_id,
            request_id,
            lambda session: session.send_rules_request(request_id, anchor),
            timeout,
        )

    async def _exchange(
        self,
        kind: type[ReplyT],
        tenant_id: str,
        agent_id: str,
        request_id: str,
        send: Callable[[AgentSession], Awaitable[None]],
        timeout: float,
    ) -> ReplyT:
        """Send one request to one agent and wait for its reply of ``kind``."""
        session = self._sessions.get((tenant_id, agent_id))
        if session is None:
            raise AgentUnavailable(f"agent {agent_id} is not connected")
        key = (tenant_id, request_id)
        if key in self._pending:
            raise RequestInProgress(f"request {request_id} is already waiting for a result")
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._pending[key] = _Pending(session, kind, future)
        try:
            try:
                await send(session)
            except Exception as exc:
                raise AgentUnavailable(f"could not send to agent {agent_id}") from exc
            try:
                async with asyncio.timeout(timeout):
                    reply = await future
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
        assert isinstance(reply, kind)  # resolve() only sets a reply of the kind awaited
        return reply

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
