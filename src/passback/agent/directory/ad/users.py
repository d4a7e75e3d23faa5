"""User entries as the directory returns them, and the anchor match rule (SPEC W5, W6).

Pure: takes raw attribute values (lists of bytes, as ldap3 hands them over),
gives :class:`DirectoryUser` values and decisions.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence

from passback.agent.directory.ad.sids import is_protected, sid_to_str
from passback.agent.directory.base import (
    DirectoryConfigError,
    DirectoryGroup,
    DirectoryUser,
    DuplicateAnchor,
    MultipleMatches,
    Protection,
    UserNotFound,
)
from passback.agent.directory.ldap.search import RawAttributes

#: Filter for user accounts (not computers, not contacts).
USER_FILTER = "(&(objectCategory=person)(objectClass=user))"

#: Read in the subtree search that finds users.
USER_ATTRIBUTES = [
    "objectGUID",
    "ms-DS-ConsistencyGuid",
    "objectSid",
    "sAMAccountName",
    "userPrincipalName",
    "mail",
    "mobile",
    "telephoneNumber",
    "userAccountControl",
    "lockoutTime",
    "adminCount",
    "isCriticalSystemObject",
    "pwdLastSet",
]

#: Read with them for a verify only: a DC may work them out on each read
#: (Samba does, against the lockout window), which a reset need not pay for.
FAILED_LOGON_ATTRIBUTES = ["badPwdCount", "badPasswordTime"]

#: Constructed attributes: AD computes them only in a base-scope search.
CONSTRUCTED_ATTRIBUTES = [
    "tokenGroups",
    "msDS-User-Account-Control-Computed",
    "msDS-UserPasswordExpiryTimeComputed",
]

UF_ACCOUNTDISABLE = 0x0002
UF_LOCKOUT = 0x0010  # in msDS-User-Account-Control-Computed
GUID_LENGTH = 16
#: FILETIME of 1970-01-01, and its ticks per second (100 ns).
FILETIME_UNIX_EPOCH = 116_444_736_000_000_000
FILETIME_TICKS = 10_000_000
#: What ``msDS-UserPasswordExpiryTimeComputed`` says of a password that never expires.
FILETIME_NEVER = 0x7FFF_FFFF_FFFF_FFFF


def first(attrs: RawAttributes, name: str) -> bytes | None:
    values = attrs.get(name) or []
    return values[0] if values else None


def text(attrs: RawAttributes, name: str) -> str | None:
    value = first(attrs, name)
    return value.decode("utf-8") if value is not None else None


def number(attrs: RawAttributes, name: str, default: int = 0) -> int:
    value = first(attrs, name)
    return int(value) if value is not None else default


def unix_time(filetime: int) -> int:
    """A FILETIME as Unix seconds; 0 stays 0 (AD's "never set" or "must change")."""
    if filetime <= FILETIME_UNIX_EPOCH:
        return 0
    return (filetime - FILETIME_UNIX_EPOCH) // FILETIME_TICKS


def password_expiry(constructed: RawAttributes) -> int | None:
    """``msDS-UserPasswordExpiryTimeComputed`` as Unix seconds; None when the
    password never expires or the directory does not compute it."""
    value = first(constructed, "msDS-UserPasswordExpiryTimeComputed")
    if value is None:
        return None
    filetime = int(value)
    if filetime >= FILETIME_NEVER or filetime <= 0:  # never, or must change now
        return None
    return unix_time(filetime)


def anchor_of(attrs: RawAttributes) -> bytes:
    """The cloud anchor: ms-DS-ConsistencyGuid if set, else objectGUID (W6)."""
    consistency = first(attrs, "ms-DS-ConsistencyGuid")
    if consistency is not None and len(consistency) == GUID_LENGTH:
        return consistency
    guid = first(attrs, "objectGUID")
    if guid is None:
        raise DirectoryConfigError("a user entry came back without objectGUID")
    return guid


def is_enabled(attrs: RawAttributes) -> bool:
    return not number(attrs, "userAccountControl") & UF_ACCOUNTDISABLE


def anchor_text(anchor: bytes) -> str:
    """An anchor as AD shows a GUID (for messages; the anchor is no secret)."""
    if len(anchor) == GUID_LENGTH:
        return str(uuid.UUID(bytes_le=anchor))
    return anchor.hex()


def choose_match(anchor: bytes, candidates: Sequence[tuple[str, RawAttributes]]) -> str:
    """The DN the anchor designates among the objects that carry it (W6).

    Rule: the objects whose effective anchor equals ``anchor`` claim it. One
    claimant is the match. Of several, the single enabled one is the match (the
    same person in several places, one account live); more than one enabled is
    :class:`MultipleMatches` (33003); none enabled is :class:`DuplicateAnchor`
    (80230402): the anchor is not unique and nothing tells which object is meant.
    No claimant is :class:`UserNotFound` (33002): an object found by its
    objectGUID whose ms-DS-ConsistencyGuid says otherwise does not carry the anchor.
    """
    claimants = [(dn, attrs) for dn, attrs in candidates if anchor_of(attrs) == anchor]
    if not claimants:
        raise UserNotFound(f"no user under the search base has anchor {anchor_text(anchor)}")
    if len(claimants) == 1:
        return claimants[0][0]
    enabled = [dn for dn, attrs in claimants if is_enabled(attrs)]
    if len(enabled) == 1:
        return enabled[0]
    shown = anchor_text(anchor)
    if enabled:
        raise MultipleMatches(
            f"{len(enabled)} enabled accounts carry anchor {shown}; one enabled account "
            "per person is supported"
        )
    raise DuplicateAnchor(
        f"{len(claimants)} disabled accounts carry anchor {shown}; make the anchor unique"
    )


def protection_of(
    sid: str,
    token_groups: Iterable[str],
    *,
    admin_count: int,
    critical: bool,
    service_sid: str,
) -> Protection | None:
    """Why writeback must refuse this account, if it must (W5); see :class:`Protection`."""
    if sid == service_sid:
        return Protection.SERVICE_ACCOUNT
    if critical:
        return Protection.CRITICAL
    if is_protected(sid, token_groups, admin_count=admin_count):
        return Protection.PROTECTED_GROUP
    return None


def build_user(
    dn: str, attrs: RawAttributes, constructed: RawAttributes, *, service_sid: str
) -> DirectoryUser:
    """One :class:`DirectoryUser` from the subtree entry plus its constructed
    attributes; ``service_sid`` is the SID of the account the agent binds as.

    Raises:
        DirectoryConfigError: ``tokenGroups`` came back empty (every account has at
            least its primary group), so the service account cannot read it and
            protection cannot be decided (W5).
    """
    groups = constructed.get("tokenGroups") or []
    if not groups:
        raise DirectoryConfigError(
            f"cannot read tokenGroups of {dn}: the service account needs Read Property "
            "on tokenGroups (e.g. membership in Windows Authorization Access Group or "
            "Pre-Windows 2000 Compatible Access) to tell protected accounts apart"
        )
    raw_sid = first(attrs, "objectSid")
    if raw_sid is None:
        raise DirectoryConfigError(f"cannot read objectSid of {dn}")
    computed = first(constructed, "msDS-User-Account-Control-Computed")
    if computed is not None:
        locked = bool(int(computed) & UF_LOCKOUT)
    else:  # err towards "locked": an unlock then clears lockoutTime, which is harmless
        locked = number(attrs, "lockoutTime") > 0
    group_sids = frozenset(sid_to_str(g) for g in groups)
    return DirectoryUser(
        dn=dn,
        anchor=anchor_of(attrs),
        sam_account_name=text(attrs, "sAMAccountName") or "",
        user_principal_name=text(attrs, "userPrincipalName"),
        mail=text(attrs, "mail"),
        enabled=is_enabled(attrs),
        locked=locked,
        protection=protection_of(
            sid_to_str(raw_sid),
            group_sids,
            admin_count=number(attrs, "adminCount"),
            critical=first(attrs, "isCriticalSystemObject") == b"TRUE",
            service_sid=service_sid,
        ),
        password_stamp=number(attrs, "pwdLastSet"),
        password_set_at=unix_time(number(attrs, "pwdLastSet")),
        password_expires_at=password_expiry(constructed),
        mobile=text(attrs, "mobile"),
        telephone=text(attrs, "telephoneNumber"),
        groups=group_sids,
        bad_password_count=(
            number(attrs, "badPwdCount") if first(attrs, "badPwdCount") is not None else None
        ),
        bad_password_at=unix_time(number(attrs, "badPasswordTime")),
    )


#: Security groups (``groupType`` has ``GROUP_TYPE_SECURITY_ENABLED``,
#: 0x80000000): only they are in a user's ``tokenGroups``.
GROUP_FILTER = "(&(objectClass=group)(groupType:1.2.840.113556.1.4.803:=2147483648))"
GROUP_ATTRIBUTES = ["objectSid", "sAMAccountName", "cn"]


def build_group(dn: str, attrs: RawAttributes) -> DirectoryGroup | None:
    """One group as the scope names it (G6): its SID and its pre-Windows 2000
    name (else its cn); None when the SID cannot be read."""
    raw_sid = first(attrs, "objectSid")
    if raw_sid is None:
        return None
    name = text(attrs, "sAMAccountName") or text(attrs, "cn") or dn
    return DirectoryGroup(sid_to_str(raw_sid), name)
