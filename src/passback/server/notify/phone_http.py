"""A phone provider for any HTTP gateway: one POST per message, to a URL,
with headers and a JSON body the operator configures (SPEC G1).

The body is a JSON template per channel; in its strings, ``{to}`` (E.164),
``{text}`` and ``{language}`` are replaced by the message's values (plain
text replacement, nothing is evaluated). A channel without a template is not
offered. Any 2xx answer is success; anything else, a timeout or a connection
error is a :class:`PhoneError` naming the status, never the body.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from passback.server.notify.phone import Channel, PhoneError, PhoneMessage

_PLACEHOLDER = re.compile(r"\{([a-z]+)\}")


def fill(template: Any, values: Mapping[str, str]) -> Any:
    """``template`` with every placeholder in its strings replaced, in one
    pass (a value's own braces are left alone); unknown ones stay as written."""
    if isinstance(template, str):
        return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), template)
    if isinstance(template, list):
        return [fill(item, values) for item in template]
    if isinstance(template, dict):
        return {key: fill(item, values) for key, item in template.items()}
    return template


class HttpGatewaySender:
    def __init__(
        self,
        url: str,
        *,
        bodies: Mapping[Channel, Any],
        headers: Mapping[str, str] | None = None,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = url
        #: The URL as errors and logs name it: no user-info, no query (keys live there).
        parts = urlsplit(url)
        self.shown = urlunsplit((parts.scheme, parts.hostname or "", parts.path, "", ""))
        if parts.port:
            self.shown = urlunsplit(
                (parts.scheme, f"{parts.hostname}:{parts.port}", parts.path, "", "")
            )
        self.bodies = dict(bodies)
        self.headers = dict(headers or {})
        self.timeout = timeout
        self.channels = frozenset(self.bodies)
        self._transport = transport

    async def send(self, message: PhoneMessage) -> None:
        template = self.bodies.get(message.channel)
        if template is None:
            raise PhoneError(f"gateway {self.shown}: no {message.channel} body configured")
        body = fill(
            template, {"to": message.to, "text": message.text, "language": message.language}
        )
        try:
            async with httpx.AsyncClient(
                timeout=self.timeout, transport=self._transport, follow_redirects=False
            ) as client:
                answer = await client.post(self.url, json=body, headers=self.headers)
        except httpx.HTTPError as exc:
            raise PhoneError(f"gateway {self.shown}: {type(exc).__name__}") from None
        if not answer.is_success:
            raise PhoneError(f"gateway {self.shown}: HTTP {answer.status_code}")
