"""How large a request body may be: the same limit on every route.

The largest body any form or API route needs is a passkey's credential
(16 KiB). A larger one is refused with ``413 body_too_large``: from its
``Content-Length`` before a byte of it is read (here), or, sent without one,
as soon as the bytes read pass the limit (FastAPI's ``max_body_size``, given
the same value). Nothing is parsed, spooled to disk or recorded for it.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from passback.server.api.problems import BODY_TOO_LARGE, error_response

MAX_BODY = 64 * 1024


class DeclaredBodyLimit:
    """ASGI middleware: a body declared larger than ``MAX_BODY`` is answered
    with the API's error body (Starlette's own limit would answer it in plain
    text)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and _declared(scope) > MAX_BODY:
            response = error_response(413, "body_too_large", BODY_TOO_LARGE, recorded=False)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _declared(scope: Scope) -> int:
    """The body's declared length; 0 when there is none or it does not parse
    (h11 refuses those before the app)."""
    value = Headers(scope=scope).get("content-length", "")
    return int(value) if value.isascii() and value.isdigit() else 0
