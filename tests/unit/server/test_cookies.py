"""The pages' cookies: the tenant's path, HttpOnly, SameSite=Strict, Secure
over HTTPS only (a plain-HTTP development server could not send it back)."""

from __future__ import annotations

import pytest
from starlette.requests import Request
from starlette.responses import Response

from passback.server.cookies import set_strict_cookie


def request(scheme: str) -> Request:
    port = 443 if scheme == "https" else 80
    scope = {"type": "http", "scheme": scheme, "path": "/", "query_string": b"", "headers": []}
    return Request({**scope, "server": ("sspr.acme.test", port)})


@pytest.mark.parametrize(("scheme", "secure"), [("https", True), ("http", False)])
def test_a_strict_cookie(scheme: str, secure: bool) -> None:
    response = Response()
    set_strict_cookie(request(scheme), response, "/portal/acme/", "passback_device", "t", 60)
    [cookie] = response.headers.getlist("set-cookie")
    assert cookie.startswith("passback_device=t;")
    parts = {p.strip().lower() for p in cookie.split(";")}
    assert {"httponly", "samesite=strict", "path=/portal/acme/", "max-age=60"} <= parts
    assert ("secure" in parts) is secure


def test_without_an_age_it_is_a_session_cookie() -> None:
    response = Response()
    set_strict_cookie(request("https"), response, "/console/acme/", "passback_session", "t")
    assert "max-age" not in response.headers["set-cookie"].lower()
