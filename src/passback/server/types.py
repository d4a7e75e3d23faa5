"""The server's seams by name: what a use-case is handed, never how it is built.

One node implements each of them in-process (``portal.ratelimit.SlidingWindowLimiter``,
``notify.smtp.SmtpSender``); several nodes share them through Redis behind the
same types (ARCHITECTURE "Scale-out").
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol, TypeAlias

from sqlalchemy.orm import Session, sessionmaker

if TYPE_CHECKING:
    from passback.server.notify.mail import MailMessage

#: The time now, timezone-aware in UTC: the server's only clock (``store.models.utcnow``
#: in production). Epoch seconds are ``int(clock().timestamp())``; an interval is the
#: difference of two readings.
Clock: TypeAlias = Callable[[], dt.datetime]

#: Opens a session on the store; ``with sessions() as db, db.begin():`` is one transaction.
StoreSessions: TypeAlias = sessionmaker[Session]


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


class SmsSender(Protocol):
    """A text-message provider (SPEC G1); no gate uses one yet."""

    async def send(self, number: str, text: str) -> None:
        """Deliver ``text`` to the phone ``number`` (E.164)."""
        ...
