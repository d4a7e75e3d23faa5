"""How ``passback server`` accepts connections: uvicorn, with every
connection timed and counted.

Uvicorn on its own leaves a TLS handshake 60 s (asyncio's default), waits for
a request head for ever (a client sending one byte every few seconds holds
its connection indefinitely), then for its body as long as bytes keep
coming, and accepts any number of connections. So:

- the event loop is asyncio's, with ``create_server`` given our TLS handshake
  timeout (``ServerLoop``);
- the HTTP protocol is uvicorn's h11 one, with a deadline on each request,
  head and body, and connections past the cap, or past one address's share
  of it, closed as soon as they are made (``guarded_protocol``). A
  WebSocket, once upgraded, is uvicorn's WebSocket protocol: neither the
  request deadline nor the keep-alive timeout touch it, so an agent's link
  idle between pings stays up;
- the soft limit of open files is raised to the hard one: a connection in
  its TLS handshake is not counted yet but holds a descriptor, and the
  usual soft limit (1024) is about the connection cap;
- asyncio's TLS layer keeps a 256 KiB read buffer per connection; it is
  shrunk, and memory freed by closed connections is handed back to the
  system (``trim_forever``), so a burst of connections leaves no lasting
  cost (glibc keeps freed blocks in its heap otherwise).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import dataclasses
import logging
import resource
import sys
from asyncio import sslproto
from collections.abc import Callable
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from passback.printable import printable
from passback.server.ratelimit import address_key
from passback.server.store.models import utcnow
from passback.server.support import blank_secrets
from passback.server.types import Clock

logger = logging.getLogger(__name__)

#: A TLS handshake is one or two round trips: 10 s covers slow links; a peer
#: that stalls is dropped instead of held for asyncio's 60 s.
TLS_HANDSHAKE_TIMEOUT = 10.0
#: A browser or agent sends its request (head and body, at most 64 KiB) at
#: once; 10 s covers slow links, and a silent or trickling client (slowloris)
#: loses its connection.
HEADER_TIMEOUT = 10.0
#: Idle seconds between HTTP requests on one connection (uvicorn's default).
KEEP_ALIVE_TIMEOUT = 5
#: Connections held at once, past TLS: ~100 KB each, so ~100 MB at the cap;
#: stay under the process's open-file limit (``ulimit -n``).
MAX_CONNECTIONS = 1000
#: Connections one client address (an IPv6 /64) holds at once: a browser
#: keeps up to six, each for the keep-alive's 5 s, so an office behind one
#: NAT holds dozens on a busy morning; a stranger needs four addresses to
#: hold the whole of ``MAX_CONNECTIONS``. Behind trusted proxies (every
#: client has a proxy's address) the default is ``max_connections``.
MAX_CONNECTIONS_PER_ADDRESS = 250
#: The attribute that marks a connection's protocol with its client's address.
ADDRESS = "passback_address"
#: The soft limit of open files asked for when the hard one has no bound.
OPEN_FILES_CEILING = 1 << 20
#: Read buffer of each TLS connection: two full TLS records (16 KiB each); the
#: stdlib's 256 KiB was most of what an idle connection cost.
TLS_READ_BUFFER = 32 * 1024
#: Seconds between looks at whether connections came and went, and if so a
#: hand-back of freed memory to the system (one takes about a millisecond).
TRIM_INTERVAL = 2.0
#: A full server is logged at most this often (seconds), with the count refused.
REFUSAL_LOG_INTERVAL = 60.0
#: Uvicorn's exit status when the server could not start (e.g. port in use).
STARTUP_FAILURE = 3


@dataclasses.dataclass(frozen=True)
class ConnectionLimits:
    """How long a connection may take and how many there may be."""

    tls_handshake_timeout: float = TLS_HANDSHAKE_TIMEOUT
    header_timeout: float = HEADER_TIMEOUT
    keep_alive_timeout: int = KEEP_ALIVE_TIMEOUT
    max_connections: int = MAX_CONNECTIONS
    max_connections_per_address: int = MAX_CONNECTIONS_PER_ADDRESS


class ServerLoop(asyncio.SelectorEventLoop):
    """asyncio's loop whose servers end TLS handshakes after our timeout."""

    def __init__(self, tls_handshake_timeout: float) -> None:
        super().__init__()
        self._tls_handshake_timeout = tls_handshake_timeout

    async def create_server(self, *args: Any, **kwargs: Any) -> asyncio.Server:
        if kwargs.get("ssl") is not None:
            kwargs.setdefault("ssl_handshake_timeout", self._tls_handshake_timeout)
        return await super().create_server(*args, **kwargs)


