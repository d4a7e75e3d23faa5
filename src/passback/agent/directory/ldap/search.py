"""Searches on a bound ldap3 connection, judged by their result code (RFC 4511),
and the simple paged results control (RFC 2696).

The connections do not raise on an LDAP failure (``raise_exceptions=False``):
ldap3's ``search()`` returns False for "no entries" too, so every search here
reads the result code and turns a failure into a directory error.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Generator, Mapping, Sequence
from typing import Any

import ldap3
from ldap3.core.exceptions import LDAPException

from passback.agent.directory.base import DirectoryConfigError, DirectoryError, DirectoryUnavailable

#: Attribute values as ldap3 hands them over: lists of bytes by attribute name.
RawAttributes = Mapping[str, Sequence[bytes]]
Entry = tuple[str, RawAttributes]

#: Whether a failed search means the server is busy or unavailable (worth
#: another try later), from its result code and diagnostic message.
Unavailable = Callable[[int, str], bool]

SUCCESS = 0
NO_SUCH_OBJECT = 32
BUSY = 51
UNAVAILABLE = 52

#: The simple paged results control (RFC 2696).
PAGED_RESULTS_OID = "1.2.840.113556.1.4.319"

#: Page size of a paged search; AD's MaxPageSize default is 1000.
PAGE_SIZE = 500

ANY_OBJECT = "(objectClass=*)"


def busy_or_unavailable(result_code: int, message: str) -> bool:
    return result_code in (BUSY, UNAVAILABLE)


def entries(conn: ldap3.Connection) -> list[Entry]:
    """The entries of the last answer (referrals left out)."""
    return [
        (e["dn"], e["raw_attributes"]) for e in conn.response if e.get("type") == "searchResEntry"
    ]


def base_search(
    conn: ldap3.Connection,
    dn: str,
    attributes: list[str],
    *,
    unavailable: Unavailable = busy_or_unavailable,
) -> RawAttributes | None:
    """The attributes of one object, or None if it does not exist."""
    conn.search(dn, ANY_OBJECT, ldap3.BASE, attributes=attributes)
    if conn.result["result"] == SUCCESS:
        found = entries(conn)
        return found[0][1] if found else None
    if conn.result["result"] == NO_SUCH_OBJECT:
        return None
    raise search_failed(conn, dn, unavailable)


def subtree_search(
    conn: ldap3.Connection,
    base: str,
    query: str,
    attributes: list[str],
    *,
    unavailable: Unavailable = busy_or_unavailable,
) -> list[Entry]:
    """Raises DirectoryConfigError when ``base`` does not exist."""
    conn.search(base, query, ldap3.SUBTREE, attributes=attributes)
    if conn.result["result"] == SUCCESS:
        return entries(conn)
    if conn.result["result"] == NO_SUCH_OBJECT:
        raise DirectoryConfigError(f"the search base {base} does not exist")
    raise search_failed(conn, base, unavailable)


def paged_search(
    conn: ldap3.Connection,
    base: str,
    query: str,
    attributes: list[str],
    *,
    unavailable: Unavailable = busy_or_unavailable,
) -> Generator[list[Entry], None, None]:
    """A subtree search, one list of entries per page (RFC 2696).

    ldap3's own paged_search does not check the result code when the connection
    does not raise exceptions, so a refused page would end the search quietly:
    here every page's result is checked before any of its entries is used.
    """
    cookie: bytes | None = None  # set while the server holds more pages for us
    try:
        while True:
            sent, cookie = cookie, None
            conn.search(
                base, query, ldap3.SUBTREE, attributes=attributes,
                paged_size=PAGE_SIZE, paged_cookie=sent,
            )  # fmt: skip
            result = conn.result
            if result["result"] == NO_SUCH_OBJECT:
                raise DirectoryConfigError(
                    f"the search base {base} does not exist", server_message=result.get("message")
                )
            if result["result"] != SUCCESS:
                raise search_failed(conn, base, unavailable)
            page = entries(conn)
            cookie = _paged_cookie(result)
            yield page
            if not cookie:
                return
    finally:
        if cookie:  # left before the last page: let the server drop the result set
            _abandon_pages(conn, base, query, cookie)


def _abandon_pages(conn: ldap3.Connection, base: str, query: str, cookie: bytes) -> None:
    """A page size of 0 with the cookie ends a paged search (RFC 2696); AD keeps
    only a few open result sets per connection (MaxResultSetsPerConn)."""
    with contextlib.suppress(LDAPException, OSError):
        conn.search(base, query, ldap3.SUBTREE, attributes=[], paged_size=0, paged_cookie=cookie)


def _paged_cookie(result: dict[str, Any]) -> bytes | None:
    control = (result.get("controls") or {}).get(PAGED_RESULTS_OID) or {}
    cookie = (control.get("value") or {}).get("cookie")
    return cookie or None


def search_failed(conn: ldap3.Connection, dn: str, unavailable: Unavailable) -> DirectoryError:
    """The error for a search the server answered with a failure: DirectoryUnavailable
    when it says it is busy or unavailable (worth another try later)."""
    result = conn.result
    code = result["result"]
    message = result.get("message") or ""
    text = f"search of {dn} failed: {result['description']} ({code})"
    if unavailable(code, message):
        return DirectoryUnavailable(text, server_message=result.get("message"))
    return DirectoryError(text, server_message=result.get("message"))
