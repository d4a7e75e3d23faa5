"""The SMTP sender against a real SMTP server on loopback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from passback.server.notify import MailError, MailMessage, SmtpSender
from tests.support.smtp import MailCatcher, _free_port


@pytest.fixture
def catcher() -> Iterator[MailCatcher]:
    mail = MailCatcher()
    mail.start()
    try:
        yield mail
    finally:
        mail.stop()


MESSAGE = MailMessage("jdoe@acme.test", "Código", "Olá,\n\n    1234 5678\n", "pt-BR")


async def test_sends_a_message(catcher: MailCatcher) -> None:
    sender = SmtpSender("127.0.0.1", catcher.port, "sspr@acme.test", security="none", timeout=5)
    await sender.send(MESSAGE)
    received = catcher.wait_for("jdoe@acme.test")
    assert received["From"] == "sspr@acme.test"
    assert received["Subject"] == "Código"
    assert received["Content-Language"] == "pt-BR"
    assert catcher.code_for("jdoe@acme.test") == "12345678"


async def test_starttls_is_required_when_asked(catcher: MailCatcher) -> None:
    sender = SmtpSender("127.0.0.1", catcher.port, "sspr@acme.test", security="starttls")
    with pytest.raises(MailError, match="does not offer STARTTLS"):
        await sender.send(MESSAGE)
    assert not catcher.messages


async def test_an_unreachable_server_is_a_mail_error() -> None:
    sender = SmtpSender("127.0.0.1", _free_port(), "sspr@acme.test", security="none", timeout=2)
    with pytest.raises(MailError, match="cannot reach the mail server"):
        await sender.send(MESSAGE)


def test_username_and_password_go_together() -> None:
    with pytest.raises(ValueError, match="both"):
        SmtpSender("h", 25, "f@x", username="u")
