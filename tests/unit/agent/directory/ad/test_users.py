"""The anchor match rule (W6) and the protection of an account (W5) on raw entries."""

from __future__ import annotations

import struct

import pytest

from passback.agent.directory.ad.users import build_user, choose_match, protection_of
from passback.agent.directory.base import DuplicateAnchor, Protection, UserNotFound

ANCHOR = b"\x11" * 16
OTHER = b"\x22" * 16


def attrs(
    guid: bytes, consistency: bytes | None = None, uac: bytes = b"512"
) -> dict[str, list[bytes]]:
    values = {"objectGUID": [guid], "userAccountControl": [uac]}
    if consistency is not None:
        values["ms-DS-ConsistencyGuid"] = [consistency]
    return values


def test_found_by_object_guid_but_anchored_elsewhere_is_not_found() -> None:
    """The objectGUID matches, but ms-DS-ConsistencyGuid (the effective anchor)
    differs: the object does not carry the anchor (33002), no duplicate."""
    with pytest.raises(UserNotFound):
        choose_match(ANCHOR, [("CN=a", attrs(ANCHOR, consistency=OTHER))])


def test_no_candidates_is_not_found() -> None:
    with pytest.raises(UserNotFound):
        choose_match(ANCHOR, [])


def test_only_the_claimants_count() -> None:
    candidates = [("CN=a", attrs(ANCHOR, consistency=OTHER)), ("CN=b", attrs(OTHER, ANCHOR))]
    assert choose_match(ANCHOR, candidates) == "CN=b"


def test_two_disabled_claimants_are_a_duplicate_anchor() -> None:
    candidates = [("CN=a", attrs(OTHER, ANCHOR, b"514")), ("CN=b", attrs(ANCHOR, None, b"514"))]
    with pytest.raises(DuplicateAnchor):
        choose_match(ANCHOR, candidates)


# -- protection (W5) ----------------------------------------------------------

DOMAIN = "S-1-5-21-1-2-3"
SERVICE = f"{DOMAIN}-1104"
USERS = f"{DOMAIN}-513"


@pytest.mark.parametrize(
    ("sid", "groups", "admin_count", "critical", "expected"),
    [
        (f"{DOMAIN}-1200", [USERS], 0, False, None),
        (SERVICE, [USERS], 0, False, Protection.SERVICE_ACCOUNT),
        # the most specific reason wins: the service account in Domain Admins
        (SERVICE, [f"{DOMAIN}-512"], 1, True, Protection.SERVICE_ACCOUNT),
        (f"{DOMAIN}-501", [f"{DOMAIN}-514"], 0, True, Protection.CRITICAL),  # Guest
        (f"{DOMAIN}-500", [USERS], 1, True, Protection.CRITICAL),  # Administrator
        (f"{DOMAIN}-500", [USERS], 0, False, Protection.PROTECTED_GROUP),  # RID 500
        (f"{DOMAIN}-502", [USERS], 0, False, Protection.PROTECTED_GROUP),  # krbtgt
        (f"{DOMAIN}-1200", [USERS], 1, False, Protection.PROTECTED_GROUP),  # adminCount
        (f"{DOMAIN}-1200", [USERS, "S-1-5-32-548"], 0, False, Protection.PROTECTED_GROUP),
    ],
)
def test_protection_of(
    sid: str, groups: list[str], admin_count: int, critical: bool, expected: Protection | None
) -> None:
    assert (
        protection_of(sid, groups, admin_count=admin_count, critical=critical, service_sid=SERVICE)
        is expected
    )


def raw_sid(sid: str) -> bytes:
    parts = [int(p) for p in sid.split("-")[3:]]
    return bytes([1, len(parts), 0, 0, 0, 0, 0, 5]) + struct.pack(f"<{len(parts)}I", *parts)


@pytest.mark.parametrize(
    ("sid", "critical", "expected"),
    [
        (f"{DOMAIN}-1200", None, None),
        (f"{DOMAIN}-1200", b"FALSE", None),
        (f"{DOMAIN}-1200", b"TRUE", Protection.CRITICAL),
        (SERVICE, None, Protection.SERVICE_ACCOUNT),
    ],
)
def test_build_user_reads_critical_and_knows_the_service_account(
    sid: str, critical: bytes | None, expected: Protection | None
) -> None:
    entry = attrs(ANCHOR) | {"objectSid": [raw_sid(sid)], "sAMAccountName": [b"x"]}
    if critical is not None:
        entry["isCriticalSystemObject"] = [critical]
    user = build_user("CN=x", entry, {"tokenGroups": [raw_sid(USERS)]}, service_sid=SERVICE)
    assert user.protection is expected
    assert user.protected is (expected is not None)


def test_only_a_protected_group_member_is_synced() -> None:
    """W5: a member of a protected group is shown, to be refused with a reason;
    the agent's own account and critical system accounts are not offered."""
    assert [p for p in Protection if p.synced] == [Protection.PROTECTED_GROUP]


@pytest.mark.parametrize(
    ("pwd_last_set", "expiry", "set_at", "expires_at"),
    [
        # 2023-11-14T22:13:20Z in FILETIME, and 42 days later
        (b"133444736000000000", b"133481024000000000", 1_700_000_000, 1_703_628_800),
        (b"0", b"0", 0, None),  # must change at next logon: AD computes 0, no expiry
        (b"133444736000000000", b"9223372036854775807", 1_700_000_000, None),  # never
        (b"133444736000000000", None, 1_700_000_000, None),  # not computed
    ],
)
def test_build_user_reads_the_password_dates(
    pwd_last_set: bytes, expiry: bytes | None, set_at: int, expires_at: int | None
) -> None:
    entry = attrs(ANCHOR) | {"objectSid": [raw_sid(USERS)], "pwdLastSet": [pwd_last_set]}
    constructed = {"tokenGroups": [raw_sid(USERS)]}
    if expiry is not None:
        constructed["msDS-UserPasswordExpiryTimeComputed"] = [expiry]
    user = build_user("CN=x", entry, constructed, service_sid=SERVICE)
    assert (user.password_set_at, user.password_expires_at) == (set_at, expires_at)


def test_build_user_reads_the_failed_logons() -> None:
    """U4: the count toward the lockout, and when the last failure was; a
    count not shown is unknown."""
    entry = attrs(ANCHOR) | {
        "objectSid": [raw_sid(USERS)],
        "badPwdCount": [b"2"],
        "badPasswordTime": [b"133444736000000000"],  # 2023-11-14T22:13:20Z
    }
    user = build_user("CN=x", entry, {"tokenGroups": [raw_sid(USERS)]}, service_sid=SERVICE)
    assert (user.bad_password_count, user.bad_password_at) == (2, 1_700_000_000)
    unread = build_user(
        "CN=x",
        attrs(ANCHOR) | {"objectSid": [raw_sid(USERS)]},
        {"tokenGroups": [raw_sid(USERS)]},
        service_sid=SERVICE,
    )
    # not shown: the service account may not read it (not "no failure")
    assert (unread.bad_password_count, unread.bad_password_at) == (None, 0)