class Traffic:
    """What the protocol tells the rest: connections made, and those refused
    since the last log line (and when that was)."""

    def __init__(self, clock: Clock = utcnow) -> None:
        self.clock = clock
        self.made = 0
        self.refused = 0
        self.logged = -REFUSAL_LOG_INTERVAL


def guarded_protocol(limits: ConnectionLimits, traffic: Traffic) -> type[H11Protocol]:
    """Uvicorn's h11 protocol with a deadline on each request (from its first
    byte, or from the connection, to its body's last) and the connection caps."""

    class GuardedH11Protocol(H11Protocol):
        _request_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            # Established connections of both kinds share this set; a WebSocket
            # moves into it from here when it upgrades.
            traffic.made += 1
            peer = transport.get_extra_info("peername")
            address = address_key(str(peer[0])) if isinstance(peer, tuple) else None
            refusal = _refusal(self.connections, address, limits)
            if refusal is not None:
                _log_refusal(traffic, refusal)
                transport.abort()
                return
            super().connection_made(transport)
            setattr(self, ADDRESS, address)
            self._arm_request_timer()

        def connection_lost(self, exc: Exception | None) -> None:
            self._cancel_request_timer()
            if self.transport is None:  # refused in connection_made
                return
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            if self._request_timer is None and self._receiving():
                # The first byte of a request on a kept-alive connection, or
                # more of one that came pipelined behind the last.
                self._arm_request_timer()
            super().data_received(data)
            if not self._receiving():
                self._cancel_request_timer()

        def handle_websocket_upgrade(self, event: h11.Request) -> None:
            self._cancel_request_timer()  # the WebSocket protocol has it from here
            super().handle_websocket_upgrade(event)
            # The connection is the WebSocket protocol's now: it counts for the address.
            setattr(self.transport.get_protocol(), ADDRESS, getattr(self, ADDRESS))

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if self.conn.their_state is h11.SEND_BODY:
                # A request that came pipelined behind this one was parsed just
                # now, from the buffer, and its body is still to come.
                self._arm_request_timer()
            else:
                self._cancel_request_timer()  # idle now: the keep-alive timeout rules

        def _receiving(self) -> bool:
            """Whether a request's head or body is still to come."""
            return self.conn.their_state in (h11.IDLE, h11.SEND_BODY)

        def _arm_request_timer(self) -> None:
            self._cancel_request_timer()
            self._request_timer = self.loop.call_later(limits.header_timeout, self._request_timeout)

        def _cancel_request_timer(self) -> None:
            if self._request_timer is not None:
                self._request_timer.cancel()
                self._request_timer = None

        def _request_timeout(self) -> None:
            self._request_timer = None
            if self._receiving() and not self.transport.is_closing():
                logger.info("connection from %s closed: no whole request in time", self.client)
                self.transport.close()

    return GuardedH11Protocol


def _refusal(held: set[Any], address: str | None, limits: ConnectionLimits) -> str | None:
    """Why a new connection from ``address`` (its ``address_key``; None: not
    an IP socket) is refused, if it is: the server holds its cap, or the
    address holds its share. ``held``: uvicorn's protocols of every
    established connection, HTTP and WebSocket, each marked with its
    address when it was made (one string compared per connection: parsing
    a thousand addresses again would cost milliseconds per connection)."""
    if len(held) >= limits.max_connections:
        return f"server full: {len(held)} held (--max-connections)"
    if address is None:
        return None
    mine = sum(1 for p in held if getattr(p, ADDRESS, None) == address)
    if mine >= limits.max_connections_per_address:
        return f"{address} holds {mine} (--max-connections-per-address)"
    return None


