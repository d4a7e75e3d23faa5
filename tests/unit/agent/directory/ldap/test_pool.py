"""ConnectionPool keeps a healthy connection when the caller's own code fails."""

from __future__ import annotations

import concurrent.futures
import ssl
import time
from typing import Any

import pytest
from ldap3.core.exceptions import LDAPSocketReceiveError

from passback.agent.directory.base import DirectoryUnavailable
from passback.agent.directory.ldap import pool as pool_module
from passback.agent.directory.ldap.pool import ConnectionPool, OpenedAhead
from passback.agent.directory.ldap.tls import PinnedTls


class FakeConnection:
    closed = False

    def __init__(self) -> None:
        self.unbound = False

    def unbind(self) -> None:
        self.unbound = True


@pytest.fixture
def pool(monkeypatch: pytest.MonkeyPatch) -> ConnectionPool:
    monkeypatch.setattr(pool_module, "_still_open", lambda conn: not conn.unbound)
    monkeypatch.setattr(ConnectionPool, "_open", lambda self: FakeConnection())
    return ConnectionPool(
        host="dc1.passback.test",
        port=636,
        tls=PinnedTls(ssl.create_default_context(), "dc1.passback.test"),
        bind_dn="CN=svc",
        bind_password="x",
        size=1,
        connect_timeout=1,
        operation_timeout=1,
    )


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
