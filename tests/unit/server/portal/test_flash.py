"""A message carried across a redirect (PRG): to one page, shown as sent,
never forged, replaced by the next post."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from passback.server.portal import flash
from passback.server.portal.codes import Hasher

HASHER = Hasher(b"k" * 32)
PAGE = "/portal/acme/password"


def request_with(cookie: str | None, path: str = PAGE) -> Request:
    headers = [(b"cookie", f"{flash.COOKIE}={cookie}".encode())] if cookie else []
    scope = {"type": "http", "headers": headers, "scheme": "https", "path": path}
    return Request({**scope, "server": ("sspr.test", 443), "query_string": b""})


def carried(message: dict[str, object], at: str = PAGE) -> str:
    response = Response()
    flash.carry(request_with(None), response, HASHER, at, message)
    header = response.headers["set-cookie"]
    assert "httponly" in header.lower() and "samesite=strict" in header.lower()
    assert "secure" in header.lower() and "path=/portal/acme/" in header.lower()
    return header.split(";")[0].split("=", 1)[1]


def test_a_carried_message_comes_back_to_its_page_only() -> None:
    message = {"notice": "Não <b>", "status": 401}
    value = carried(message)
    taken = flash.take(request_with(value), HASHER)
    assert taken is not None and {k: taken[k] for k in message} == message
    assert PAGE not in str(taken)  # the page is named by a hash: a path may hold a secret
    assert flash.take(request_with(value), HASHER) is not None  # a reload: the same page
    assert flash.take(request_with(value, "/portal/acme/done"), HASHER) is None


def test_a_forged_or_broken_message_is_ignored() -> None:
    value = carried({"notice": "hi"})
    body, mac = value.rsplit(".", 1)
    for forged in (f"{body}x.{mac}", "e30", "x" * 5000, HASHER.sign("flash", "!!!")):
        assert flash.take(request_with(forged), HASHER) is None
    assert flash.take(request_with(value), Hasher(b"o" * 32)) is None
    assert flash.take(request_with(HASHER.sign("flash", "WzFd")), HASHER) is None  # [1]


def run(app_headers: list[tuple[bytes, bytes]], cookie: bool, method: str = "POST") -> list[str]:
    """The Set-Cookie headers of one answer through ReplacedByEveryPost."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 303, "headers": app_headers})
        await send({"type": "http.response.body", "body": b""})

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    async def receive() -> Message:
        return {"type": "http.request"}

    headers = [(b"cookie", f"{flash.COOKIE}=x".encode())] if cookie else []
    scope = {"type": "http", "method": method, "path": PAGE, "headers": headers}
    asyncio.run(flash.ReplacedByEveryPost(app)(scope, receive, send))
    return [v.decode() for k, v in sent[0]["headers"] if k == b"set-cookie"]


def test_every_post_replaces_the_carried_message() -> None:
    cleared = run([], cookie=True)
    assert cleared == [f"{flash.COOKIE}=; Max-Age=0; Path=/portal/acme/; HttpOnly; SameSite=strict"]
    own = [(b"set-cookie", f"{flash.COOKIE}=new".encode())]
    assert run(own, cookie=True) == [f"{flash.COOKIE}=new"]  # its own message
    assert run([], cookie=False) == []  # nothing to replace
    assert run([], cookie=True, method="GET") == []  # a page shows it, keeps it
