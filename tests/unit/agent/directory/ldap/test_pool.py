"""ConnectionPool keeps a healthy connection when the caller's own code fails."""

from __future__ import annotations

import concurrent.futures
import select
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ldap3.core.exceptions import LDAPSocketReceiveError

from passback.agent.directory.base import DirectoryUnavailable
from passback.agent.directory.ldap import pool as pool_module
from passback.agent.directory.ldap.pool import ConnectionPool, OpenedAhead
from passback.agent.directory.ldap.tls import PinnedTls
from passback.crypto import certs


class FakeConnection:
    closed = False

    def __init__(self) -> None:
        self.unbound = False

    def unbind(self) -> None:
        self.unbound = True


def fake_pool(**options: Any) -> ConnectionPool:
    """A pool of one connection to a DC that is never reached."""
    return ConnectionPool(
        host="dc1.passback.test",
        port=636,
        tls=PinnedTls(ssl.create_default_context(), "dc1.passback.test"),
        bind_dn="CN=svc",
        bind_password="x",
        size=1,
        connect_timeout=1,
        operation_timeout=1,
        **options,
    )


@pytest.fixture
def pool(monkeypatch: pytest.MonkeyPatch) -> ConnectionPool:
    monkeypatch.setattr(pool_module, "_still_open", lambda conn: not conn.unbound)
    monkeypatch.setattr(ConnectionPool, "_open", lambda self: FakeConnection())
    return fake_pool()


def borrow(pool: ConnectionPool) -> Any:
    with pool.connection() as conn:
        return conn


def test_a_caller_error_gives_the_connection_back(pool: ConnectionPool) -> None:
    first = borrow(pool)
    with pytest.raises(ValueError, match="parsing"), pool.connection():
        raise ValueError("parsing failed")
    assert borrow(pool) is first
    assert not first.unbound


def test_an_error_from_inside_the_ldap_library_discards_the_connection(
    pool: ConnectionPool,
) -> None:
    first = borrow(pool)
    library_code: dict[str, Any] = {"__name__": "ldap3.protocol.fake"}
    exec("def decode():\n    raise ValueError('bad BER')", library_code)
    with pytest.raises(ValueError, match="BER"), pool.connection():
        library_code["decode"]()
    assert first.unbound
    assert borrow(pool) is not first


def test_a_broken_connection_is_discarded_and_translated(pool: ConnectionPool) -> None:
    first = borrow(pool)
    with pytest.raises(DirectoryUnavailable), pool.connection():
        raise LDAPSocketReceiveError("connection reset")
    assert first.unbound
    assert borrow(pool) is not first


def test_an_interruption_discards_the_connection(pool: ConnectionPool) -> None:
    first = borrow(pool)
    with pytest.raises(KeyboardInterrupt), pool.connection():
        raise KeyboardInterrupt
    assert first.unbound


# -- connections opened ahead for one bind (a password check) -----------------


def test_a_connection_not_open_in_time_is_unavailable_and_closed_later() -> None:
    future: concurrent.futures.Future[Any] = concurrent.futures.Future()
    opened = OpenedAhead(future, "dc1.passback.test:636", 0.01)
    with pytest.raises(DirectoryUnavailable, match=r"within 0\.01 s"):
        opened.bind("CN=u", "pw")
    late = FakeConnection()
    future.set_result(late)  # it opened after all: closed at once, never bound on
    assert late.unbound


def test_an_unused_connection_is_closed_once_open() -> None:
    future: concurrent.futures.Future[Any] = concurrent.futures.Future()
    opened = OpenedAhead(future, "dc1.passback.test:636", 1)
    opened.close()
    conn = FakeConnection()
    future.set_result(conn)
    assert conn.unbound
    with pytest.raises(RuntimeError, match="one bind"):
        opened.bind("CN=u", "pw")


def test_an_unused_connection_that_failed_to_open_is_left_alone() -> None:
    future: concurrent.futures.Future[Any] = concurrent.futures.Future()
    OpenedAhead(future, "dc1.passback.test:636", 1).close()
    future.set_exception(OSError("refused"))  # nothing to close, nothing raised


