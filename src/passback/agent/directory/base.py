"""The seam between the agent and a directory: what the agent asks of one, in
terms of operations (locate, reset, policy, capabilities, the password stamp,
iter_users), never of one directory's attributes or of the LDAP library.

Adapters: ``ad/`` (Active Directory and Samba, on the generic ``ldap/`` parts),
chosen by the ``directory.kind`` key of the agent's config.

Exception tree (every directory adapter raises only these; library errors are
translated at the boundary with ``raise ... from exc``)::

    DirectoryError                 .outcome, .detail, .server_message
    ├── DirectoryUnavailable       cannot reach / bind / TLS-verify the DC
    ├── DirectoryConfigError       the configuration or the DC's own setup is wrong
    ├── LookupFailed               locating the user by anchor failed
    │   ├── UserNotFound           no object carries the anchor (33002)
    │   ├── MultipleMatches        several enabled accounts claim it (33003)
    │   └── DuplicateAnchor        two objects share the anchor value (80230402)
    ├── PasswordRefused            the DC refused the write; .outcome says why
    └── CredentialsRefused         a bind as the user failed; .outcome says why

``server_message`` is the directory's raw text: it goes to the agent's event log
and nowhere else (it may name internal DNs; it never holds the password).
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterator
from typing import Any, Protocol

from passback.protocol.outcomes import Outcome

#: Active Directory refuses a password longer than this many UTF-16 code units
#: (Samba accepts longer ones, so the agent checks it itself).
MAX_PASSWORD_UTF16_UNITS = 256


class DirectoryError(Exception):
    """Base of every error a directory adapter raises."""

    outcome: Outcome = Outcome.UNKNOWN

    def __init__(
        self,
        message: str,
        *,
        outcome: Outcome | None = None,
        detail: dict[str, Any] | None = None,
        server_message: str | None = None,
    ) -> None:
        super().__init__(message)
        if outcome is not None:
            self.outcome = outcome
        self.detail: dict[str, Any] = detail or {}
        self.server_message = server_message


class DirectoryUnavailable(DirectoryError):
    outcome = Outcome.DIRECTORY_UNAVAILABLE


class DirectoryConfigError(DirectoryError):
    outcome = Outcome.UNKNOWN


class LookupFailed(DirectoryError):
    pass


class UserNotFound(LookupFailed):
    outcome = Outcome.USER_NOT_FOUND


class MultipleMatches(LookupFailed):
    outcome = Outcome.MULTIPLE_MATCHES


class DuplicateAnchor(LookupFailed):
    outcome = Outcome.DUPLICATE_ANCHOR


class PasswordRefused(DirectoryError):
    """The directory refused the write; ``outcome`` is the classified reason."""


class CredentialsRefused(DirectoryError):
    """A bind as the user failed (U4): wrong password, or the account cannot
    sign in now; ``outcome`` is the classified reason."""


class Protection(enum.StrEnum):
    """Why writeback refuses an account whatever the request (SPEC W5), most
    specific first: an account may be several of these; it is shown as the first."""

    #: The account the agent binds as: a reset would break writeback at the next
    #: bind, and whoever asked for it would know the agent's password.
    SERVICE_ACCOUNT = "service-account"
    #: ``isCriticalSystemObject`` TRUE: built-in accounts the domain needs
    #: (Administrator, Guest, krbtgt and the like).
    CRITICAL = "critical-system-object"
    #: ``adminCount=1``, or a protected account or group in ``tokenGroups``.
    PROTECTED_GROUP = "protected-group"

    @property
    def synced(self) -> bool:
        """Whether sync sends such an account to the server. A member of a
        protected group is, so the portal can say why it is refused (W5); the
        others are not offered at all."""
        return self is Protection.PROTECTED_GROUP

    @property
    def refusal(self) -> str:
        """Why writeback refuses such an account, to follow its name in a message."""
        return _REFUSALS[self]


_REFUSALS = {
    Protection.SERVICE_ACCOUNT: (
        "is the agent's own service account; writeback never sets its password "
        "(keep it out of the search base)"
    ),
    Protection.CRITICAL: (
        "is a critical system account (isCriticalSystemObject); writeback refuses it"
    ),
    Protection.PROTECTED_GROUP: "is in a protected group; writeback refuses it (W5)",
}


@dataclasses.dataclass(frozen=True)
class DirectoryUser:
    """What the agent needs to know about one account, read in one search."""

    dn: str
    anchor: bytes  # ms-DS-ConsistencyGuid if set, else objectGUID (raw 16 bytes)
    sam_account_name: str
    user_principal_name: str | None
    mail: str | None
    enabled: bool
    locked: bool  # locked out right now (lockoutTime > 0 within the lockout window)
    protection: Protection | None  # why writeback refuses it; None: it may be written
    #: Opaque; changes whenever the password is written (AD: pwdLastSet). Compared
    #: with :meth:`Directory.password_stamp` to tell whether a write landed.
    password_stamp: int
    #: When the password was last set, in Unix seconds; 0: it must be changed at
    #: next logon; None: not known.
    password_set_at: int | None = None
    #: When the password expires, in Unix seconds; None: never (or not known).
    password_expires_at: int | None = None
    #: Contact numbers as the directory holds them (AD ``mobile``,
    #: ``telephoneNumber``), for the portal's phone gates (SPEC G3).
    mobile: str | None = None
    telephone: str | None = None
    #: SIDs of the security groups the account is a member of, nested
    #: membership included (AD ``tokenGroups``), for the self-service scope (G6).
    groups: frozenset[str] = frozenset()
    #: Failed logons the directory counts toward its lockout, as the server
    #: read has them (AD ``badPwdCount``; None: not read, or the service
    #: account cannot read it), and when the last one was, in Unix seconds
    #: (0: never). Read for a verify only (``Directory.locate``).
    bad_password_count: int | None = 0
    bad_password_at: int = 0

    @property
    def protected(self) -> bool:
        return self.protection is not None

    @property
    def must_change(self) -> bool:
        """The password must be changed at next logon (AD: ``pwdLastSet`` = 0)."""
        return self.password_set_at == 0


@dataclasses.dataclass(frozen=True)
class DirectoryGroup:
    """A security group the self-service scope may name (G6)."""

    sid: str
    name: str


@dataclasses.dataclass(frozen=True)
class PasswordPolicy:
    """The rules that apply to one user: a fine-grained policy or the domain's."""

    source: str  # "domain" or "pso:<name>"
    min_length: int
    complexity: bool
    history_length: int
    min_age_seconds: int
    max_age_seconds: int  # 0 = never expires


