"""ActiveDirectory's searches against a scripted stand-in for an ldap3 connection:
failures a Samba DC will not produce on demand (busy, a refused later page)."""

from __future__ import annotations

import contextlib
import struct
import threading
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import ldap3
import pytest

from passback.agent.directory.ad.active_directory import ActiveDirectory
from passback.agent.directory.ad.discovery import Domain
from passback.agent.directory.base import (
    DirectoryConfigError,
    DirectoryError,
    DirectoryUnavailable,
    DirectoryUser,
    UserNotFound,
)
from passback.agent.directory.ldap.search import PAGED_RESULTS_OID

BASE_DN = "OU=Passback Users,DC=passback,DC=test"
BUSY = (51, "busy", "0000200E: SvcErr: DSID-03080420, problem 5001 (BUSY), data 0\n")
ADMIN_LIMIT = (11, "adminLimitExceeded", "00000020: SvcErr: DSID-0208044C, problem 5011, data 0")


def sid(rid: int) -> bytes:
    return bytes([1, 5, 0, 0, 0, 0, 0, 5]) + struct.pack("<5I", 21, 1, 2, 3, rid)


def entry(rid: int) -> tuple[str, dict[str, list[bytes]]]:
    return f"CN=u{rid},{BASE_DN}", {
        "objectGUID": [rid.to_bytes(16, "little")],
        "objectSid": [sid(rid)],
        "sAMAccountName": [f"u{rid}".encode()],
        "userAccountControl": [b"512"],
        "pwdLastSet": [b"134398361859907320"],
    }


class FakeConn:
    """Answers subtree searches from ``pages`` (a list of pages of entries, or a
    (result, description, message) failure) and base searches from ``objects``."""

    def __init__(self, pages: list[Any], objects: dict[str, dict[str, list[bytes]]]) -> None:
        self.pages = pages
        self.objects = objects
        self.searches: list[tuple[str, str, int | None, bytes | None]] = []
        self.result: dict[str, Any] = {}
        self.response: list[dict[str, Any]] = []

    def search(
        self,
        base: str,
        query: str,
        scope: str,
        attributes: list[str] | None = None,
        paged_size: int | None = None,
        paged_cookie: bytes | None = None,
    ) -> bool:
        self.searches.append((base, scope, paged_size, paged_cookie))
        if scope == ldap3.BASE:
            if base not in self.objects:
                return self._answer(32, "noSuchObject", "0000208D: NameErr", [])
            attrs = {"tokenGroups": [sid(513)], **self.objects[base]}
            return self._answer(0, "success", "", [(base, attrs)])
        if paged_size == 0:  # abandon
            return self._answer(0, "success", "", [])
        number = 0 if paged_cookie is None else int(paged_cookie)
        page = self.pages[number]
        if isinstance(page, tuple):
            return self._answer(*page, [])
        more = number + 1 < len(self.pages)
        return self._answer(0, "success", "", page, str(number + 1).encode() if more else b"")

    def _answer(
        self,
        code: int,
        description: str,
        message: str,
        entries: list[tuple[str, dict[str, list[bytes]]]],
        cookie: bytes | None = None,
    ) -> bool:
        controls = {}
        if cookie is not None:
            controls = {PAGED_RESULTS_OID: {"value": {"size": 0, "cookie": cookie}}}
        self.result = {
            "result": code,
            "description": description,
            "message": message,
            "controls": controls,
        }
        self.response = [
            {"type": "searchResEntry", "dn": dn, "raw_attributes": attrs} for dn, attrs in entries
        ] + [{"type": "searchResRef", "uri": ["ldaps://elsewhere/"]}]
        return code == 0 and bool(entries)


class FakePool:
    def __init__(self, conn: FakeConn) -> None:
        self.conn = conn
        self.borrowed = 0

    @contextlib.contextmanager
    def connection(self, *, write: bool = False) -> Iterator[FakeConn]:
        self.borrowed += 1
        yield self.conn


