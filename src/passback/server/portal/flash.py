"""A message carried across a redirect (Post/Redirect/Get): a form that
carried a password answers with a redirect, never with a page, so that Back
or Reload cannot send the password again. What the page it leads to must
show (an error — its message id, values, support code and status — or a
notice's message id) rides in a short-lived cookie for that page alone,
signed so that nobody can make the portal show words of their own. The page
renders it in its own language, so a reload or a switch of language shows
the same page, with the same support code.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from passback.server.portal.codes import Hasher

COOKIE = "passback_flash"
#: Seconds a carried message waits for its page.
MAX_AGE = 120
_PURPOSE = "flash"
#: Cookies beyond this are not read (a browser keeps 4 KB per cookie).
_MAX_COOKIE = 3800


def carry(
    request: Request, response: Response, hasher: Hasher, at: str, message: dict[str, Any]
) -> None:
    """Make the page at the path ``at`` show ``message`` (JSON-able), when it
    is shown next and on its reloads, until another message replaces it or
    ``MAX_AGE`` passes. Other pages do not show it."""
    message = {**message, "at": _at(at)}
    raw = json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode()
    value = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    response.set_cookie(
        COOKIE,
        hasher.sign(_PURPOSE, value),
        max_age=MAX_AGE,
        path="/".join(at.split("/")[:3]) + "/",  # the tenant's pages: /portal/<slug>/
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def take(request: Request, hasher: Hasher) -> dict[str, Any] | None:
    """The message carried to this very page, if a genuine one came."""
    cookie = request.cookies.get(COOKIE)
    if not cookie or len(cookie) > _MAX_COOKIE:
        return None
    value = hasher.unsign(_PURPOSE, cookie)
    if value is None:
        return None
    try:
        message = json.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
    except ValueError:
        return None
    if not isinstance(message, dict) or message.get("at") != _at(request.url.path):
        return None
    return message


def _at(path: str) -> str:
    """The page a message is for, hashed: a path may hold a secret (a set-up
    link), and the cookie is signed, not sealed."""
    return hashlib.sha256(path.encode("utf-8", "surrogatepass")).hexdigest()[:32]


class ReplacedByEveryPost:
    """ASGI middleware: every answer to a POST of the portal replaces the
    carried message — with its own, or with none — so that a message of an
    earlier failed post never shows on a page after a later successful one."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or not path.startswith(("/portal/", "/console/"))
        ):
            await self.app(scope, receive, send)
            return
        carried = any(
            name == b"cookie" and COOKIE.encode() + b"=" in value
            for name, value in scope.get("headers", [])
        )

        async def send_replacing(message: Message) -> None:
            if carried and message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                own = any(v.startswith(f"{COOKIE}=") for v in headers.getlist("set-cookie"))
                if not own:
                    tenant_path = "/".join(path.split("/")[:3]) + "/"
                    headers.append(
                        "set-cookie",
                        f"{COOKIE}=; Max-Age=0; Path={tenant_path}; HttpOnly; SameSite=strict",
                    )
            await send(message)

        await self.app(scope, receive, send_replacing)
