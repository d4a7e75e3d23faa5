"""A mail catcher: an SMTP server on loopback that keeps what it receives.

The demo points the server's ``--smtp-host``/``--smtp-port`` at it, so the
portal's one-time codes arrive somewhere a person can read them without a real
mail system: each message is written as ``FOLDER/<n>-<recipient>.eml`` (one
file per recipient, ``n`` counting from 1) and announced with one line on the
console. The tests use the same catcher, in memory, to read codes the way a
user would.

It accepts mail for anyone, from anyone, without TLS or authentication: it is
for the demo and the tests, never for a deployment. For the same reason the
console line shows the one-time code it finds in the message — convenient in a
demo, and exactly what a real mail path must never do.
"""

from __future__ import annotations

import email
import email.policy
import os
import re
import socket
import threading
import time
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

HOST = "127.0.0.1"
#: The 8-digit one-time code on a line of its own, as the code email writes it
#: ("    1234 5678") …
CODE_LINE = re.compile(r"^[ \t\u00a0]*(\d{4})[ \u00a0]?(\d{4})[ \t\u00a0]*$", re.M)
#: … or, failing that, anywhere in the text: 8 digits (maybe "1234 5678") that
#: are not part of a longer number, a date, an address or a URL.
CODE = re.compile(
    r"(?<![\w.,:/-])(?<!\d[ \u00a0])(\d{4})[ \u00a0]?(\d{4})(?![\w.,:/-]?\d)(?![ \u00a0]\d)"
)
#: Characters kept in a file name made from an address; others become "_".
_UNSAFE = re.compile(r"[^A-Za-z0-9@._+-]")
_START_ATTEMPTS = 5


def free_port(host: str = HOST) -> int:
    """A TCP port nobody listens on right now (a race, but loopback is quiet)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def find_code(message: EmailMessage) -> str | None:
    """The 8-digit code in ``message``'s text, or None (demo and tests only)."""
    try:
        part = message.get_body(preferencelist=("plain",))
        text = part.get_content() if part is not None else ""
    except (LookupError, ValueError, AttributeError, TypeError):
        return None  # an odd message: no code shown, nothing breaks
    if not isinstance(text, str):
        return None
    found = CODE_LINE.search(text) or CODE.search(text)
    return found.group(1) + found.group(2) if found else None


def file_name(number: int, recipient: str) -> str:
    safe = _UNSAFE.sub("_", recipient).strip(".") or "unknown"
    return f"{number}-{safe[:200]}.eml"


class _Handler:
    def __init__(self, catcher: MailCatcher) -> None:
        self.catcher = catcher

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        content = envelope.original_content or envelope.content
        if isinstance(content, str):
            content = content.encode("utf-8", "surrogateescape")
        self.catcher.receive(bytes(content), [str(r) for r in envelope.rcpt_tos])
        return "250 OK"


class MailCatcher:
    """``start()`` it, send to ``HOST:port``, ``stop()`` it.

    Args:
        folder: where to write each message as ``<n>-<recipient>.eml`` (made
            mode 0700, files 0600: they hold one-time codes); None keeps the
            messages in memory only.
        echo: called with one line per message received: the recipients, the
            subject and the code found in it (for a demo's console).
        port: the port to listen on; 0 picks a free one.
    """

    def __init__(
        self,
        folder: Path | None = None,
        *,
        echo: Callable[[str], None] | None = None,
        port: int = 0,
    ) -> None:
        self.folder = folder
        self.echo = echo
        self.messages: list[EmailMessage] = []
        self._fixed_port = port
        self.port = port or free_port()
        self._count = 0
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._controller: Controller | None = None

    # -- running -------------------------------------------------------------

    def start(self) -> None:
        """Listen on ``HOST:port``; with a picked port, retry another if it was
        taken meanwhile.

        Raises:
            OSError: the port cannot be listened on.
        """
        if self.folder is not None:
            self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        for attempt in range(_START_ATTEMPTS):
            controller = Controller(_Handler(self), hostname=HOST, port=self.port)
            try:
                controller.start()
            except (OSError, RuntimeError):
                if self._fixed_port or attempt == _START_ATTEMPTS - 1:
                    raise
                self.port = free_port()
                continue
            self._controller = controller
            return

    def stop(self) -> None:
        """Stop listening; safe to call twice or before :meth:`start`."""
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()

    @property
    def running(self) -> bool:
        return self._controller is not None

    # -- receiving -----------------------------------------------------------

    def receive(self, content: bytes, recipients: list[str]) -> None:
        """Keep one message: in memory, in ``folder``, and a line to ``echo``."""
        message = email.message_from_bytes(content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        with self._changed:
            self.messages.append(message)
            numbers = []
            for recipient in recipients or ["unknown"]:
                self._count += 1
                numbers.append(self._count)
                if self.folder is not None:
                    _write_private(self.folder / file_name(self._count, recipient), content)
            self._changed.notify_all()
        if self.echo is not None:
            self.echo(self._line(message, recipients))

    def _line(self, message: EmailMessage, recipients: list[str]) -> str:
        subject = str(message.get("Subject", "")).strip() or "(no subject)"
        line = f"mail to {', '.join(recipients) or 'nobody'}: {subject}"
        code = find_code(message)
        if code is not None:
            line += f"  (code {code[:4]} {code[4:]}, shown here for the demo only)"
        return line

    def to(self, address: str) -> list[EmailMessage]:
        """The messages whose ``To`` is ``address``, oldest first."""
        with self._lock:
            return [m for m in self.messages if m["To"] == address]

    def wait_for(self, address: str, count: int = 1, timeout: float = 10.0) -> EmailMessage:
        """The ``count``-th message to ``address``, waiting up to ``timeout`` s.

        Raises:
            TimeoutError: it did not arrive in time.
        """
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = [m for m in self.messages if m["To"] == address]
                if len(found) >= count:
                    return found[count - 1]
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no mail #{count} to {address}")
                self._changed.wait(left)

    def code_for(self, address: str, count: int = 1, timeout: float = 10.0) -> str:
        """The one-time code in the ``count``-th message to ``address``.

        Raises:
            TimeoutError: no such message in time.
            LookupError: the message holds no code.
        """
        message = self.wait_for(address, count, timeout)
        code = find_code(message)
        if code is None:
            raise LookupError(f"no code in the mail to {address}")
        return code


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
