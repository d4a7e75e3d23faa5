"""Why a directory refused a password write, from the server's own words (SPEC W1, W4).

Classify by the leading 8-hex-digit Win32 code in the diagnostic message, not by
the LDAP result code: AD answers 53 (unwillingToPerform) to a policy failure on a
reset where Samba 4.17 answers 19 (constraintViolation). Only when the text has no
code (Samba's ACL module) does the result code decide.

Texts observed on Samba 4.17 (unicodePwd replace/change over LDAPS)::

    0000052D: Constraint violation - check_password_restrictions: the password is
        too short. It should be equal or longer than 7 characters!        (19)
    0000052D: Constraint violation - check_password_restrictions: the password
        does not meet the complexity criteria!                             (19)
    0000052D: Constraint violation - check_password_restrictions: the password
        was already used (in history)!                          (19, change only)
    0000052D: Constraint violation - check_password_restrictions: password is too
        young to change!                                        (19, change only)
    00000056: Constraint violation - check_password_restrictions: The old password
        specified doesn't match!                                (19, change only)
    00002030: No such Base DN: CN=…                                        (32)
    error in module acl: insufficient access rights during LDB_MODIFY (50)  (50)
    error in module acl: Constraint violation during LDB_MODIFY (19)        (19)
        (a change on an account whose Change Password right is denied to
        Everyone and SELF: "User cannot change password")

Samba 4.17 enforces neither history nor minimum age on a reset (it lacks the
policy-hints control, as AD does without it); the texts above marked "change
only" came from a change (delete old + add new) by the user.

Active Directory's texts (documented, e.g. in MS-ADTS and public reports) carry
the code but no reason, so a bare 0000052D is :attr:`Outcome.POLICY`::

    0000052D: AtrErr: DSID-03190F80, #1: 0: 0000052D: DSID-03190F80, problem 1005
        (CONSTRAINT_ATT_TYPE), data 0, Att 9005a (unicodePwd)         (19 or 53)
    00000056: AtrErr: DSID-03190F80, … Att 9005a (unicodePwd)   wrong old password
    00000005: SecErr: DSID-03152870, problem 4003 (INSUFF_ACCESS_RIGHTS), data 0
    0000208D: NameErr: DSID-0310021B, problem 2001 (NO_OBJECT), data 0, best match
    0000001F: SvcErr: DSID-031A12D2, problem 5003 (WILL_NOT_PERFORM), data 0
    0000200E: SvcErr: DSID-…, problem 5001 (BUSY), data 0                  (51)
    0000200F: SvcErr: DSID-…, problem 5002 (UNAVAILABLE), data 0           (52)

(the last two in the shape of AD's other SvcErr texts; the codes are MS-ERREF's
ERROR_DS_BUSY and ERROR_DS_UNAVAILABLE, the DSID varies by build.)

A busy or unavailable DC (results 51 and 52, whatever the text says) is
:attr:`Outcome.DIRECTORY_UNAVAILABLE`: nothing was written, try again later.
"""

from __future__ import annotations

import dataclasses
import datetime
import re
from typing import Any

from passback.agent.directory.ad.filetime import filetime_to_datetime
from passback.protocol.outcomes import Outcome

# Win32 codes (MS-ERREF) seen in LDAP diagnostic messages from AD and Samba.
ERROR_PASSWORD_RESTRICTION = 0x052D
ERROR_INVALID_PASSWORD = 0x0056
ERROR_ACCESS_DENIED = 0x0005
ERROR_NO_SUCH_USER = 0x0525
ERROR_DS_OBJ_NOT_FOUND = 0x2030
ERROR_DS_NO_SUCH_OBJECT = 0x208D
ERROR_DS_BUSY = 0x200E
ERROR_DS_UNAVAILABLE = 0x200F

# LDAP result codes (RFC 4511) used when the text carries no code.
LDAP_CONSTRAINT_VIOLATION = 19
LDAP_NO_SUCH_OBJECT = 32
LDAP_INSUFFICIENT_ACCESS_RIGHTS = 50
LDAP_BUSY = 51
LDAP_UNAVAILABLE = 52

_CODE = re.compile(r"\s*([0-9A-Fa-f]{8}):")
_MIN_LENGTH = re.compile(r"longer than (\d+) characters")

_BY_CODE = {
    ERROR_INVALID_PASSWORD: Outcome.WRONG_PASSWORD,
    ERROR_ACCESS_DENIED: Outcome.ACCESS_DENIED,
    ERROR_NO_SUCH_USER: Outcome.USER_NOT_FOUND,
    ERROR_DS_OBJ_NOT_FOUND: Outcome.USER_NOT_FOUND,
    ERROR_DS_NO_SUCH_OBJECT: Outcome.USER_NOT_FOUND,
    ERROR_DS_BUSY: Outcome.DIRECTORY_UNAVAILABLE,
    ERROR_DS_UNAVAILABLE: Outcome.DIRECTORY_UNAVAILABLE,
}

_BY_RESULT = {
    LDAP_CONSTRAINT_VIOLATION: Outcome.POLICY,
    LDAP_NO_SUCH_OBJECT: Outcome.USER_NOT_FOUND,
    LDAP_INSUFFICIENT_ACCESS_RIGHTS: Outcome.ACCESS_DENIED,
}

_UNAVAILABLE_RESULTS = frozenset({LDAP_BUSY, LDAP_UNAVAILABLE})

# Reasons Samba writes after 0000052D, in the order they are tried.
_POLICY_REASONS = (
    ("too short", Outcome.TOO_SHORT),
    ("complexity", Outcome.NOT_COMPLEX),
    ("in history", Outcome.IN_HISTORY),
    ("too young", Outcome.TOO_YOUNG),
)


