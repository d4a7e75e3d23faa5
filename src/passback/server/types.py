"""The server's seams by name: what a use-case is handed, never how it is built.

One node implements each of them in-process (``relay.local.LocalHub``,
``ratelimit.SlidingWindowLimiter``, ``notify.smtp.SmtpSender``); several
nodes share them through Redis behind the same types (ARCHITECTURE "Scale-out").
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol, TypeAlias, TypeVar

from sqlalchemy.orm import Session, sessionmaker

from passback.protocol.messages import Reply, Result, Rules, RulesRequest, SyncRequest

if TYPE_CHECKING:
    from passback.server.notify.mail import MailMessage
    from passback.server.notify.phone import Channel, PhoneMessage

#: The time now, timezone-aware in UTC: the server's only clock (``store.models.utcnow``
#: in production). Epoch seconds are ``int(clock().timestamp())``; an interval is the
#: difference of two readings.
Clock: TypeAlias = Callable[[], dt.datetime]

#: Opens a session on the store; ``with sessions() as db, db.begin():`` is one transaction.
StoreSessions: TypeAlias = sessionmaker[Session]

#: What the server sends down an agent's link: a sealed operation envelope (a
#: binary frame, as it is) or a control message.
Outbound: TypeAlias = bytes | SyncRequest | RulesRequest

ReplyT = TypeVar("ReplyT", Result, Rules)


class AgentSession(Protocol):
    """One authenticated link of one agent, as the hub sees it."""

    @property
    def tenant_id(self) -> str: ...

    @property
    def agent_id(self) -> str: ...

    @property
    def features(self) -> frozenset[str]:
        """What the agent announced it can do (``protocol.features``)."""
        ...

    async def send(self, message: Outbound) -> None:
        """Put ``message`` on the link; raises any exception if it could not."""
        ...

    async def close(self, code: int, reason: str) -> None:
        """End the link with a close ``code`` (``protocol.errors.CloseCode``)."""
        ...


class AgentRouter(Protocol):
    """What the use-cases call to reach the agents of a tenant (SPEC L4)."""

    async def present(self, tenant_id: str, needs: frozenset[str] = frozenset()) -> list[str]:
        """Ids of the tenant's agents connected and authenticated now, oldest
        link first; with ``needs``, only those that announced these features."""
        ...

    async def features(self, tenant_id: str) -> dict[str, frozenset[str]]:
        """What each connected agent of the tenant announced, by agent id."""
        ...

    async def send(self, tenant_id: str, agent_id: str, message: Outbound) -> None:
        """Deliver ``message`` to one agent; no reply is awaited.

        Raises:
            AgentUnavailable: the agent is not connected, or the send failed.
        """
        ...

    async def request(
        self,
        tenant_id: str,
        agent_id: str,
        request_id: str,
        message: Outbound,
        reply: type[ReplyT],
        timeout: float,
    ) -> ReplyT:
        """Deliver ``message`` to one agent and wait for its reply of kind ``reply``
        to ``request_id``.

        Raises:
            AgentUnavailable: the agent is not connected, or the send failed
                before delivery: another agent may be tried.
            AgentLost: delivered, then the link dropped before a reply.
            ReplyTimeout: delivered, no reply within ``timeout`` seconds.
            RequestInProgress: ``request_id`` is already waiting for a reply.
        """
        ...

    async def disconnect(self, tenant_id: str, agent_id: str, code: int, reason: str) -> None:
        """Close the agent's link, if it has one (a revoked agent: 4006)."""
        ...


class LinkRegistry(Protocol):
    """What the relay endpoint of the node holding a link calls: it attaches the
    link once authenticated, passes on every reply and detaches it at its end."""

    async def attach(self, session: AgentSession) -> None: ...

    async def detach(self, session: AgentSession) -> None: ...

    async def resolve(self, session: AgentSession, reply: Reply) -> None: ...


class Hub(AgentRouter, LinkRegistry, Protocol):
    """Both sides of the relay: what one server node is given."""


class FailureCounter(Protocol):
    """Failures per key within a window (sign-in throttles): an attempt is
    counted before it is made (``allow``, atomic) and given back when it
    succeeded (``refund``); ``add`` counts one more (a wrong current password)."""

    async def allow(self, key: str) -> bool: ...

    async def refund(self, key: str) -> None: ...

    async def add(self, key: str) -> None: ...


class RateLimiter(Protocol):
    async def allow(self, key: str) -> bool:
        """Count one hit for ``key``; False if it is over the limit (the hit
        is not counted then)."""
        ...


class MailSender(Protocol):
    async def send(self, message: MailMessage) -> None:
        """Deliver ``message`` to the mail server.

        Raises:
            MailError: the server could not be reached or refused the message.
        """
        ...


class PhoneSender(Protocol):
    """A phone provider (SPEC G1): text messages and voice calls to E.164
    numbers, through the channels it has (``notify.phone``)."""

    @property
    def channels(self) -> frozenset[Channel]: ...

    async def send(self, message: PhoneMessage) -> None:
        """Deliver ``message`` to the provider.

        Raises:
            PhoneError: the provider could not be reached or refused the message.
        """
        ...
