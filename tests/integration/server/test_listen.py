"""``passback server`` as run by an operator: every connection is timed and
counted (TLS handshake, whole request, keep-alive, connection caps, relay
handshakes in flight), and an established WebSocket is none of their business."""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from tests.support.deployment import Deployment, wait_for
from tests.support.samba import TIMEOUT_FACTOR

#: Longest a test waits for the server to cut a connection; shorter than
#: asyncio's own 60 s TLS handshake timeout, so that one does not pass for ours.
WAIT = 15 * TIMEOUT_FACTOR
#: The short timeouts of the timed server (seconds; the CLI's minimum is 1).
SHORT = max(1, round(TIMEOUT_FACTOR))
HEAD = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"
#: A request head whose body (60,000 bytes) is still to come.
PIPELINED_POST = (
    b"POST /api/v1/portal/acme/reset HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    b"Content-Type: application/json\r\nContent-Length: 60000\r\n\r\n{"
)


def start(root: Path, *options: str) -> Deployment:
    d = Deployment(root, None)
    d.start_server(*options)
    return d


@pytest.fixture(scope="module")
def timed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    d = start(
        tmp_path_factory.mktemp("timed"),
        *("--tls-handshake-timeout", str(SHORT)),
        *("--header-timeout", str(SHORT)),
        *("--keep-alive-timeout", str(SHORT)),
    )
    try:
        yield d
    finally:
        d.stop()


@pytest.fixture(scope="module")
def capped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    d = start(
        tmp_path_factory.mktemp("capped"),
        *("--max-connections", "10"),
        *("--max-connections-per-address", "6"),
        *("--relay-handshakes", "6"),
        *("--relay-handshakes-per-address", "4"),
        *("--header-timeout", "60"),
        *("--keep-alive-timeout", "60"),
    )
    try:
        yield d
    finally:
        d.stop()


def tls_context(d: Deployment) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(d.tls / "ca.pem"))


def tcp(d: Deployment, source: str = "127.0.0.1") -> socket.socket:
    return socket.create_connection(("127.0.0.1", d.port), timeout=WAIT, source_address=(source, 0))


def tls(d: Deployment, source: str = "127.0.0.1") -> ssl.SSLSocket:
    return tls_context(d).wrap_socket(tcp(d, source), server_hostname="127.0.0.1")


def closed_within(sock: socket.socket, seconds: float) -> bool:
    """Whether the server closes ``sock`` within ``seconds`` (what it sends
    before closing is read and dropped)."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            if not sock.recv(4096):
                return True
        except TimeoutError:
            return False
        except OSError:  # reset, or TLS cut short
            return True
    return False


def cut_while_trickling(sock: socket.socket, byte: bytes) -> bool:
    """Whether the server closes ``sock`` within ``WAIT`` while ``byte`` is
    sent on it every 0.2 s."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        try:
            sock.sendall(byte)
        except OSError:
            return True
        if closed_within(sock, 0.2):
            return True
    return False


def get_healthz(sock: socket.socket) -> bytes:
    sock.sendall(HEAD + b"\r\n")
    sock.settimeout(WAIT)
    answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 200"), answer
    return answer


def test_a_silent_tcp_connection_is_cut_at_the_tls_handshake_timeout(timed: Deployment) -> None:
    with tcp(timed) as sock:
        assert closed_within(sock, WAIT)


def test_a_silent_tls_connection_is_cut_at_the_header_timeout(timed: Deployment) -> None:
    with tls(timed) as sock:
        assert closed_within(sock, WAIT)


@pytest.mark.parametrize("kept_alive", [False, True], ids=["new", "kept-alive"])
def test_a_trickled_request_head_is_cut(timed: Deployment, kept_alive: bool) -> None:
    """Slowloris: one byte at a time never completes the head; the deadline
    runs from its first byte, also on a connection kept alive."""
    with tls(timed) as sock:
        if kept_alive:
            get_healthz(sock)
        sock.sendall(HEAD + b"X-Slow: ")
        assert cut_while_trickling(sock, b"a"), "a request head trickled in for good"


def test_a_trickled_request_body_is_cut(timed: Deployment) -> None:
    """The deadline runs to the body's last byte: a whole head, then a body
    one byte at a time (within the size limit) loses the connection too."""
    with tls(timed) as sock:
        sock.sendall(
            b"POST /api/v1/portal/acme/reset HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nContent-Length: 60000\r\n\r\n{"
        )
        assert cut_while_trickling(sock, b" "), "a request body trickled in for good"


