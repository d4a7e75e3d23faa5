from __future__ import annotations

import pytest

from passback.policy.password import (
    MAX_PASSWORD_UTF16_UNITS,
    PasswordProblem,
    check_password,
    utf16_units,
)
from passback.protocol.outcomes import Outcome


@pytest.mark.parametrize(
    ("password", "problem"),
    [
        ("", PasswordProblem.EMPTY),
        ("abc\0def", PasswordProblem.INVALID),
        ("abc\ud800", PasswordProblem.INVALID),
        ("\udfff", PasswordProblem.INVALID),
        ("x" * MAX_PASSWORD_UTF16_UNITS, None),
        ("x" * (MAX_PASSWORD_UTF16_UNITS + 1), PasswordProblem.TOO_LONG),
        # An astral character counts twice, as AD counts it.
        ("😀" * 128, None),
        ("😀" * 128 + "x", PasswordProblem.TOO_LONG),
        ("Correct-Horse-42", None),
    ],
)
def test_check_password(password: str, problem: PasswordProblem | None) -> None:
    assert check_password(password) is problem


def test_too_long_is_the_outcome_word() -> None:
    assert Outcome(PasswordProblem.TOO_LONG.value) is Outcome.TOO_LONG


def test_utf16_units() -> None:
    assert utf16_units("aé😀") == 4
