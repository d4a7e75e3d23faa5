"""A small, thread-safe pool of bound LDAPS connections to one DC, and the
one-bind connections a password check opens beside it."""

from __future__ import annotations

import concurrent.futures
import contextlib
import queue
import select
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import ldap3
from ldap3.core.exceptions import LDAPException
from ldap3.utils.dn import safe_dn

from passback.agent.directory.base import DirectoryUnavailable
from passback.agent.directory.ldap.tls import PinnedTls
from passback.agent.directory.ldap.translate import is_broken, translate

#: LDAP result code of a refused simple bind (RFC 4511).
INVALID_CREDENTIALS = 49
#: Connections opened ahead at once (one per password check in flight); more wait.
OPENERS = 4
#: Seconds a connection opened ahead of the next password check is kept for it;
#: older, it is closed and the check opens its own. Half the time an AD DC
#: waits for a new connection's first request (InitRecvTimeout, 120 s; then
#: MaxConnIdleTime, 900 s), and inside a firewall's usual idle timeout.
SPARE_AGE = 60.0


@dataclass(frozen=True)
class _Spare:
    """The connection opening (or open) for the next password check."""

    future: concurrent.futures.Future[ldap3.Connection]
    since: float  # when its opening started, on the pool's clock

    def usable(self, now: float) -> bool:
        """Young enough, and not a failure to open (which may be over by now)."""
        failed = self.future.done() and (
            self.future.cancelled() or self.future.exception() is not None
        )
        return not failed and now - self.since <= SPARE_AGE