def test_opening_ahead_runs_in_the_background(
    pool: ConnectionPool, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn = FakeConnection()
    monkeypatch.setattr(ConnectionPool, "_open_unbound", lambda self: conn)
    opened = pool.open_ahead()
    opened.close()
    pool.close()  # stops the openers; what they opened is closed all the same
    assert conn.unbound


class BindingConnection(FakeConnection):
    def __init__(self, code: int) -> None:
        super().__init__()
        self.user: str | None = None
        self.password: str | None = None
        self.result = {"result": code, "message": "80090308: data 52e" if code else ""}

    def bind(self) -> bool:
        return not self.result["result"]


@pytest.mark.parametrize("code", [0, 49])
def test_after_the_bind_the_connection_is_closed_in_the_background(code: int) -> None:
    """The answer does not wait for the unbind."""
    conn = BindingConnection(code)
    future: concurrent.futures.Future[Any] = concurrent.futures.Future()
    future.set_result(conn)
    later: list[Any] = []
    opened = OpenedAhead(future, "dc1.passback.test:636", 1, later.append)
    assert opened.bind("CN=u,DC=x", "pw") == (code, conn.result["message"])
    assert (conn.user, later, conn.unbound) == ("CN=u,DC=x", [conn], False)


def test_a_pool_closes_later_in_its_openers_or_at_once_once_closed(
    pool: ConnectionPool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ConnectionPool, "_open_unbound", lambda self: FakeConnection())
    first, second = FakeConnection(), FakeConnection()
    pool.open_ahead().close()  # starts the openers
    pool._close_later(first)
    pool.close()
    pool._close_later(second)  # no openers left: at once
    assert second.unbound
    deadline = time.monotonic() + 5
    while not first.unbound and time.monotonic() < deadline:
        time.sleep(0.01)
    assert first.unbound


# -- the spare: the next check's connection, open before it is asked for ----------


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def spares(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[ConnectionPool, list[Any], Clock]]:
    """A pool whose unbound connections are binding fakes, listed as opened."""
    monkeypatch.setattr(pool_module, "_still_open", lambda conn: not conn.unbound)
    opened: list[Any] = []

    def open_unbound(self: ConnectionPool) -> Any:
        opened.append(BindingConnection(0))
        return opened[-1]

    monkeypatch.setattr(ConnectionPool, "_open_unbound", open_unbound)
    clock = Clock()
    pool = fake_pool(clock=clock)
    yield pool, opened, clock
    pool.close()


def bound_on(pool: ConnectionPool) -> Any:
    """The connection a check's bind went out on."""
    opened = pool.open_ahead()
    future = opened._future
    opened.bind("CN=u,DC=x", "pw")
    return future.result()


def settled(pool: ConnectionPool) -> None:
    """The spare's opening, started in the background, is over."""
    spare = pool._spare
    assert spare is not None
    spare.future.result(timeout=5)


def test_a_check_binds_on_the_spare_opened_after_the_last_one(
    spares: tuple[ConnectionPool, list[Any], Clock],
) -> None:
    pool, opened, _ = spares
    first = bound_on(pool)
    settled(pool)
    assert opened == [first, opened[1]]  # the spare opened once the bind was answered
    second = bound_on(pool)
    assert second is opened[1] and second.user == "CN=u,DC=x"


def test_a_spare_older_than_its_age_is_closed_unused(
    spares: tuple[ConnectionPool, list[Any], Clock],
) -> None:
    pool, opened, clock = spares
    bound_on(pool)
    settled(pool)
    stale = opened[1]
    clock.now += pool_module.SPARE_AGE + 1
    fresh = bound_on(pool)
    assert fresh is not stale and stale.user is None
    deadline = time.monotonic() + 5
    while not stale.unbound and time.monotonic() < deadline:
        time.sleep(0.01)
    assert stale.unbound


def test_a_spare_that_failed_to_open_is_not_used(
    spares: tuple[ConnectionPool, list[Any], Clock],
) -> None:
    """The DC was down when the spare opened; it is back for this check."""
    pool, _, _ = spares
    failed: concurrent.futures.Future[Any] = concurrent.futures.Future()
    failed.set_exception(OSError("connection refused"))
    bound_on(pool)  # starts the openers
    settled(pool)
    pool._spare = pool_module._Spare(failed, 0.0)
    assert bound_on(pool).result["result"] == 0


def test_a_spare_the_dc_closed_is_replaced_before_the_bind(
    spares: tuple[ConnectionPool, list[Any], Clock],
) -> None:
    """Its idle limit, a restart: nothing was sent on it, so another is opened."""
    pool, opened, _ = spares
    bound_on(pool)
    settled(pool)
    closed_by_dc = opened[1]
    closed_by_dc.unbound = True  # what _still_open sees as closed
    opened_ahead = pool.open_ahead()
    opened_ahead.bind("CN=u,DC=x", "pw")
    assert closed_by_dc.user is None and opened[2].user == "CN=u,DC=x"


def test_closing_the_pool_closes_its_spare(
    spares: tuple[ConnectionPool, list[Any], Clock],
) -> None:
    pool, opened, _ = spares
    bound_on(pool)
    settled(pool)
    pool.close()
    assert opened[1].unbound and pool._spare is None
    with pytest.raises(DirectoryUnavailable, match="closed"):
        pool.open_ahead().bind("CN=u,DC=x", "pw")  # nothing opened, no openers left
    assert (len(opened), pool._spare, pool._openers) == (2, None, None)


def test_no_spare_is_opened_after_a_connection_that_failed_to_open(
    spares: tuple[ConnectionPool, list[Any], Clock], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The next check opens its own: it must not wait on one begun while the DC
    could not be reached, and report that old failure."""
    pool, _, _ = spares

    def refused(self: ConnectionPool) -> Any:
        raise OSError("connection refused")

    monkeypatch.setattr(ConnectionPool, "_open_unbound", refused)
    with pytest.raises(DirectoryUnavailable):
        pool.open_ahead().bind("CN=u,DC=x", "pw")
    assert pool._spare is None


# -- whether an idle connection is still open, on a real TLS 1.3 connection ------


@pytest.fixture
def tls_peer(tmp_path: Path) -> Iterator[tuple[ssl.SSLSocket, list[ssl.SSLSocket]]]:
    """A client TLS 1.3 connection to a server that sends session tickets after
    the handshake (OpenSSL's default), and the server's side of it."""
    files = certs.create(tmp_path, ["127.0.0.1"])
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(files.cert, files.key)
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[ssl.SSLSocket] = []

    def accept() -> None:
        raw, _ = listener.accept()
        accepted.append(server_context.wrap_socket(raw, server_side=True))

    thread = threading.Thread(target=accept)
    thread.start()
    client_context = ssl.create_default_context(cafile=str(files.ca))
    client_context.minimum_version = ssl.TLSVersion.TLSv1_3
    client = client_context.wrap_socket(
        socket.create_connection(listener.getsockname()), server_hostname="127.0.0.1"
    )
    thread.join(timeout=5)
    yield client, accepted
    client.close()
    for side in accepted:
        side.close()
    listener.close()


class OnSocket:
    closed = False

    def __init__(self, sock: ssl.SSLSocket) -> None:
        self.socket = sock


def test_session_tickets_waiting_to_be_read_do_not_make_a_connection_look_closed(
    tls_peer: tuple[ssl.SSLSocket, list[ssl.SSLSocket]],
) -> None:
    client, _ = tls_peer
    readable, _, _ = select.select([client], [], [], 5)
    assert readable  # the tickets arrived, unread
    assert pool_module._still_open(OnSocket(client))  # type: ignore[arg-type]
    assert client.gettimeout() is None  # left blocking, as it was


def test_a_connection_the_server_closed_looks_closed(
    tls_peer: tuple[ssl.SSLSocket, list[ssl.SSLSocket]],
) -> None:
    client, accepted = tls_peer
    accepted[0].close()
    select.select([client], [], [], 5)
    time.sleep(0.05)
    assert not pool_module._still_open(OnSocket(client))  # type: ignore[arg-type]
