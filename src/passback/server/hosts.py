"""The request's ``Host`` header is the client's word, so nothing is built from it.

- Redirects are relative: the only absolute ones, Starlette's added or removed
  trailing slash, are rewritten to their path.
- With a public URL configured (``passback server --public-url``), an HTTP
  request for any other host name is refused with ``400 unknown_host``. A
  client on loopback may also use a loopback name (``localhost``,
  ``127.0.0.1``, ``[::1]``), so that a health check on the machine itself
  works. The relay WebSocket is not checked: an agent proves itself with its
  secret and may know the server by an internal name.
"""

from __future__ import annotations

import ipaddress
import uuid
from urllib.parse import urlsplit

from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from passback.printable import printable
from passback.server.api.problems import error_response, store_record
from passback.server.support import Incident

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
#: Characters of a refused Host kept in its support record.
HOST_NOTED = 256


def host_name(host: str) -> str:
    """The name in a ``Host`` value, lowercased, without port or final dot."""
    try:
        name = urlsplit(f"//{host}").hostname or ""
    except ValueError:  # e.g. an unclosed "[" of an IPv6 address
        return ""
    return name.rstrip(".")


def _is_loopback(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


class TrustedHosts:
    """ASGI middleware: relative redirects, and the host check above.

    Args:
        public_url: the URL users reach the server at; None: any host name
            is answered (redirects are still relative).
    """

    def __init__(self, app: ASGIApp, *, public_url: str | None) -> None:
        self.app = app
        self.public_url = public_url
        self.public_name = host_name(urlsplit(public_url).netloc) if public_url else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        host = Headers(scope=scope).get("host", "")
        if not self._allowed(scope, host):
            await self._refuse(scope, host)(scope, receive, send)
            return

        async def send_relative(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                location = urlsplit(headers.get("location", ""))
                if location.netloc and location.netloc.lower() == host.lower():
                    headers["location"] = location._replace(scheme="", netloc="").geturl()
            await send(message)

        await self.app(scope, receive, send_relative)

    def _allowed(self, scope: Scope, host: str) -> bool:
        if self.public_name is None:
            return True
        name = host_name(host)
        if name == self.public_name:
            return True
        client = scope.get("client")
        local = client is not None and _is_loopback(client[0])
        return local and (name in LOOPBACK_NAMES or not host)

    def _refuse(self, scope: Scope, host: str) -> ASGIApp:
        message = f"This server does not answer to this host name. Use {self.public_url}."
        code = str(uuid.uuid4())

        async def refuse(scope: Scope, receive: Receive, send: Send) -> None:
            # Not request.url: it is built from the Host, which may not parse.
            incident = Incident(
                "unknown_host",
                400,
                message,
                method=scope["method"],
                path=scope["path"],
                note=f"Host: {printable(host[:HOST_NOTED])}",
            )
            kept = await store_record(Request(scope, receive), incident, code)
            response = error_response(
                400, "unknown_host", message, support_code=code, recorded=kept
            )
            await response(scope, receive, send)

        return refuse