def test_a_trickled_body_behind_a_pipelined_request_is_cut(timed: Deployment) -> None:
    """A request sent at once behind another (HTTP/1.1 pipelining), its body
    then trickled: it has its own deadline too."""
    with tls(timed) as sock:
        sock.sendall(HEAD + b"\r\n" + PIPELINED_POST)
        assert cut_while_trickling(sock, b" "), "a pipelined body trickled in for good"


def test_a_silent_body_behind_a_pipelined_request_is_cut(timed: Deployment) -> None:
    """The same, its body never sent: the request parsed from the buffer
    once the first one's answer is out has its deadline from then."""
    with tls(timed) as sock:
        sock.sendall(HEAD + b"\r\n" + PIPELINED_POST)
        assert closed_within(sock, WAIT), "a pipelined request without its body held on"


def test_an_idle_kept_alive_connection_is_cut(timed: Deployment) -> None:
    with tls(timed) as sock:
        get_healthz(sock)
        assert closed_within(sock, WAIT)


async def test_an_open_websocket_outlives_the_http_timeouts(timed: Deployment) -> None:
    """Header and keep-alive timeouts end HTTP connections only: a relay link
    (here still in its 10 s handshake) stays up past both."""
    async with connect(f"wss://127.0.0.1:{timed.port}/relay/v1", ssl=tls_context(timed)) as ws:
        await asyncio.sleep(2 * SHORT + 1)
        async with asyncio.timeout(WAIT):
            await (await ws.ping())


def test_connections_past_the_cap_are_closed_at_once(capped: Deployment) -> None:
    held = [tls(capped, source) for source in ("127.0.0.1", "127.0.0.2") for _ in range(5)]
    try:
        for sock in held:
            get_healthz(sock)  # each is established and stays (keep-alive 60 s)
        with tls(capped) as extra:
            assert closed_within(extra, WAIT)
    finally:
        for sock in held:
            sock.close()
    # Once they are gone, the server serves again.
    wait_for(capped._healthy, WAIT, "the server to accept connections again")


async def test_connections_past_an_address_share_are_closed_at_once(capped: Deployment) -> None:
    """6 per address, WebSockets included: the 7th from the same address is
    closed, while another address is still served."""
    url, ctx = f"wss://127.0.0.1:{capped.port}/relay/v1", tls_context(capped)
    links = [
        await connect(url, ssl=ctx, local_addr=("127.0.0.3", 0), open_timeout=WAIT)
        for _ in range(4)
    ]
    held = [tls(capped, "127.0.0.3") for _ in range(2)]
    try:
        for sock in held:
            get_healthz(sock)
        with tls(capped, "127.0.0.3") as extra:
            assert closed_within(extra, WAIT)
        with tls(capped, "127.0.0.4") as other:
            get_healthz(other)
    finally:
        for sock in held:
            sock.close()
        for ws in links:
            await ws.close()
    wait_for(capped._healthy, WAIT, "the server to accept connections again")


async def test_relay_handshakes_in_flight_are_capped(capped: Deployment) -> None:
    """4 per address, 6 overall: more get HTTP 503 before any link exists; a
    handshake that ends frees its place."""
    url, ctx = f"wss://127.0.0.1:{capped.port}/relay/v1", tls_context(capped)

    async def relay(address: str) -> ClientConnection:
        return await connect(url, ssl=ctx, local_addr=(address, 0), open_timeout=WAIT)

    async def refused(address: str) -> int:
        with pytest.raises(InvalidStatus) as refusal:
            await relay(address)
        return refusal.value.response.status_code

    held = [await relay("127.0.0.1") for _ in range(4)]
    try:
        assert await refused("127.0.0.1") == 503  # its address's share is taken
        held += [await relay("127.0.0.2") for _ in range(2)]
        assert await refused("127.0.0.4") == 503  # the total is taken
        await held.pop(0).close()
        deadline = time.monotonic() + WAIT
        while True:  # the server sees the close a moment later
            try:
                held.append(await relay("127.0.0.4"))
                break
            except InvalidStatus:
                assert time.monotonic() < deadline, "a finished handshake kept its place"
                await asyncio.sleep(0.05)
    finally:
        for ws in held:
            await ws.close()
