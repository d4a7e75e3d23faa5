"""Classification of refused password writes by the server's text (SPEC W1, W4).

The texts are verbatim: Samba 4.17's as observed by tests/integration, AD's as
documented and reported publicly.
"""

from __future__ import annotations

import datetime

import pytest

from passback.agent.directory.ad.classify import (
    ERROR_PASSWORD_RESTRICTION,
    classify_bind,
    classify_refusal,
    may_change_after,
    server_code,
)
from passback.protocol.outcomes import Outcome

SAMBA_TOO_SHORT = (
    "0000052D: Constraint violation - check_password_restrictions: the password is too short."
    " It should be equal or longer than 7 characters!"
)
SAMBA_TOO_SHORT_PSO = SAMBA_TOO_SHORT.replace(" 7 ", " 12 ")
SAMBA_NOT_COMPLEX = (
    "0000052D: Constraint violation - check_password_restrictions: the password does not meet"
    " the complexity criteria!"
)
SAMBA_IN_HISTORY = (
    "0000052D: Constraint violation - check_password_restrictions: the password was already"
    " used (in history)!"
)
SAMBA_TOO_YOUNG = (
    "0000052D: Constraint violation - check_password_restrictions: password is too young to change!"
)
SAMBA_WRONG_OLD = (
    "00000056: Constraint violation - check_password_restrictions: The old password specified"
    " doesn't match!"
)
SAMBA_NO_SUCH_OBJECT = "00002030: No such Base DN: CN=nobody,OU=Passback Users,DC=passback,DC=test"
SAMBA_ACCESS_DENIED = "error in module acl: insufficient access rights during LDB_MODIFY (50)"

AD_POLICY = (
    "0000052D: AtrErr: DSID-03190F80, #1:\n\t0: 0000052D: DSID-03190F80, problem 1005"
    " (CONSTRAINT_ATT_TYPE), data 0, Att 9005a (unicodePwd)\n\x00"
)
AD_ACCESS_DENIED = "00000005: SecErr: DSID-03152870, problem 4003 (INSUFF_ACCESS_RIGHTS), data 0\n"
AD_NO_OBJECT = "0000208D: NameErr: DSID-0310021B, problem 2001 (NO_OBJECT), data 0, best match of:"
AD_UNWILLING = "0000001F: SvcErr: DSID-031A12D2, problem 5003 (WILL_NOT_PERFORM), data 0\n"
# ERROR_DS_BUSY / ERROR_DS_UNAVAILABLE in the shape of AD's SvcErr texts.
AD_BUSY = "0000200E: SvcErr: DSID-03080420, problem 5001 (BUSY), data 0\n"
AD_UNAVAILABLE = "0000200F: SvcErr: DSID-03080420, problem 5002 (UNAVAILABLE), data 0\n"


@pytest.mark.parametrize(
    ("result", "message", "outcome", "detail"),
    [
        (19, SAMBA_TOO_SHORT, Outcome.TOO_SHORT, {"min_length": 7}),
        (19, SAMBA_TOO_SHORT_PSO, Outcome.TOO_SHORT, {"min_length": 12}),
        (19, SAMBA_NOT_COMPLEX, Outcome.NOT_COMPLEX, {}),
        (19, SAMBA_IN_HISTORY, Outcome.IN_HISTORY, {}),
        (19, SAMBA_TOO_YOUNG, Outcome.TOO_YOUNG, {}),
        (19, SAMBA_WRONG_OLD, Outcome.WRONG_PASSWORD, {}),
        (32, SAMBA_NO_SUCH_OBJECT, Outcome.USER_NOT_FOUND, {}),
        (50, SAMBA_ACCESS_DENIED, Outcome.ACCESS_DENIED, {}),
        # AD answers 53 to a policy failure on a reset: the code in the text decides.
        (53, AD_POLICY, Outcome.POLICY, {}),
        (19, AD_POLICY, Outcome.POLICY, {}),
        (50, AD_ACCESS_DENIED, Outcome.ACCESS_DENIED, {}),
        (32, AD_NO_OBJECT, Outcome.USER_NOT_FOUND, {}),
        (53, AD_UNWILLING, Outcome.UNKNOWN, {}),
        (51, AD_BUSY, Outcome.DIRECTORY_UNAVAILABLE, {}),
        (52, AD_UNAVAILABLE, Outcome.DIRECTORY_UNAVAILABLE, {}),
        # the code decides even under another result, and 51/52 whatever the text
        (1, AD_BUSY, Outcome.DIRECTORY_UNAVAILABLE, {}),
        (80, AD_UNAVAILABLE, Outcome.DIRECTORY_UNAVAILABLE, {}),
        (51, AD_UNWILLING, Outcome.DIRECTORY_UNAVAILABLE, {}),
        (52, AD_POLICY, Outcome.DIRECTORY_UNAVAILABLE, {}),
    ],
)
def test_real_texts(result: int, message: str, outcome: Outcome, detail: dict[str, int]) -> None:
    refusal = classify_refusal(result, message)
    assert refusal.outcome is outcome
    assert refusal.detail == detail


