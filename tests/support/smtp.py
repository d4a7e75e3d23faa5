"""A real SMTP server on loopback (aiosmtpd) that keeps what it receives, so
tests read the one-time codes the way a user would."""

from __future__ import annotations

import email
import email.policy
import os
import re
import socket
import threading
import time
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

TIMEOUT_FACTOR = float(os.environ.get("PASSBACK_TEST_TIMEOUT_FACTOR", "1"))
CODE = re.compile(r"^[ \t]+(\d{4}) (\d{4})\s*$", re.M)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Keep:
    def __init__(self, inbox: MailCatcher) -> None:
        self.inbox = inbox

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.inbox.add(message)
        return "250 OK"


class MailCatcher:
    """Start with :meth:`start`, stop with :meth:`stop`; ``port`` to send to."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self._lock = threading.Lock()
        self.port = _free_port()
        self._controller = Controller(_Keep(self), hostname="127.0.0.1", port=self.port)

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()

    def add(self, message: EmailMessage) -> None:
        with self._lock:
            self.messages.append(message)

    def to(self, address: str) -> list[EmailMessage]:
        with self._lock:
            return [m for m in self.messages if m["To"] == address]

    def wait_for(self, address: str, count: int = 1, timeout: float = 10.0) -> EmailMessage:
        """The ``count``-th message to ``address``, waiting for it."""
        deadline = time.monotonic() + timeout * TIMEOUT_FACTOR
        while True:
            found = self.to(address)
            if len(found) >= count:
                return found[count - 1]
            if time.monotonic() > deadline:
                raise TimeoutError(f"no mail #{count} to {address}")
            time.sleep(0.02)

    def code_for(self, address: str, count: int = 1, timeout: float = 10.0) -> str:
        body = self.wait_for(address, count, timeout).get_content()
        found = CODE.search(body)
        assert found, body
        return found.group(1) + found.group(2)
