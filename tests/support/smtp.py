"""A real SMTP server on loopback that keeps what it receives, so tests read
the one-time codes the way a user would: the product's own mail catcher (the
one ``passback demo`` uses), in memory, with the tests' timeout factor."""

from __future__ import annotations

import os
from email.message import EmailMessage

from passback.demo import mailcatcher
from passback.demo.mailcatcher import free_port as _free_port

__all__ = ["MailCatcher", "_free_port"]

TIMEOUT_FACTOR = float(os.environ.get("PASSBACK_TEST_TIMEOUT_FACTOR", "1"))


class MailCatcher(mailcatcher.MailCatcher):
    """Start with :meth:`start`, stop with :meth:`stop`; ``port`` to send to.
    ``code_for`` waits through :meth:`wait_for`, so with the factor too."""

    def wait_for(self, address: str, count: int = 1, timeout: float = 10.0) -> EmailMessage:
        return super().wait_for(address, count, timeout * TIMEOUT_FACTOR)