def test_policy_texts_carry_the_code() -> None:
    assert classify_refusal(19, SAMBA_NOT_COMPLEX).code == ERROR_PASSWORD_RESTRICTION


def test_too_short_without_a_number_has_no_detail() -> None:
    refusal = classify_refusal(19, "0000052D: Constraint violation - the password is too short")
    assert (refusal.outcome, refusal.detail) == (Outcome.TOO_SHORT, {})


@pytest.mark.parametrize(
    ("result", "outcome"),
    [
        (19, Outcome.POLICY),  # constraintViolation without a code
        (51, Outcome.DIRECTORY_UNAVAILABLE),  # busy
        (52, Outcome.DIRECTORY_UNAVAILABLE),  # unavailable
        (80, Outcome.UNKNOWN),  # other
    ],
)
def test_texts_without_a_code_fall_back_on_the_result_code(result: int, outcome: Outcome) -> None:
    refusal = classify_refusal(result, "")
    assert (refusal.outcome, refusal.code) == (outcome, None)


@pytest.mark.parametrize(
    ("message", "code"),
    [(AD_POLICY, 0x52D), ("  00000005: x", 5), ("error in module acl", None), ("0000052D", None)],
)
def test_server_code(message: str, code: int | None) -> None:
    assert server_code(message) == code


def test_may_change_after_adds_the_minimum_age() -> None:
    set_at = 134_398_361_859_907_320  # a pwdLastSet read from Samba
    when = may_change_after(set_at, 86_400)
    assert when is not None
    assert when - datetime.timedelta(days=1) == datetime.datetime(
        2026, 11, 22, 15, 49, 45, 990732, tzinfo=datetime.UTC
    )


@pytest.mark.parametrize(("pwd_last_set", "min_age"), [(134_398_361_859_907_320, 0), (0, 86_400)])
def test_may_change_after_unknown(pwd_last_set: int, min_age: int) -> None:
    assert may_change_after(pwd_last_set, min_age) is None


SAMBA_CANNOT_CHANGE = "error in module acl: Constraint violation during LDB_MODIFY (19)"


@pytest.mark.parametrize(
    ("result", "message", "outcome"),
    [
        # "User cannot change password": Change Password denied on the account
        (19, SAMBA_CANNOT_CHANGE, Outcome.CANNOT_CHANGE),
        (50, AD_ACCESS_DENIED, Outcome.CANNOT_CHANGE),
        (50, SAMBA_ACCESS_DENIED, Outcome.CANNOT_CHANGE),
        (50, "", Outcome.CANNOT_CHANGE),
        # the rest as for a reset
        (19, SAMBA_WRONG_OLD, Outcome.WRONG_PASSWORD),
        (19, SAMBA_TOO_YOUNG, Outcome.TOO_YOUNG),
        (19, AD_POLICY, Outcome.POLICY),
        (19, "", Outcome.POLICY),
        (51, AD_BUSY, Outcome.DIRECTORY_UNAVAILABLE),
    ],
)
def test_change_refusals(result: int, message: str, outcome: Outcome) -> None:
    assert classify_refusal(result, message, change=True).outcome is outcome


def test_the_acl_modules_text_on_a_reset_is_not_cannot_change() -> None:
    assert classify_refusal(19, SAMBA_CANNOT_CHANGE).outcome is Outcome.POLICY


def bind_text(data: str) -> str:
    """A refused bind's text as Samba 4.17 writes it (AD's differs only in DSID and v)."""
    return (
        "80090308: LdapErr: DSID-0C0903A9, comment: AcceptSecurityContext error, "
        f"data {data}, v1db1"
    )


@pytest.mark.parametrize(
    ("result", "message", "outcome"),
    [
        (0, "", Outcome.OK),
        (49, bind_text("52e"), Outcome.WRONG_PASSWORD),
        (49, bind_text("525"), Outcome.WRONG_PASSWORD),
        (49, bind_text("773"), Outcome.MUST_CHANGE),
        (49, bind_text("532"), Outcome.PASSWORD_EXPIRED),
        (49, bind_text("533"), Outcome.DISABLED),
        (49, bind_text("701"), Outcome.ACCOUNT_EXPIRED),
        (49, bind_text("775"), Outcome.LOCKED),
        (49, bind_text("530"), Outcome.LOGON_HOURS),
        (49, bind_text("531"), Outcome.WORKSTATION),
        (49, bind_text("1234"), Outcome.UNKNOWN),
        (49, "invalid credentials", Outcome.UNKNOWN),
        (53, bind_text("52e"), Outcome.UNKNOWN),
        (51, "", Outcome.DIRECTORY_UNAVAILABLE),
        (52, bind_text("52e"), Outcome.DIRECTORY_UNAVAILABLE),
    ],
)
def test_classify_bind(result: int, message: str, outcome: Outcome) -> None:
    assert classify_bind(result, message) is outcome