@dataclasses.dataclass(frozen=True)
class Refusal:
    """The classified reason of one refused write."""

    outcome: Outcome
    code: int | None  # the Win32 code from the text, if it had one
    detail: dict[str, Any] = dataclasses.field(default_factory=dict)


def server_code(message: str) -> int | None:
    """The leading 8-hex-digit code of a diagnostic message (``0000052D: …``)."""
    match = _CODE.match(message)
    return int(match.group(1), 16) if match else None


def classify_refusal(result_code: int, message: str, *, change: bool = False) -> Refusal:
    """Classify a failed password write.

    Args:
        result_code: the LDAP result code of the modify response.
        message: the server's diagnostic message, verbatim.
        change: the write was a change (delete old + add new). Everyone holds
            the Change Password right by default, so a refusal for want of it
            means the account is set to "User cannot change password"
            (:attr:`Outcome.CANNOT_CHANGE`): AD answers ``00000005`` (50),
            Samba 4.17 its ACL module's text without a code (19).

    Returns:
        The outcome; for ``TOO_SHORT`` the detail holds ``min_length`` when the
        text names it (Samba does, AD does not).
    """
    code = server_code(message)
    if result_code in _UNAVAILABLE_RESULTS:  # busy or unavailable, whatever the text
        return Refusal(Outcome.DIRECTORY_UNAVAILABLE, code)
    if change and _change_denied(result_code, code, message):
        return Refusal(Outcome.CANNOT_CHANGE, code)
    if code == ERROR_PASSWORD_RESTRICTION:
        return _policy_refusal(message)
    if code is not None:
        return Refusal(_BY_CODE.get(code, Outcome.UNKNOWN), code)
    return Refusal(_BY_RESULT.get(result_code, Outcome.UNKNOWN), None)


def _change_denied(result_code: int, code: int | None, message: str) -> bool:
    if code is not None:
        return code == ERROR_ACCESS_DENIED
    return result_code == LDAP_INSUFFICIENT_ACCESS_RIGHTS or message.startswith(_ACL_MODULE)


_ACL_MODULE = "error in module acl:"


def is_unavailable(result_code: int, message: str) -> bool:
    """Whether a failed operation means the DC is busy or unavailable, by its
    result code or by the Win32 code in its text."""
    return classify_refusal(result_code, message).outcome is Outcome.DIRECTORY_UNAVAILABLE


def _policy_refusal(message: str) -> Refusal:
    lowered = message.lower()
    for phrase, outcome in _POLICY_REASONS:
        if phrase in lowered:
            detail: dict[str, Any] = {}
            length = _MIN_LENGTH.search(lowered)
            if outcome is Outcome.TOO_SHORT and length:
                detail["min_length"] = int(length.group(1))
            return Refusal(outcome, ERROR_PASSWORD_RESTRICTION, detail)
    return Refusal(Outcome.POLICY, ERROR_PASSWORD_RESTRICTION)


#: The sub-status of a refused bind, after ``data`` in the text (MS-ERREF NTSTATUS
#: mapped to Win32), as AD and Samba 4.17 both write it::
#:
#:     80090308: LdapErr: DSID-0C0903A9, comment: AcceptSecurityContext error, data 52e, v1db1
_BIND_DATA = re.compile(r"\bdata ([0-9A-Fa-f]+)\b")

_BY_BIND_DATA = {
    0x52E: Outcome.WRONG_PASSWORD,  # ERROR_LOGON_FAILURE
    0x525: Outcome.WRONG_PASSWORD,  # ERROR_NO_SUCH_USER: the name did not resolve
    0x773: Outcome.MUST_CHANGE,  # ERROR_PASSWORD_MUST_CHANGE (pwdLastSet = 0)
    0x532: Outcome.PASSWORD_EXPIRED,  # ERROR_PASSWORD_EXPIRED
    0x533: Outcome.DISABLED,  # ERROR_ACCOUNT_DISABLED
    0x701: Outcome.ACCOUNT_EXPIRED,  # ERROR_ACCOUNT_EXPIRED (accountExpires)
    0x775: Outcome.LOCKED,  # ERROR_ACCOUNT_LOCKED_OUT
    0x530: Outcome.LOGON_HOURS,  # ERROR_INVALID_LOGON_HOURS
    0x531: Outcome.WORKSTATION,  # ERROR_INVALID_WORKSTATION
}

#: LDAP result code of a refused simple bind (RFC 4511).
LDAP_INVALID_CREDENTIALS = 49


def classify_bind(result_code: int, message: str) -> Outcome:
    """Classify a simple bind as a user (SPEC U4) by the ``data`` code in its text.

    Args:
        result_code: the LDAP result code of the bind response.
        message: the server's diagnostic message, verbatim.

    Returns:
        ``OK`` for a successful bind; the account's state for a refused one
        (``UNKNOWN`` when the code is not one of AD's logon failures).
    """
    if result_code == 0:
        return Outcome.OK
    if result_code in _UNAVAILABLE_RESULTS:
        return Outcome.DIRECTORY_UNAVAILABLE
    match = _BIND_DATA.search(message)
    if result_code != LDAP_INVALID_CREDENTIALS or match is None:
        return Outcome.UNKNOWN
    return _BY_BIND_DATA.get(int(match.group(1), 16), Outcome.UNKNOWN)


def may_change_after(pwd_last_set: int, min_age_seconds: int) -> datetime.datetime | None:
    """When a password set at ``pwd_last_set`` (FILETIME) is old enough to change.

    None when it cannot be told: no minimum age, or ``pwdLastSet`` is 0 (must
    change at next logon, so no age applies).
    """
    if min_age_seconds <= 0 or pwd_last_set <= 0:
        return None
    return filetime_to_datetime(pwd_last_set) + datetime.timedelta(seconds=min_age_seconds)