class ConnectionPool:
    """Up to ``size`` bound connections, opened lazily and replaced when broken.

    A connection is used by one thread at a time; a caller that finds every
    connection busy waits up to the operation timeout.
    """

    def __init__(
        self,
        *,
        host: str,
        port: int,
        tls: PinnedTls,
        bind_dn: str,
        bind_password: str,
        size: int,
        connect_timeout: float,
        operation_timeout: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.where = f"{host}:{port}"
        self._server = ldap3.Server(
            host, port=port, use_ssl=True, tls=tls, get_info=ldap3.NONE,
            connect_timeout=connect_timeout,
        )  # fmt: skip
        self._bind_dn = bind_dn
        self._bind_password = bind_password
        self._operation_timeout = operation_timeout
        # None marks a free slot without a connection yet.
        self._idle: queue.LifoQueue[ldap3.Connection | None] = queue.LifoQueue()
        for _ in range(size):
            self._idle.put(None)
        self._size = size
        self._closed = False
        self._connect_timeout = connect_timeout
        self._openers: concurrent.futures.ThreadPoolExecutor | None = None
        self._openers_lock = threading.Lock()
        self._spare: _Spare | None = None
        self._clock = clock

    @contextlib.contextmanager
    def connection(self, *, write: bool = False) -> Iterator[ldap3.Connection]:
        """Borrow a bound connection; ldap3 errors inside are translated.

        Raises:
            DirectoryUnavailable: no connection could be had or it broke in use.
            DirectoryError: any other LDAP library error.
        """
        try:
            conn = self._idle.get(timeout=self._operation_timeout)
        except queue.Empty:
            raise DirectoryUnavailable(
                f"all {self._size} connections to {self.where} stayed busy for "
                f"{self._operation_timeout} s"
            ) from None
        try:
            if conn is not None and not _still_open(conn):
                _discard(conn)
                conn = None
            if conn is None:
                conn = self._open()
        except BaseException:
            self._idle.put(None)
            raise
        try:
            yield conn
        except (LDAPException, OSError) as exc:
            if is_broken(exc) or conn.closed:
                _discard(conn)
                self._idle.put(None)
            else:
                self._idle.put(conn)
            raise translate(exc, where=self.where, write=write) from exc
        except Exception as exc:
            # The caller's own code failed between exchanges (e.g. parsing what
            # came back): the connection is fine, unless the error came from
            # inside the LDAP library, mid-exchange.
            if _inside_library(exc) or self._closed:
                _discard(conn)
                conn = None
            self._idle.put(conn)
            raise
        except BaseException:
            _discard(conn)  # state unknown (e.g. interrupted mid-exchange)
            self._idle.put(None)
            raise
        else:
            if self._closed:
                _discard(conn)
                conn = None
            self._idle.put(conn)

    def _open(self) -> ldap3.Connection:
        conn = ldap3.Connection(
            self._server,
            user=self._bind_dn,
            password=self._bind_password,
            authentication=ldap3.SIMPLE,
            client_strategy=ldap3.SYNC,
            raise_exceptions=False,
            receive_timeout=max(1, round(self._operation_timeout)),
        )
        try:
            conn.open()
            bound = conn.bind()
        except (LDAPException, OSError) as exc:
            _discard(conn)
            raise translate(exc, where=self.where) from exc
        if not bound:
            result = conn.result
            _discard(conn)
            invalid = result["result"] == INVALID_CREDENTIALS
            hint = " (check bind_dn / bind_password)" if invalid else ""
            raise DirectoryUnavailable(
                f"{self.where} refused the service account's bind: {result['description']}{hint}",
                server_message=result.get("message"),
            )
        return conn

    def bind_as(self, dn: str, password: str) -> tuple[int, str]:
        """One simple bind as ``dn`` on a new connection to this pool's DC, closed
        at once; the pool's own connections are left alone. Returns the bind's
        result code and diagnostic message (0 when it succeeded).

        Raises:
            DirectoryUnavailable: the DC could not be reached or TLS failed.
        """
        conn = self._unbound()
        try:
            conn.open()
        except (LDAPException, OSError) as exc:
            _discard(conn)
            raise translate(exc, where=self.where) from exc
        return _bind_once(conn, dn, password, self.where)

    def open_ahead(self) -> OpenedAhead:
        """A new connection (TCP, TLS) for one :meth:`bind_as`-like bind, opened
        in the background while the caller does something else. Nothing is
        sent on it but the TLS handshake until :meth:`OpenedAhead.bind`.

        The pool keeps the next one open ahead of time (at most
        :data:`SPARE_AGE` seconds old), so that a check does not wait for a
        handshake: each call takes that spare, and its successor starts
        opening once this one's bind is answered (or it is closed unused), so
        that its handshake never competes with the check.
        """
        stale = None
        with self._openers_lock:
            if self._closed:
                future: concurrent.futures.Future[ldap3.Connection] = concurrent.futures.Future()
                future.set_exception(DirectoryUnavailable(f"the pool for {self.where} is closed"))
                return OpenedAhead(future, self.where, 0)
            if self._openers is None:
                self._openers = concurrent.futures.ThreadPoolExecutor(
                    OPENERS, thread_name_prefix="ldap-open"
                )
            spare, self._spare = self._spare, None
            if spare is not None and spare.usable(self._clock()):
                future = spare.future
            else:
                stale = spare
                future = self._openers.submit(self._open_unbound)
        if stale is not None:  # closed outside the lock: an unbind is network I/O
            stale.future.add_done_callback(_discard_opened)
        # The connect and the handshake have their own timeouts; this caps the wait.
        wait = self._connect_timeout + self._operation_timeout
        return OpenedAhead(
            future, self.where, wait, self._close_later, self._open_unbound, self._open_spare
        )

    def _open_spare(self) -> None:
        """Start opening the connection for the next check, unless one is (called
        once a check's connection opened: after a failure to open, the next
        check opens its own, so that it never waits on one begun while the DC
        could not be reached)."""
        with self._openers_lock:
            if self._closed or self._openers is None or self._spare is not None:
                return
            self._spare = _Spare(self._openers.submit(self._open_unbound), self._clock())

    def _close_later(self, conn: ldap3.Connection) -> None:
        """Unbind and close ``conn`` in the background: the bind's answer is in."""
        with self._openers_lock:
            if self._openers is not None:
                self._openers.submit(_discard, conn)
                return
        _discard(conn)

    def _unbound(self) -> ldap3.Connection:
        return ldap3.Connection(
            self._server,
            authentication=ldap3.SIMPLE,
            client_strategy=ldap3.SYNC,
            raise_exceptions=False,
            receive_timeout=max(1, round(self._operation_timeout)),
        )

    def _open_unbound(self) -> ldap3.Connection:
        conn = self._unbound()
        try:
            conn.open()
        except BaseException:
            _discard(conn)
            raise
        return conn

    def close(self) -> None:
        """Unbind idle connections now and busy ones when they come back."""
        self._closed = True
        with self._openers_lock:
            spare, self._spare = self._spare, None
            if self._openers is not None:
                self._openers.shutdown(wait=False)
                self._openers = None
        if spare is not None:
            spare.future.add_done_callback(_discard_opened)
        drained = 0
        while True:
            try:
                conn = self._idle.get_nowait()
            except queue.Empty:
                break
            if conn is not None:
                _discard(conn)
            drained += 1
        for _ in range(drained):
            self._idle.put(None)


class OpenedAhead:
    """A new connection to the pool's DC being opened in the background
    (:meth:`ConnectionPool.open_ahead`): one bind is made on it, then it is
    closed; if none is, :meth:`close` closes it once it is open.

    If the DC closed it while it waited (its idle limit, a restart), ``reopen``
    opens another before the bind: nothing had been sent on it. ``done`` is
    called once the bind is answered, or when it is closed unused, if the
    connection opened.
    """

    def __init__(
        self,
        future: concurrent.futures.Future[ldap3.Connection],
        where: str,
        wait: float,
        close: Callable[[ldap3.Connection], None] = lambda conn: _discard(conn),
        reopen: Callable[[], ldap3.Connection] | None = None,
        done: Callable[[], None] = lambda: None,
    ) -> None:
        self._future = future
        self._where = where
        self._wait = wait
        self._close = close
        self._reopen = reopen
        self._done = done
        self._taken = False

    def bind(self, dn: str, password: str) -> tuple[int, str]:
        """As :meth:`ConnectionPool.bind_as`, on this connection; at most once.

        Raises:
            DirectoryUnavailable: the DC could not be reached, TLS failed, or the
                connection was not open in time.
        """
        if self._taken:
            raise RuntimeError("a connection opened ahead takes one bind")
        self._taken = True
        conn = self._connection()
        try:
            return _bind_once(conn, dn, password, self._where, self._close)
        finally:
            self._done()

    def _connection(self) -> ldap3.Connection:
        try:
            conn = self._future.result(timeout=self._wait)
            if self._reopen is not None and not _still_open(conn):
                _discard(conn)
                conn = self._reopen()
        except concurrent.futures.TimeoutError:
            self._future.add_done_callback(_discard_opened)
            raise DirectoryUnavailable(
                f"no connection to {self._where} within {self._wait} s"
            ) from None
        except (LDAPException, OSError) as exc:
            raise translate(exc, where=self._where) from exc
        return conn

    def close(self) -> None:
        """Not bound on: closed as soon as it is open (at once if it is)."""
        if not self._taken:
            self._taken = True
            future = self._future
            opened = future.done() and not future.cancelled() and future.exception() is None
            self._future.add_done_callback(_discard_opened)
            if opened:
                self._done()


def _bind_once(
    conn: ldap3.Connection,
    dn: str,
    password: str,
    where: str,
    close: Callable[[ldap3.Connection], None] | None = None,
) -> tuple[int, str]:
    """One simple bind on an open connection, which is closed afterwards (by
    ``close`` once the bind is answered, if given)."""
    try:
        conn.user, conn.password = safe_dn(dn), password
        conn.bind()
        result = dict(conn.result)
    except (LDAPException, OSError) as exc:
        _discard(conn)
        raise translate(exc, where=where) from exc
    except BaseException:
        _discard(conn)
        raise
    (close or _discard)(conn)
    return int(result["result"]), str(result.get("message") or "")


def _discard_opened(future: concurrent.futures.Future[ldap3.Connection]) -> None:
    if not future.cancelled() and future.exception() is None:
        _discard(future.result())


def _still_open(conn: ldap3.Connection) -> bool:
    """An idle connection that has something to read was closed (or warned about
    closing) by the server: a notice of disconnection or EOF. TLS records that
    carry no data (TLS 1.3 session tickets, sent after the handshake and not yet
    read on a connection nothing was sent on) do not count."""
    if conn.closed or conn.socket is None:
        return False
    sock = conn.socket
    if getattr(sock, "pending", lambda: 0)():
        return False
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return False
    return not readable or _only_tls_records(sock)


def _only_tls_records(sock: object) -> bool:
    """Whether what a TLS socket has to read is TLS's own records only: read
    without waiting, they leave no data (the connection is then still open)."""
    if not isinstance(sock, ssl.SSLSocket):
        return False
    timeout = sock.gettimeout()
    try:
        sock.settimeout(0)
        sock.recv(1)  # data (a notice of disconnection) or b"" (EOF): closing
    except ssl.SSLWantReadError:
        return True
    except (OSError, ValueError):
        return False
    finally:
        with contextlib.suppress(OSError, ValueError):
            sock.settimeout(timeout)
    return False


#: Modules whose failure may leave a connection halfway through an exchange.
_LIBRARY_MODULES = ("ldap3", "pyasn1", "ssl", "socket")


def _inside_library(exc: BaseException) -> bool:
    """Whether ``exc`` was raised by code of the LDAP, ASN.1, TLS or socket library."""
    tb = exc.__traceback__
    while tb is not None:
        module = tb.tb_frame.f_globals.get("__name__", "")
        if module.split(".", 1)[0] in _LIBRARY_MODULES:
            return True
        tb = tb.tb_next
    return False


def _discard(conn: ldap3.Connection) -> None:
    with contextlib.suppress(Exception):
        conn.unbind()
    # ldap3 leaves the socket of a connect that failed open; close it here.
    socket = getattr(conn, "socket", None)
    if socket is not None:
        with contextlib.suppress(Exception):
            socket.close()
