"""The mail seam: what the portal hands over, and how sending fails.

Exception tree::

    MailError                 the message was not accepted by the mail server
"""

from __future__ import annotations

import dataclasses
from typing import Protocol


class MailError(Exception):
    """Sending failed; the text names the server and the reason, never the body."""


@dataclasses.dataclass(frozen=True)
class MailMessage:
    to: str
    subject: str
    body: str = dataclasses.field(repr=False)  # may hold a one-time code (S7)
    language: str = "en"


class MailSender(Protocol):
    async def send(self, message: MailMessage) -> None:
        """Deliver ``message`` to the mail server.

        Raises:
            MailError: the server could not be reached or refused the message.
        """
        ...
