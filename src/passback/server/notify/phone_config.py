"""The phone provider from its TOML file (``passback server --phone-provider``).

::

    provider = "outbox"            # writes each message to a folder (demo, tests)
    folder = "/var/lib/passback/outbox"

    provider = "http"              # any HTTP gateway
    url = "https://sms.example.net/v1/send"
    timeout = 10                   # seconds, 1–60
    [headers]
    Authorization = "Bearer …"
    [sms]                          # JSON body of a text message; {to} {text} {language}
    number = "{to}"
    message = "{text}"
    [voice]                        # optional: a voice call's body
    number = "{to}"
    say = "{text}"
    lang = "{language}"

    provider = "twilio"
    account_sid = "AC…"
    auth_token = "…"
    from = "+15550100"             # a number of the account, E.164

A file of the ``http`` or ``twilio`` provider holds a credential (a token, a
header, a key in the URL) and must be readable by its owner only (0600): the
server refuses it otherwise.
"""

from __future__ import annotations

import stat
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from passback.server import phones
from passback.server.notify.phone import Channel
from passback.server.notify.phone_http import HttpGatewaySender
from passback.server.notify.phone_outbox import OutboxSender
from passback.server.notify.phone_twilio import API, TwilioSender
from passback.server.types import PhoneSender

#: The largest provider file read.
MAX_FILE = 64 * 1024


class ProviderConfigError(ValueError):
    """The file is not a valid provider configuration; the text says why and where."""


def load(path: Path) -> PhoneSender:
    """The provider ``path`` configures.

    Raises:
        ProviderConfigError: unreadable, too open, not TOML, or not valid.
    """
    try:
        info = path.stat()
        if info.st_size > MAX_FILE:
            raise ProviderConfigError(f"{path}: larger than {MAX_FILE} bytes")
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ProviderConfigError(f"{path}: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ProviderConfigError(f"{path}: not TOML: {exc}") from None
    # A gateway's key may sit anywhere in its file (a header, the URL's query,
    # the body): every file but the outbox's is taken to hold one.
    secret = raw.get("provider") != "outbox"
    if secret and info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ProviderConfigError(
            f"{path}: holds a credential and others may read it: chmod 600 {path}"
        )
    try:
        return build(raw)
    except ProviderConfigError as exc:
        raise ProviderConfigError(f"{path}: {exc}") from None


def build(raw: dict[str, Any]) -> PhoneSender:
    """The provider a parsed configuration describes.

    Raises:
        ProviderConfigError: a field is missing, unknown or of the wrong kind.
    """
    kind = raw.get("provider")
    if kind == "outbox":
        _fields(raw, required={"provider", "folder"})
        return OutboxSender(Path(_text(raw, "folder")))
    if kind == "http":
        _fields(raw, required={"provider", "url", "sms"}, optional={"headers", "voice", "timeout"})
        url = _url(raw)
        headers = raw.get("headers", {})
        if not isinstance(headers, dict) or not all(
            isinstance(v, str) and "\n" not in v and "\r" not in v for v in headers.values()
        ):
            raise ProviderConfigError("headers: a table of text values, one line each")
        bodies = {}
        for channel in Channel:
            body = raw.get(channel.value)
            if body is None:
                continue
            if not isinstance(body, dict) or not body:
                raise ProviderConfigError(f"{channel.value}: a table (the JSON body)")
            bodies[channel] = body
        return HttpGatewaySender(url, bodies=bodies, headers=headers, timeout=_timeout(raw))
    if kind == "twilio":
        _fields(
            raw,
            required={"provider", "account_sid", "auth_token", "from"},
            optional={"base_url", "timeout"},
        )
        sender = phones.e164(_text(raw, "from"))
        if sender is None:
            raise ProviderConfigError("from: a phone number in E.164 (+15550100)")
        return TwilioSender(
            _text(raw, "account_sid"),
            _text(raw, "auth_token"),
            sender,
            base_url=_url(raw, "base_url") if "base_url" in raw else API,
            timeout=_timeout(raw),
        )
    raise ProviderConfigError('provider: one of "outbox", "http", "twilio"')


def _fields(
    raw: dict[str, Any], *, required: set[str], optional: frozenset[str] | set[str] = frozenset()
) -> None:
    missing = sorted(required - raw.keys())
    if missing:
        raise ProviderConfigError(f"missing: {', '.join(missing)}")
    unknown = sorted(raw.keys() - required - set(optional))
    if unknown:
        raise ProviderConfigError(f"unknown: {', '.join(unknown)}")


def _text(raw: dict[str, Any], name: str) -> str:
    value = raw[name]
    if not isinstance(value, str) or not value.strip():
        raise ProviderConfigError(f"{name}: a non-empty text")
    return value


def _url(raw: dict[str, Any], name: str = "url") -> str:
    """An https URL (plain http only to a gateway on this machine: codes travel in it)."""
    value = _text(raw, name)
    parts = urlsplit(value)
    loopback = parts.hostname in ("localhost", "::1") or (parts.hostname or "").startswith("127.")
    if not parts.hostname or not (parts.scheme == "https" or (parts.scheme == "http" and loopback)):
        raise ProviderConfigError(f"{name}: an https:// URL (http:// to loopback only)")
    return value


def _timeout(raw: dict[str, Any]) -> float:
    value = raw.get("timeout", 10)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 1 <= value <= 60:
        raise ProviderConfigError("timeout: seconds, 1 to 60")
    return float(value)