#: Failed logons a verify always leaves the account's owner before the one
#: that locks it (U4, T1): strangers cannot use the portal to lock it out.
LOCKOUT_RESERVE = 2
#: Seconds a failed logon is taken to count past its window: the DC's clock
#: stamped it, the agent's decides, and the two may differ.
CLOCK_SKEW = 300


@dataclasses.dataclass(frozen=True)
class LockoutPolicy:
    """When the directory locks an account out after failed logons."""

    threshold: int  # failed logons that lock it; 0 = never locked
    window_seconds: int  # how long a failed logon counts; 0 = until a good one

    def near(self, user: DirectoryUser, now: float, reserve: int = LOCKOUT_RESERVE) -> bool:
        """Whether one more failed logon could leave ``user`` fewer than
        ``reserve`` failures before the lockout (0: one more could be the
        one that locks). An account with no failure counted yet never is
        (one failure cannot lock it unless the threshold is 1), nor is one
        locked already (a bind tells it so)."""
        counting = (
            self.window_seconds == 0
            or user.bad_password_at == 0  # a count with no time: taken to count
            or now < user.bad_password_at + self.window_seconds + CLOCK_SKEW
        )
        count = (user.bad_password_count or 0) if counting else 0
        return (
            self.threshold > 0
            and count > 0
            and not user.locked
            and count > self.threshold - 2 - reserve
        )