def directory(reads: FakeConn, writes: FakeConn | None = None) -> ActiveDirectory:
    ad = ActiveDirectory.__new__(ActiveDirectory)
    ad._settings = SimpleNamespace(search_base=BASE_DN)  # type: ignore[assignment]
    ad._reads = FakePool(reads)  # type: ignore[assignment]
    ad._writes = FakePool(writes or reads)  # type: ignore[assignment]
    ad._domain = Domain(None, "dc1.passback.test", "DC=passback,DC=test")
    ad._service_sid = "S-1-5-21-1-2-3-9999"
    ad._lock = threading.Lock()
    return ad


def scripted(pages: list[Any]) -> FakeConn:
    objects = {dn: attrs for page in pages if isinstance(page, list) for dn, attrs in page}
    return FakeConn(pages, objects)


# -- iter_users: a refused search is an error, never a short list -------------


def test_iter_users_reads_every_page() -> None:
    conn = scripted([[entry(1), entry(2)], [entry(3)]])
    names = [u.sam_account_name for u in directory(conn).iter_users()]
    assert sorted(names) == ["u1", "u2", "u3"]
    paged = [s for s in conn.searches if s[1] == ldap3.SUBTREE]
    assert [cookie for _, _, _, cookie in paged] == [None, b"1"]


def test_an_empty_search_base_yields_nothing() -> None:
    assert list(directory(scripted([[]])).iter_users()) == []


def test_a_missing_search_base_is_a_config_error() -> None:
    conn = scripted([(32, "noSuchObject", "0000208D: NameErr: DSID-0310021B, problem 2001")])
    with pytest.raises(DirectoryConfigError, match="does not exist"):
        list(directory(conn).iter_users())


@pytest.mark.parametrize(
    ("failure", "error"), [(BUSY, DirectoryUnavailable), (ADMIN_LIMIT, DirectoryError)]
)
def test_a_refused_first_page_raises(
    failure: tuple[int, str, str], error: type[DirectoryError]
) -> None:
    with pytest.raises(error) as caught:
        list(directory(scripted([failure])).iter_users())
    assert caught.value.server_message == failure[2]


def test_a_refused_later_page_raises_after_the_first_pages_users() -> None:
    users = directory(scripted([[entry(1)], BUSY])).iter_users()
    assert next(users).sam_account_name == "u1"
    with pytest.raises(DirectoryUnavailable, match="busy"):
        next(users)


def test_a_sync_left_halfway_ends_the_paged_search_on_the_dc() -> None:
    conn = scripted([[entry(1)], [entry(2)]])
    users = directory(conn).iter_users()
    next(users)
    users.close()
    assert conn.searches[-1] == (BASE_DN, ldap3.SUBTREE, 0, b"1")


def test_a_failing_entry_ends_the_paged_search_before_the_connection_goes_back() -> None:
    bad_dn, bad = entry(2)
    bad["objectSid"] = []
    conn = scripted([[(bad_dn, bad)], [entry(3)]])
    with pytest.raises(DirectoryConfigError, match="objectSid"):
        list(directory(conn).iter_users())
    assert conn.searches[-1] == (BASE_DN, ldap3.SUBTREE, 0, b"1")


# -- password_stamp: pwdLastSet from the PDC (W7) -----------------------------


def user(dn: str) -> DirectoryUser:
    return DirectoryUser(dn, b"\x01" * 16, "u1", None, None, True, False, None, 1)


def test_password_stamp_reads_the_pdc_not_the_configured_dc() -> None:
    dn, attrs = entry(1)
    reads = FakeConn([], {dn: {**attrs, "pwdLastSet": [b"100"]}})
    writes = FakeConn([], {dn: {**attrs, "pwdLastSet": [b"200"]}})
    assert directory(reads, writes).password_stamp(user(dn)) == 200
    assert reads.searches == []
    assert writes.searches[0][:2] == (dn, ldap3.BASE)


def test_password_stamp_of_a_gone_user_is_user_not_found() -> None:
    with pytest.raises(UserNotFound):
        directory(FakeConn([], {})).password_stamp(user("CN=gone," + BASE_DN))


def test_password_stamp_unreadable_is_a_config_error() -> None:
    dn, attrs = entry(1)
    del attrs["pwdLastSet"]
    with pytest.raises(DirectoryConfigError, match="pwdLastSet"):
        directory(FakeConn([], {dn: attrs})).password_stamp(user(dn))