def _log_refusal(traffic: Traffic, refusal: str) -> None:
    traffic.refused += 1
    now = traffic.clock().timestamp()
    if now - traffic.logged >= REFUSAL_LOG_INTERVAL:
        logger.warning(
            "connections refused: %d since the last warning; the last as %s",
            traffic.refused,
            printable(refusal),
        )
        traffic.refused, traffic.logged = 0, now


def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim(0)``, or None where the C library has none."""
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    trim = getattr(ctypes.CDLL(name), "malloc_trim", None)
    if trim is None:
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim  # type: ignore[no-any-return]


async def trim_forever(
    traffic: Traffic, held: Callable[[], int], interval: float = TRIM_INTERVAL
) -> None:
    """Hand memory freed by closed connections back to the system, for ever.

    glibc keeps freed blocks in its heap; after a burst of connections the
    process would stay as big as at the burst's peak. Elsewhere: nothing to do.
    """
    trim = _malloc_trim()
    if trim is None:
        return
    seen = (traffic.made, held())
    while True:
        await asyncio.sleep(interval)
        now = (traffic.made, held())
        if now != seen:  # connections came or went since the last look
            seen = now
            trim(0)


class SecretPaths(logging.Filter):
    """Blanks the secret part of such paths in the access log (S7)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(blank_secrets(a) if isinstance(a, str) else a for a in record.args)
        return True


def open_file_room(limits: ConnectionLimits) -> int:
    """Raise this process's soft limit of open files to its hard limit, and
    return it; warn if it leaves less than twice ``max_connections`` (each
    connection holds one descriptor, and so does one in its TLS handshake,
    before it is counted)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return soft
    wanted = OPEN_FILES_CEILING if hard == resource.RLIM_INFINITY else hard
    if wanted > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            soft = wanted
        except (ValueError, OSError) as exc:  # e.g. above the kernel's fs.nr_open
            logger.warning("could not raise the limit of open files to %d: %s", wanted, exc)
    if soft < 2 * limits.max_connections:
        logger.warning(
            "open files are limited to %d: keep --max-connections (%d) under half of it, "
            "or raise the limit (ulimit -n, systemd LimitNOFILE)",
            soft,
            limits.max_connections,
        )
    return soft


def serve(app: Any, *, limits: ConnectionLimits, **options: Any) -> None:
    """Run ``app`` under uvicorn with ``limits``; ``options`` go to ``uvicorn.Config``.

    Exits with ``STARTUP_FAILURE`` if the server could not start.
    """
    open_file_room(limits)
    # Class-wide: every TLS connection of this process (the server's own).
    sslproto.SSLProtocol.max_size = TLS_READ_BUFFER
    traffic = Traffic()
    config = uvicorn.Config(
        app,
        http=guarded_protocol(limits, traffic),
        timeout_keep_alive=limits.keep_alive_timeout,
        **options,
    )
    # After the Config: it configures uvicorn's loggers (keeping added filters).
    logging.getLogger("uvicorn.access").addFilter(SecretPaths())
    server = uvicorn.Server(config)

    async def run() -> None:
        trimming = asyncio.ensure_future(
            trim_forever(traffic, lambda: len(server.server_state.connections))
        )
        try:
            await server.serve()
        finally:
            trimming.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await trimming

    # As uvicorn.run does it, with our loop.
    with (
        contextlib.suppress(KeyboardInterrupt),
        asyncio.Runner(loop_factory=lambda: ServerLoop(limits.tls_handshake_timeout)) as runner,
    ):
        runner.run(run())
    if not server.started:
        sys.exit(STARTUP_FAILURE)