@dataclasses.dataclass(frozen=True)
class DirectoryCapabilities:
    """What the connected directory does with a password the agent sets, as far
    as users and operators must be told (SPEC W4)."""

    #: Whether a reset by the service account is checked against the user's
    #: password history (AD: only with the policy-hints control; Samba 4.17: no).
    history_on_reset: bool
    #: The longest password the directory takes, in its own units (AD: 256 UTF-16
    #: code units).
    max_password_length: int
    #: Whether writes carry a control that asks the directory to apply the user's
    #: whole policy on a reset (AD: LDAP_SERVER_POLICY_HINTS).
    policy_hints: bool
    #: The server password writes go to, for messages (AD: the PDC emulator, W7).
    writes_to: str


class OpenedConnection(Protocol):
    """A connection for one password check, opened while the account is
    located (:meth:`Directory.open_for_verify`)."""

    def close(self) -> None:
        """Close it unused (after a refusal, or when the account was not found)."""
        ...


class Directory(Protocol):
    """One directory the agent writes to. Implementations are synchronous and
    thread-safe; the agent calls them from a worker thread."""

    def capabilities(self) -> DirectoryCapabilities:
        """Read once, when first asked (then remembered). Raises DirectoryError."""
        ...

    def locate(self, anchor: bytes, *, failed_logons: bool = False) -> DirectoryUser:
        """Find the account by its immutable anchor (W6). Never by a name.
        ``failed_logons``: read the count toward the lockout too, for a
        verify (:attr:`DirectoryUser.bad_password_count`; else left unread)."""
        ...

    def reset_password(
        self, user: DirectoryUser, new_password: str, *, unlock: bool, must_change: bool = False
    ) -> None:
        """Set the password as the service account (W4); with ``unlock`` also
        unlock the account, with ``must_change`` make the user change it at
        next logon, both in the same write. Raises PasswordRefused."""
        ...

    def change_password(self, user: DirectoryUser, old_password: str, new_password: str) -> None:
        """Change the password the way the user would (W3, W4): the directory
        checks ``old_password``, history and minimum age. Raises PasswordRefused
        (``WRONG_PASSWORD`` for a wrong current password, ``CANNOT_CHANGE`` when
        the account may not change its password)."""
        ...

    def open_for_verify(self) -> OpenedConnection:
        """The new connection the next :meth:`verify_password` binds on, opened
        ahead of time or now in the background; nothing but the connection's
        own handshake is sent before that bind. Raises nothing: a failure to
        open is raised by the bind."""
        ...

    def verify_password(
        self,
        user: DirectoryUser,
        password: str,
        opened: OpenedConnection | None = None,
        *,
        reserve: int = LOCKOUT_RESERVE,
    ) -> None:
        """Check ``password`` by one bind as ``user`` (U4), on ``opened`` if given
        (from this directory's :meth:`open_for_verify`); nothing is written and a
        wrong password is never tried again. No bind when the account is near
        its lockout, ``reserve`` failures kept for its owner
        (:meth:`LockoutPolicy.near`): ``NEAR_LOCKOUT``. Raises CredentialsRefused."""
        ...

    def unlock(self, user: DirectoryUser) -> None:
        """Unlock the account as the service account, the password untouched
        (W3). Idempotent. Raises PasswordRefused (``PROTECTED``, ``ACCESS_DENIED``)."""
        ...

    def require_password_change(self, user: DirectoryUser) -> None:
        """Make the user change the password at next logon, as the service
        account (W3). Idempotent. Raises PasswordRefused."""
        ...

    def password_policy(self, user: DirectoryUser) -> PasswordPolicy:
        """The rules that apply to ``user`` (W4)."""
        ...

    def password_stamp(self, user: DirectoryUser) -> int:
        """``user``'s :attr:`DirectoryUser.password_stamp` as the server that takes
        the writes has it now (W7), so a write that landed shows before it
        replicates. Raises UserNotFound if the object is gone."""
        ...

    def iter_users(self) -> Iterator[DirectoryUser]:
        """Every user account under the configured search base (for sync)."""
        ...

    def iter_groups(self) -> Iterator[DirectoryGroup]:
        """Every security group of the domain (for sync: the self-service
        scope names one, G6); groups may live outside the search base."""
        ...

    def close(self) -> None: ...


def utf16_units(password: str) -> int:
    """Length as Active Directory counts it: UTF-16 code units."""
    return len(password.encode("utf-16-le", errors="surrogatepass")) // 2
