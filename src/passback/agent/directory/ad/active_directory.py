"""Active Directory over LDAPS with ldap3: the agent's :class:`Directory` for AD and Samba.

Reads go to the configured DC; password writes go to the domain's PDC emulator
(W7), over a second pool when that is another host. Every ldap3 error is
translated at the pool boundary (``ldap/translate.py``); searches are judged
by ``ldap/search.py``; refusals of a write are classified from the server's
text (``ad/classify.py``).

Rights the service account needs (see tests/support/samba.py for a delegation):
Reset Password, Write pwdLastSet and Write lockoutTime on user objects under the
search base; Read Property on the Password Settings Container's PSOs; and, as
Authenticated Users have by default, read access to the rootDSE, the domain
head, the PDC's server object, user attributes and ``tokenGroups``.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import ldap3
from ldap3.utils.conv import escape_bytes

from passback.agent.directory.ad.classify import (
    classify_bind,
    classify_refusal,
    is_unavailable,
    may_change_after,
)
from passback.agent.directory.ad.discovery import (
    POLICY_HINTS_VALUE,
    ROOT_DSE_ATTRIBUTES,
    Domain,
    parent_dn,
    policy_hints_oid,
    same_host,
)
from passback.agent.directory.ad.password_settings import (
    DOMAIN_ATTRIBUTES,
    DOMAIN_LOCKOUT_ATTRIBUTES,
    PSO_ATTRIBUTES,
    PSO_LOCKOUT_ATTRIBUTES,
    lockout_from_domain,
    lockout_from_pso,
    policy_from_domain,
    policy_from_pso,
)
from passback.agent.directory.ad.settings import ADSettings
from passback.agent.directory.ad.sids import sid_to_str
from passback.agent.directory.ad.users import (
    CONSTRUCTED_ATTRIBUTES,
    FAILED_LOGON_ATTRIBUTES,
    GROUP_ATTRIBUTES,
    GROUP_FILTER,
    GUID_LENGTH,
    USER_ATTRIBUTES,
    USER_FILTER,
    build_group,
    build_user,
    choose_match,
    first,
)
from passback.agent.directory.base import (
    LOCKOUT_RESERVE,
    MAX_PASSWORD_UTF16_UNITS,
    CredentialsRefused,
    DirectoryCapabilities,
    DirectoryConfigError,
    DirectoryError,
    DirectoryGroup,
    DirectoryUnavailable,
    DirectoryUser,
    LockoutPolicy,
    LookupFailed,
    OpenedConnection,
    PasswordPolicy,
    PasswordRefused,
    UserNotFound,
    utf16_units,
)
from passback.agent.directory.ldap.pool import ConnectionPool, OpenedAhead
from passback.agent.directory.ldap.search import (
    RawAttributes,
    base_search,
    paged_search,
    subtree_search,
)
from passback.agent.directory.ldap.tls import PinnedTls, verifying_context
from passback.agent.directory.ldap.translate import worth_retrying
from passback.protocol.outcomes import Outcome

T = TypeVar("T")


class ActiveDirectory:
    """One AD domain reached over LDAPS with a small pool of bound connections.

    Thread-safe. Raises only the exceptions of ``passback.agent.directory.base``.
    """

    def __init__(self, settings: ADSettings, *, clock: Callable[[], float] = time.time) -> None:
        self._settings = settings
        self._clock = clock
        self._context = verifying_context(settings.ca_file)
        self._reads = self._pool(settings.host, settings.port, settings.tls_name)
        self._writes: ConnectionPool | None = None
        self._domain: Domain | None = None
        self._service_sid = ""  # the bind account's objectSid, read with the capabilities
        self._lock = threading.Lock()

    def _pool(self, host: str, port: int, tls_name: str) -> ConnectionPool:
        s = self._settings
        return ConnectionPool(
            host=host,
            port=port,
            tls=PinnedTls(self._context, tls_name),
            bind_dn=s.bind_dn,
            bind_password=s.bind_password,
            size=s.pool_size,
            connect_timeout=s.connect_timeout,
            operation_timeout=s.operation_timeout,
        )

    # -- reads ---------------------------------------------------------------

    def _read(
        self, operation: Callable[[ldap3.Connection], T], pool: ConnectionPool | None = None
    ) -> T:
        """Run a read (on the read pool unless told); once more on a fresh
        connection if the used one broke."""
        pool = pool or self._reads
        try:
            with pool.connection() as conn:
                return operation(conn)
        except DirectoryUnavailable as exc:
            if not worth_retrying(exc):
                raise
        with pool.connection() as conn:
            return operation(conn)

    def _base(self, dn: str, attributes: list[str]) -> RawAttributes | None:
        """The attributes of one object, or None if it does not exist."""

        def search(conn: ldap3.Connection) -> RawAttributes | None:
            return base_search(conn, dn, attributes, unavailable=is_unavailable)

        return self._read(search)

    def capabilities(self) -> DirectoryCapabilities:
        """Read once from the rootDSE and the domain's FSMO role owner (W4, W7),
        together with the SID of the account the agent binds as (W5).

        Raises:
            DirectoryConfigError: the DC does not show what is needed to find the
                PDC, or ``bind_dn`` names no object the DC shows.
        """
        return self._known_domain().capabilities

    def _known_domain(self) -> Domain:
        with self._lock:
            if self._domain is None:
                self._service_sid = self._read_service_sid()
                self._domain, self._writes = self._discover()
            return self._domain

    def _read_service_sid(self) -> str:
        """The bound account's SID, so it is told apart from the users under the
        search base however its DN is spelled (LDAP "Who am I?" is not on Samba 4.17)."""
        bind_dn = self._settings.bind_dn
        attrs = self._base(bind_dn, ["objectSid"])
        if attrs is None:
            raise DirectoryConfigError(
                f"bind_dn {bind_dn} does not exist; it must be the service account's DN"
            )
        raw = first(attrs, "objectSid")
        if raw is None:
            raise DirectoryConfigError(f"cannot read objectSid of the service account {bind_dn}")
        return sid_to_str(raw)

    def _service_account_sid(self) -> str:
        self._known_domain()
        return self._service_sid

    def _discover(self) -> tuple[Domain, ConnectionPool]:
        root = self._base("", ROOT_DSE_ATTRIBUTES) or {}
        domain_dn = _one_text(root, "defaultNamingContext", "the rootDSE")
        connected = _one_text(root, "dnsHostName", "the rootDSE")
        hints = policy_hints_oid(v.decode() for v in root.get("supportedControl") or [])
        head = self._base(domain_dn, ["fSMORoleOwner"]) or {}
        ntds_settings = _one_text(head, "fSMORoleOwner", f"the domain object {domain_dn}")
        server_dn = parent_dn(ntds_settings)
        server = self._base(server_dn, ["dNSHostName"]) or {}
        pdc_host = _one_text(server, "dNSHostName", f"the PDC's server object {server_dn}")
        if same_host(pdc_host, connected):
            writes = self._reads
        else:
            writes = self._pool(pdc_host, self._settings.port, pdc_host)
        return Domain(policy_hints_oid=hints, pdc_host=pdc_host, domain_dn=domain_dn), writes

    def locate(self, anchor: bytes, *, failed_logons: bool = False) -> DirectoryUser:
        """Find the account whose anchor is ``anchor`` under the search base (W6);
        with ``failed_logons``, its count toward the lockout too (a verify).

        Raises:
            UserNotFound: no user carries it (33002).
            MultipleMatches: several enabled users carry it (33003).
            DuplicateAnchor: several users, none enabled, carry it (80230402).
            DirectoryConfigError: protection cannot be decided (tokenGroups unreadable).
        """
        if len(anchor) != GUID_LENGTH:
            raise LookupFailed("an anchor is 16 bytes", outcome=Outcome.INVALID_REQUEST)
        value = escape_bytes(anchor)
        query = f"(&{USER_FILTER}(|(ms-DS-ConsistencyGuid={value})(objectGUID={value})))"
        service_sid = self._service_account_sid()
        wanted = USER_ATTRIBUTES + FAILED_LOGON_ATTRIBUTES if failed_logons else USER_ATTRIBUTES

        def find(conn: ldap3.Connection) -> DirectoryUser:
            found = subtree_search(
                conn, self._settings.search_base, query, wanted, unavailable=is_unavailable
            )
            dn = choose_match(anchor, found)  # UserNotFound if none carries the anchor
            attrs = dict(found)[dn]
            return build_user(dn, attrs, _constructed(conn, dn), service_sid=service_sid)

        return self._read(find)

    def lockout_policy(self, user: DirectoryUser) -> LockoutPolicy:
        """When ``user``'s account locks out: its fine-grained policy's, else
        the domain's.

        Raises:
            DirectoryConfigError: the policy's attributes cannot be read (names the right).
        """
        pso = self._resultant_pso(user)
        if pso is not None:
            return lockout_from_pso(pso, self._base(pso, PSO_LOCKOUT_ATTRIBUTES) or {})
        domain_dn = self._known_domain().domain_dn
        return lockout_from_domain(
            domain_dn, self._base(domain_dn, DOMAIN_LOCKOUT_ATTRIBUTES) or {}
        )

    def _resultant_pso(self, user: DirectoryUser) -> str | None:
        """The DN of the fine-grained policy that applies to ``user``, if any."""
        attrs = self._base(user.dn, ["msDS-ResultantPSO"])
        if attrs is None:
            raise UserNotFound(f"{user.sam_account_name} no longer exists")
        pso = attrs.get("msDS-ResultantPSO") or []
        return pso[0].decode() if pso else None

    def password_policy(self, user: DirectoryUser) -> PasswordPolicy:
        """The fine-grained policy that applies to ``user``, else the domain's (W4).

        Raises:
            DirectoryConfigError: the policy's attributes cannot be read (names the right).
        """
        pso = self._resultant_pso(user)
        if pso is not None:
            return policy_from_pso(pso, self._base(pso, PSO_ATTRIBUTES) or {})
        domain_dn = self._known_domain().domain_dn
        return policy_from_domain(domain_dn, self._base(domain_dn, DOMAIN_ATTRIBUTES) or {})

    def password_stamp(self, user: DirectoryUser) -> int:
        """``pwdLastSet`` (a FILETIME) of ``user`` as the PDC emulator has it now (W7).

        Read from the PDC, where the writes go, so that a write that landed shows
        even before it replicates to the configured DC (crash recovery compares it).

        Raises:
            UserNotFound: the object no longer exists.
            DirectoryConfigError: the service account cannot read ``pwdLastSet``.
        """
        self._known_domain()
        assert self._writes is not None  # set together with the domain

        def search(conn: ldap3.Connection) -> RawAttributes | None:
            return base_search(conn, user.dn, ["pwdLastSet"], unavailable=is_unavailable)

        attrs = self._read(search, self._writes)
        if attrs is None:
            raise UserNotFound(f"{user.sam_account_name} no longer exists")
        values = attrs.get("pwdLastSet") or []
        if not values:
            raise DirectoryConfigError(
                f"cannot read pwdLastSet of {user.dn} on the PDC emulator; the service "
                "account needs Read Property on it"
            )
        return int(values[0])

    def iter_users(self) -> Iterator[DirectoryUser]:
        """Every user under the search base, page by page; holds one connection
        while it runs (keep ``pool_size`` ≥ 2 so writes do not wait on a sync).

        Raises (possibly after some users were yielded): any ``DirectoryError``
        when a page is refused or fails; a sync must then not treat the users seen
        so far as all of them.
        """
        base = self._settings.search_base
        service_sid = self._service_account_sid()
        with (
            self._reads.connection() as conn,
            contextlib.closing(
                paged_search(conn, base, USER_FILTER, USER_ATTRIBUTES, unavailable=is_unavailable)
            ) as pages,
        ):
            for page in pages:
                for dn, attrs in page:
                    yield build_user(dn, attrs, _constructed(conn, dn), service_sid=service_sid)

    def iter_groups(self) -> Iterator[DirectoryGroup]:
        """Every security group of the domain, page by page (G6); raises as
        :meth:`iter_users` does."""
        base = self._known_domain().domain_dn
        with (
            self._reads.connection() as conn,
            contextlib.closing(
                paged_search(conn, base, GROUP_FILTER, GROUP_ATTRIBUTES, unavailable=is_unavailable)
            ) as pages,
        ):
            for page in pages:
                for dn, attrs in page:
                    group = build_group(dn, attrs)
                    if group is not None:
                        yield group

    def open_for_verify(self) -> OpenedAhead:
        """A new connection to the configured DC for one check: the one the pool
        opened ahead after the last check (TCP, TLS), else one opening in the
        background while the account is located; a check then waits only for
        its bind."""
        return self._reads.open_ahead()

    def verify_password(
        self,
        user: DirectoryUser,
        password: str,
        opened: OpenedConnection | None = None,
        *,
        reserve: int = LOCKOUT_RESERVE,
    ) -> None:
        """Check ``password`` by one simple bind as ``user`` on the configured DC (U4),
        on a new connection: ``opened`` (from :meth:`open_for_verify`), else one
        opened now.

        One bind per call and none again after a refusal, so a wrong password
        counts once, as a sign-in at a workstation would. The refusal is
        classified by the ``data`` code of the bind's text (``52e`` wrong,
        ``773`` must change, ``532`` expired, ``533`` disabled, ``701`` account
        expired, ``775`` locked out, ``530`` logon hours, ``531`` workstation).

        No bind at all when a failed one could bring the account within
        ``reserve`` failures of its lockout (``badPwdCount`` against the
        user's lockout policy, read only when a failure is counted): the owner
        keeps their logons whatever strangers type in the portal. The owner's
        own browser keeps none (0), but never makes the failure that locks.

        Raises:
            CredentialsRefused: ``outcome`` says why (``NEAR_LOCKOUT``: not
                tried, also when the lockout policy cannot be read).
            DirectoryUnavailable: the DC could not be reached, or was busy.
        """
        if user.bad_password_count:
            try:
                near = self.lockout_policy(user).near(user, self._clock(), reserve)
            except DirectoryConfigError as exc:  # not known: kept clear of all the same
                raise CredentialsRefused(
                    f"no bind as {user.sam_account_name}: it has failed logons, and its "
                    f"lockout policy cannot be read: {exc}",
                    outcome=Outcome.NEAR_LOCKOUT,
                ) from exc
            if near:
                raise CredentialsRefused(
                    f"no bind as {user.sam_account_name}: {user.bad_password_count} failed "
                    "logons are counted toward the lockout, and one more could leave the "
                    f"owner fewer than {reserve} before it"
                    if reserve
                    else "logons are counted toward the lockout, and one more could lock it",
                    outcome=Outcome.NEAR_LOCKOUT,
                )
        if opened is None:
            result_code, message = self._reads.bind_as(user.dn, password)
        elif isinstance(opened, OpenedAhead):
            result_code, message = opened.bind(user.dn, password)
        else:
            raise TypeError(f"not a connection this directory opened: {type(opened).__name__}")
        outcome = classify_bind(result_code, message)
        if outcome is Outcome.OK:
            return
        if outcome is Outcome.DIRECTORY_UNAVAILABLE:
            raise DirectoryUnavailable(
                f"{self._reads.where} is busy or unavailable (bind result {result_code})",
                server_message=message,
            )
        raise CredentialsRefused(
            f"the directory refused a bind as {user.sam_account_name}: {outcome}",
            outcome=outcome,
            server_message=message,
        )

    # -- writes --------------------------------------------------------------

    def reset_password(
        self, user: DirectoryUser, new_password: str, *, unlock: bool, must_change: bool = False
    ) -> None:
        """Set ``user``'s password as the service account, on the PDC emulator (W4, W7).

        One modify: ``unicodePwd`` replaced, plus ``lockoutTime`` = 0 when ``unlock``
        and the account is locked, plus ``pwdLastSet`` = 0 when ``must_change``
        (an administrator's reset: "User must change password at next logon");
        the policy-hints control goes along, critical, only when the DC
        advertises it.

        Raises:
            PasswordRefused: ``outcome`` says why (policy refusals 33008, access
                denied 33004, protected account W5, user gone 33002, unknown 33001).
            DirectoryUnavailable: the PDC could not be reached; ``OUTCOME_UNKNOWN``
                if the connection broke after the request went out.
        """
        self._check_writable(user, new_password)
        domain = self._known_domain()
        changes: dict[str, list[tuple[str, list[Any]]]] = {
            "unicodePwd": [(ldap3.MODIFY_REPLACE, [_unicode_pwd(new_password)])]
        }
        if unlock and user.locked:
            changes["lockoutTime"] = [(ldap3.MODIFY_REPLACE, ["0"])]
        if must_change:
            changes["pwdLastSet"] = [(ldap3.MODIFY_REPLACE, ["0"])]
        controls = None
        if domain.policy_hints_oid is not None:
            controls = [(domain.policy_hints_oid, True, POLICY_HINTS_VALUE)]
        self._write(user, changes, controls)

    def change_password(self, user: DirectoryUser, old_password: str, new_password: str) -> None:
        """Change ``user``'s password as AD's change operation, on the PDC emulator
        (W3, W4, W7): one modify that deletes the current ``unicodePwd`` value and
        adds the new one, so the directory itself checks the current password,
        history and minimum age (MS-ADTS 3.1.1.3.1.5.2).

        Sent by the service account, not by a bind as the user: the right it
        uses, Change Password, is Everyone's by default, and a user whose
        password expired or must be changed at next logon cannot bind at all
        (docs/topics/writeback.md). Samba 4.17 does not count a wrong current
        password as a bad logon: lockout does not limit guessing here.

        Raises:
            PasswordRefused: ``WRONG_PASSWORD`` (33007), ``CANNOT_CHANGE`` ("User
                cannot change password"), policy refusals with their detail
                (33008), ``PROTECTED`` (W5), ``TOO_LONG``, user gone (33002).
            DirectoryUnavailable: as for :meth:`reset_password`.
        """
        self._check_writable(user, new_password)
        self._known_domain()
        changes = {
            "unicodePwd": [
                (ldap3.MODIFY_DELETE, [_unicode_pwd(old_password)]),
                (ldap3.MODIFY_ADD, [_unicode_pwd(new_password)]),
            ]
        }
        self._write(user, changes, None, change=True)

    def unlock(self, user: DirectoryUser) -> None:
        """Unlock ``user`` on the PDC emulator, the password untouched (W3, W7):
        one modify setting ``lockoutTime`` to 0, the only value a writer may
        give it (MS-ADTS 3.1.1.5.3.1.1.1; AD then clears ``badPwdCount`` too).
        Idempotent: an account that is not locked stays so.

        Raises:
            PasswordRefused: ``PROTECTED`` (W5), ``ACCESS_DENIED`` (the service
                account lacks Write lockoutTime, 33004), user gone (33002).
            DirectoryUnavailable: as for :meth:`reset_password`.
        """
        self._check_protection(user)
        self._known_domain()
        self._write(user, {"lockoutTime": [(ldap3.MODIFY_REPLACE, ["0"])]}, None, what="unlock")

    def require_password_change(self, user: DirectoryUser) -> None:
        """Make ``user`` change the password at next logon (W3, W7): one modify
        setting ``pwdLastSet`` to 0 on the PDC emulator (MS-ADTS 3.1.1.3.1.5;
        a bind then answers ``data 773``). Idempotent.

        Raises:
            PasswordRefused: ``PROTECTED`` (W5), ``ACCESS_DENIED`` (the service
                account lacks Write pwdLastSet, 33004), user gone (33002).
            DirectoryUnavailable: as for :meth:`reset_password`.
        """
        self._check_protection(user)
        self._known_domain()
        changes = {"pwdLastSet": [(ldap3.MODIFY_REPLACE, ["0"])]}
        self._write(user, changes, None, what="require-change")

    def _check_protection(self, user: DirectoryUser) -> None:
        if user.protection is not None:
            raise PasswordRefused(
                f"{user.sam_account_name} {user.protection.refusal}",
                outcome=Outcome.PROTECTED,
                detail={"reason": str(user.protection)},
            )

    def _check_writable(self, user: DirectoryUser, new_password: str) -> None:
        self._check_protection(user)
        if utf16_units(new_password) > MAX_PASSWORD_UTF16_UNITS:
            raise PasswordRefused(
                f"longer than {MAX_PASSWORD_UTF16_UNITS} characters",
                outcome=Outcome.TOO_LONG,
                detail={"max_length": MAX_PASSWORD_UTF16_UNITS},
            )

    def _write(
        self,
        user: DirectoryUser,
        changes: dict[str, list[tuple[str, list[Any]]]],
        controls: list[tuple[str, bool, bytes]] | None,
        *,
        change: bool = False,
        what: str = "new password",
    ) -> None:
        """One modify on the PDC emulator as the service account; a refusal raised."""
        assert self._writes is not None  # set together with the domain
        with self._writes.connection(write=True) as conn:
            if conn.modify(user.dn, changes, controls=controls):
                return
            result = dict(conn.result)
        message = result.get("message") or ""
        self._refuse(user, result["result"], message, change=change, what=what)

    def _refuse(
        self, user: DirectoryUser, result_code: int, message: str, *, change: bool, what: str
    ) -> None:
        refusal = classify_refusal(result_code, message, change=change)
        if refusal.outcome is Outcome.DIRECTORY_UNAVAILABLE:
            raise DirectoryUnavailable(
                f"the PDC emulator is busy or unavailable (result {result_code})",
                server_message=message,
            )
        detail = dict(refusal.detail)
        if refusal.outcome in _NEEDS_POLICY:
            detail.update(self._policy_detail(user, refusal.outcome, detail))
        raise PasswordRefused(
            f"the directory refused the {what} for {user.sam_account_name}: "
            f"{_REASONS.get(refusal.outcome, refusal.outcome.value)}",
            outcome=refusal.outcome,
            detail=detail,
            server_message=message,
        )

    def _policy_detail(
        self, user: DirectoryUser, outcome: Outcome, known: dict[str, Any]
    ) -> dict[str, Any]:
        """Numbers the user can act on; best effort, the refusal stands either way."""
        if outcome is Outcome.TOO_SHORT and "min_length" in known:
            return {}
        try:
            policy = self.password_policy(user)
        except DirectoryError:
            return {}
        if outcome is Outcome.TOO_SHORT:
            return {"min_length": policy.min_length}
        if outcome is Outcome.IN_HISTORY:
            return {"history_length": policy.history_length}
        when = may_change_after(user.password_stamp, policy.min_age_seconds)
        return {"retry_after": when.isoformat()} if when else {}

    def close(self) -> None:
        self._reads.close()
        if self._writes is not None and self._writes is not self._reads:
            self._writes.close()


_NEEDS_POLICY = frozenset({Outcome.TOO_SHORT, Outcome.IN_HISTORY, Outcome.TOO_YOUNG})

_REASONS = {
    Outcome.ACCESS_DENIED: (
        "access denied; grant the service account Reset Password, Write pwdLastSet and "
        "Write lockoutTime on user objects in this OU (33004)"
    ),
    Outcome.USER_NOT_FOUND: "the user no longer exists (33002)",
    Outcome.WRONG_PASSWORD: "the current password is wrong (33007)",
    Outcome.CANNOT_CHANGE: (
        "the account is set so that its user cannot change the password (Change "
        "Password denied to Everyone/SELF on the user object)"
    ),
    Outcome.POLICY: "the password breaks the directory's policy (33008)",
    Outcome.UNKNOWN: "unknown error (33001); see the directory's message",
}


def _unicode_pwd(password: str) -> bytes:
    """A password as ``unicodePwd`` takes it: quoted, UTF-16-LE (MS-ADTS 3.1.1.3.1.5)."""
    return f'"{password}"'.encode("utf-16-le")


def _constructed(conn: ldap3.Connection, dn: str) -> RawAttributes:
    attrs = base_search(conn, dn, CONSTRUCTED_ATTRIBUTES, unavailable=is_unavailable)
    if attrs is None:
        raise UserNotFound(f"{dn} vanished while it was read")
    return attrs


def _one_text(attrs: RawAttributes, name: str, where: str) -> str:
    values = attrs.get(name) or []
    if not values:
        raise DirectoryConfigError(f"cannot read {name} of {where}; the service account needs it")
    return values[0].decode()
