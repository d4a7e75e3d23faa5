"""A message carried across a redirect (PRG): shown as sent, never forged."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from passback.server.portal import flash
from passback.server.portal.codes import Hasher

HASHER = Hasher(b"k" * 32)


def request_with(cookie: str | None) -> Request:
    headers = [(b"cookie", f"{flash.COOKIE}={cookie}".encode())] if cookie else []
    scope = {"type": "http", "headers": headers, "scheme": "https", "path": "/"}
    return Request({**scope, "server": ("sspr.test", 443), "query_string": b""})


def test_a_carried_message_comes_back() -> None:
    response = Response()
    message = {"error": {"text": "Não <b>", "field": "password"}, "status": 401}
    flash.carry(request_with(None), response, HASHER, "/portal/acme/", message)
    header = response.headers["set-cookie"]
    assert "httponly" in header.lower() and "samesite=strict" in header.lower()
    assert "secure" in header.lower() and "path=/portal/acme/" in header.lower()
    value = header.split(";")[0].split("=", 1)[1]
    assert flash.take(request_with(value), HASHER) == message


def test_a_forged_or_broken_message_is_ignored() -> None:
    response = Response()
    flash.carry(request_with(None), response, HASHER, "/", {"notice": "hi"})
    value = response.headers["set-cookie"].split(";")[0].split("=", 1)[1]
    body, mac = value.rsplit(".", 1)
    for forged in (f"{body}x.{mac}", "e30", "x" * 5000, HASHER.sign("flash", "!!!")):
        assert flash.take(request_with(forged), HASHER) is None
    assert flash.take(request_with(value), Hasher(b"o" * 32)) is None
    assert flash.take(request_with(HASHER.sign("flash", "WzFd")), HASHER) is None  # [1]


def test_forget_deletes_only_a_present_cookie() -> None:
    response = Response()
    flash.forget(request_with(None), response, "/")
    assert "set-cookie" not in response.headers
    flash.forget(request_with("x"), response, "/")
    assert "max-age=0" in response.headers["set-cookie"].lower()
