"""The Host header is the client's word: it never comes back in a redirect or
a link, and with a public URL only that host (or loopback from loopback) is
answered (server/hosts.py)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from passback.server.app import create_app
from passback.server.hosts import host_name
from passback.server.settings import ServerSettings
from passback.server.store import create_engine, session_factory
from passback.server.support import lookup
from tests.support.keys import TEST_MASTER_KEY
from tests.support.server import TIMEOUT, RunningServer

FORGED = "evil.example"


@pytest.fixture
def open_server(tmp_path: Path) -> Iterator[str]:
    """A server without a public URL: any host name is answered."""
    app = create_app(ServerSettings(f"sqlite:///{tmp_path / 'passback.db'}"), TEST_MASTER_KEY)
    # IPPROTO_TCP named: asyncio sets TCP_NODELAY only on sockets that say TCP,
    # and without it a kept-alive connection waits 40 ms for each response's body.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    host, port = sock.getsockname()
    uv = uvicorn.Server(uvicorn.Config(app, log_config=None, lifespan="on"))
    thread = threading.Thread(target=uv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + TIMEOUT
    while not uv.started:
        assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
        time.sleep(0.01)
    try:
        yield f"http://{host}:{port}"
    finally:
        uv.should_exit = True
        thread.join(TIMEOUT)
        sock.close()


@pytest.mark.parametrize("path", ["/portal/acme", "/api/v1/agents/", "/portal/acme?lang=pt-BR"])
async def test_redirects_never_name_the_host(open_server: str, path: str) -> None:
    async with httpx.AsyncClient(base_url=open_server, timeout=TIMEOUT) as client:
        for host in (FORGED, f"{FORGED}:8443"):
            response = await client.get(path, headers={"Host": host})
            assert response.status_code == 307, response.text
            location = response.headers["location"]
            assert location.startswith("/") and not location.startswith("//"), location
            assert FORGED not in location
            assert location == path.replace("acme", "acme/").replace("agents/", "agents")


async def test_pages_never_link_to_the_host(open_server: str) -> None:
    async with httpx.AsyncClient(base_url=open_server, timeout=TIMEOUT) as client:
        for path in ("/portal/acme/", "/docs", "/openapi.json"):
            response = await client.get(path, headers={"Host": FORGED})
            assert FORGED not in response.text and FORGED not in str(response.headers)


@pytest.mark.parametrize("host", [FORGED, "sspr.acme.test.evil.example", "127.0.0.2", "[::1"])
async def test_other_hosts_are_refused(server: RunningServer, host: str) -> None:
    # The test server's public URL is https://sspr.acme.test.
    async with httpx.AsyncClient(base_url=server.base_url, timeout=TIMEOUT) as client:
        response = await client.get("/portal/acme", headers={"Host": host})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "unknown_host"
    assert "https://sspr.acme.test" in error["message"] and FORGED not in error["message"]
    assert "location" not in response.headers
    assert response.headers["x-content-type-options"] == "nosniff"
    engine = create_engine(server.database_url)
    try:
        found = lookup(session_factory(engine), error["support_code"])
    finally:
        engine.dispose()
    assert found is not None and found.record.note == f"Host: {host}"


@pytest.mark.parametrize(
    "host", ["sspr.acme.test", "SSPR.acme.test:443", "sspr.acme.test.", "localhost:8443", None]
)
async def test_the_public_host_and_loopback_are_answered(
    server: RunningServer, host: str | None
) -> None:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=TIMEOUT) as client:
        headers = {"Host": host} if host else {}  # None: 127.0.0.1:<port>, as sent
        assert (await client.get("/healthz", headers=headers)).status_code == 200
        redirect = await client.get("/portal/acme", headers=headers)
        assert redirect.status_code == 307 and redirect.headers["location"] == "/portal/acme/"


@pytest.mark.parametrize(
    ("host", "name"),
    [
        ("Example.ORG:8443", "example.org"),
        ("example.org.", "example.org"),
        ("[::1]:8443", "::1"),
        ("[::1", ""),
        ("", ""),
    ],
)
def test_host_name(host: str, name: str) -> None:
    assert host_name(host) == name
