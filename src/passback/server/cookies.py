"""The cookies of the portal's and the console's pages: each under its
tenant's path, HttpOnly, SameSite=Strict (no other site's request carries
it), and Secure over HTTPS."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response


def set_strict_cookie(
    request: Request,
    response: Response,
    path: str,
    name: str,
    value: str,
    max_age: int | None = None,
) -> None:
    """``max_age`` None: a browser session's cookie."""
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=path,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
