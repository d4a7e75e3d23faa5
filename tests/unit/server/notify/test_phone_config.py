"""The phone provider's file (``passback server --phone-provider``): every
field checked, a credential kept private (S7)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from passback.server.notify.phone import Channel
from passback.server.notify.phone_config import ProviderConfigError, build, load
from passback.server.notify.phone_http import HttpGatewaySender
from passback.server.notify.phone_outbox import OutboxSender
from passback.server.notify.phone_twilio import API, TwilioSender


def write(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text)
    path.chmod(mode)
    return path


def test_outbox(tmp_path: Path) -> None:
    sender = load(
        write(tmp_path / "p.toml", f'provider = "outbox"\nfolder = "{tmp_path}"\n', 0o644)
    )
    assert isinstance(sender, OutboxSender) and sender.folder == tmp_path


def test_http_gateway_with_and_without_voice(tmp_path: Path) -> None:
    text = """
provider = "http"
url = "https://sms.example.net/send"
timeout = 5
[headers]
Authorization = "Bearer abc"
[sms]
to = "{to}"
body = "{text}"
"""
    sender = load(write(tmp_path / "p.toml", text))
    assert isinstance(sender, HttpGatewaySender)
    assert sender.channels == {Channel.SMS}
    assert sender.headers == {"Authorization": "Bearer abc"} and sender.timeout == 5.0
    sender = load(write(tmp_path / "v.toml", text + '[voice]\nto = "{to}"\n'))
    assert sender.channels == frozenset(Channel)


def test_twilio(tmp_path: Path) -> None:
    text = 'provider = "twilio"\naccount_sid = "AC1"\nauth_token = "t"\nfrom = "+1 425 555 0100"\n'
    sender = load(write(tmp_path / "p.toml", text))
    assert isinstance(sender, TwilioSender)
    assert (sender.sender, sender.base_url) == ("+14255550100", API)


def test_a_credential_in_a_file_others_may_read_is_refused(tmp_path: Path) -> None:
    text = 'provider = "twilio"\naccount_sid = "AC1"\nauth_token = "t"\nfrom = "+14255550100"\n'
    with pytest.raises(ProviderConfigError, match="chmod 600"):
        load(write(tmp_path / "p.toml", text, 0o640))


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ({}, "provider: one of"),
        ({"provider": "pigeon"}, "provider: one of"),
        ({"provider": "outbox"}, "missing: folder"),
        ({"provider": "outbox", "folder": "/x", "extra": 1}, "unknown: extra"),
        ({"provider": "outbox", "folder": " "}, "folder: a non-empty text"),
        ({"provider": "http", "url": "ftp://x", "sms": {"a": 1}}, "url: an https:// URL"),
        ({"provider": "http", "url": "http://sms.example.net", "sms": {"a": 1}}, "https"),
        ({"provider": "http", "url": "https://x", "sms": {}}, "sms: a table"),
        ({"provider": "http", "url": "https://x", "sms": "body"}, "sms: a table"),
        ({"provider": "http", "url": "https://x", "sms": {"a": 1}, "headers": {"A": 1}}, "headers"),
        (
            {
                "provider": "http",
                "url": "https://x",
                "sms": {"a": 1},
                "headers": {"A": "b\r\nC: d"},
            },
            "headers",
        ),
        ({"provider": "http", "url": "https://x", "sms": {"a": 1}, "timeout": 0}, "timeout"),
        ({"provider": "http", "url": "https://x", "sms": {"a": 1}, "timeout": True}, "timeout"),
        ({"provider": "http", "url": "https://x", "sms": {"a": 1}, "timeout": "5"}, "timeout"),
        (
            {"provider": "twilio", "account_sid": "A", "auth_token": "t", "from": "555"},
            "from: a phone number",
        ),
    ],
)
def test_what_is_wrong_is_said(raw: dict[str, Any], words: str) -> None:
    with pytest.raises(ProviderConfigError, match=words):
        build(raw)


def test_plain_http_to_loopback_is_allowed() -> None:
    sender = build({"provider": "http", "url": "http://127.0.0.1:9/x", "sms": {"a": "{text}"}})
    assert isinstance(sender, HttpGatewaySender)


@pytest.mark.parametrize("content", [b"provider = ", b"\xff\xfe", b"x" * (70 * 1024)])
def test_a_file_that_is_not_toml_or_too_big(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "p.toml"
    path.write_bytes(content)
    with pytest.raises(ProviderConfigError, match=str(path)):
        load(path)


def test_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ProviderConfigError, match="No such file"):
        load(tmp_path / "none.toml")
