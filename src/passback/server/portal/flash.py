"""A message carried across a redirect (Post/Redirect/Get): a form that
carried a password answers with a redirect, never with a page, so that Back
or Reload cannot send the password again. What the next page must show (an
error with its support code and status, or a notice) rides in a short-lived
cookie, signed so that nobody can make the portal show words of their own.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from passback.server.portal.codes import Hasher

COOKIE = "passback_flash"
#: Seconds a carried message waits for its page.
MAX_AGE = 120
_PURPOSE = "flash"
#: Cookies beyond this are not read (a browser keeps 4 KB per cookie).
_MAX_COOKIE = 3800


def carry(
    request: Request, response: Response, hasher: Hasher, path: str, message: dict[str, Any]
) -> None:
    """Make the next page under ``path`` show ``message`` (JSON-able)."""
    raw = json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode()
    value = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    response.set_cookie(
        COOKIE,
        hasher.sign(_PURPOSE, value),
        max_age=MAX_AGE,
        path=path,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def take(request: Request, hasher: Hasher) -> dict[str, Any] | None:
    """The carried message, if a genuine one came; :func:`forget` it on the
    response so that it is shown once."""
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
    return message if isinstance(message, dict) else None


def forget(request: Request, response: Response, path: str) -> None:
    if COOKIE in request.cookies:
        response.delete_cookie(COOKIE, path=path)
