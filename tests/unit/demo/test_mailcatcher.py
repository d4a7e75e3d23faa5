"""The demo's mail catcher: keeps each message as a file, echoes a line with
the code, and never breaks on an odd message."""

from __future__ import annotations

import smtplib
import stat
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest

from passback.demo.mailcatcher import HOST, MailCatcher, file_name, find_code


def message(body: str, to: str = "alice@demo.passback.test") -> EmailMessage:
    m = EmailMessage()
    m["From"] = "passback-demo@demo.passback.test"
    m["To"] = to
    m["Subject"] = "Your password reset code"
    m.set_content(body)
    return m


@pytest.fixture
def lines() -> list[str]:
    return []


@pytest.fixture
def catcher(tmp_path: Path, lines: list[str]) -> Iterator[MailCatcher]:
    mail = MailCatcher(tmp_path / "mail", echo=lines.append)
    mail.start()
    try:
        yield mail
    finally:
        mail.stop()


def send(catcher: MailCatcher, m: EmailMessage, to: list[str] | None = None) -> None:
    with smtplib.SMTP(HOST, catcher.port, timeout=5) as smtp:
        smtp.send_message(m, to_addrs=to)


def test_keeps_each_message_as_a_private_file_and_echoes_the_code(
    catcher: MailCatcher, lines: list[str], tmp_path: Path
) -> None:
    send(catcher, message("Hello,\n\n    1234 5678\n\nThe page is at https://127.0.0.1:8443/x\n"))
    send(catcher, message("Olá,\n\n    8765 4321\n", to="bob@demo.passback.test"))
    assert catcher.code_for("alice@demo.passback.test") == "12345678"
    assert catcher.code_for("bob@demo.passback.test") == "87654321"

    folder = tmp_path / "mail"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    files = sorted(p.name for p in folder.iterdir())
    assert files == ["1-alice@demo.passback.test.eml", "2-bob@demo.passback.test.eml"]
    first = folder / files[0]
    assert stat.S_IMODE(first.stat().st_mode) == 0o600
    assert b"Subject: Your password reset code" in first.read_bytes()
    assert lines[0].startswith("mail to alice@demo.passback.test: Your password reset code")
    assert "1234 5678" in lines[0] and "demo only" in lines[0]


def test_one_file_per_recipient_and_no_code_is_fine(
    catcher: MailCatcher, lines: list[str], tmp_path: Path
) -> None:
    send(catcher, message("No code in here, only 2024 and 1234567890.\n"), to=["a@x", "b/../c@x"])
    catcher.wait_for("alice@demo.passback.test")
    assert sorted(p.name for p in (tmp_path / "mail").iterdir()) == [
        "1-a@x.eml",
        "2-b_.._c@x.eml",
    ]
    assert lines == ["mail to a@x, b/../c@x: Your password reset code"]
    with pytest.raises(LookupError):
        catcher.code_for("alice@demo.passback.test")


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ("    1234 5678\n", "12345678"),
        ("Your code: 12345678.\n", "12345678"),
        ("Call 0800 1234 5678 9\n", None),
        ("On 2024-01-01 at 10:00, ref 123456789\n", None),
        ("see https://h:8443/portal/12345678/code\n", None),
    ],
)
def test_find_code(body: str, code: str | None) -> None:
    assert find_code(message(body)) == code


def test_file_names_are_safe() -> None:
    assert file_name(3, "alice@demo.passback.test") == "3-alice@demo.passback.test.eml"
    assert file_name(4, "../../etc/passwd") == "4-_.._etc_passwd.eml"
    assert "/" not in file_name(5, "a/b") and file_name(6, "") == "6-unknown.eml"


def test_stop_is_safe_twice_and_before_start(tmp_path: Path) -> None:
    mail = MailCatcher()
    mail.stop()
    mail.start()
    assert mail.running
    mail.stop()
    mail.stop()
    assert not mail.running
