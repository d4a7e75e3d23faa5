"""What the portal hands the mail seam (``types.MailSender``), and how sending fails.

Exception tree::

    MailError                 the message was not accepted by the mail server
"""

from __future__ import annotations

import dataclasses


class MailError(Exception):
    """Sending failed; the text names the server and the reason, never the body."""


@dataclasses.dataclass(frozen=True)
class MailMessage:
    to: str
    subject: str
    body: str = dataclasses.field(repr=False)  # may hold a one-time code (S7)
    language: str = "en"
