from __future__ import annotations

import pytest

from passback.protocol.operations import Operation
from passback.protocol.outcomes import Outcome
from passback.server.outcomes import OUTCOMES, describe, describe_success

EXPECTED_STATUS = {
    Outcome.OK: 200,
    Outcome.TOO_SHORT: 422,
    Outcome.NOT_COMPLEX: 422,
    Outcome.IN_HISTORY: 422,
    Outcome.TOO_YOUNG: 422,
    Outcome.TOO_LONG: 422,
    Outcome.POLICY: 422,
    Outcome.COMMON_PASSWORD: 422,
    Outcome.WRONG_PASSWORD: 422,
    Outcome.CANNOT_CHANGE: 409,
    Outcome.MUST_CHANGE: 409,
    Outcome.PASSWORD_EXPIRED: 409,
    Outcome.ACCOUNT_EXPIRED: 409,
    Outcome.LOGON_HOURS: 409,
    Outcome.WORKSTATION: 409,
    Outcome.USER_NOT_FOUND: 404,
    Outcome.NEAR_LOCKOUT: 409,
    Outcome.DISABLED: 409,
    Outcome.LOCKED: 409,
    Outcome.PROTECTED: 409,
    Outcome.MULTIPLE_MATCHES: 409,
    Outcome.DUPLICATE_ANCHOR: 409,
    Outcome.ACCESS_DENIED: 502,
    Outcome.INVALID_REQUEST: 502,
    Outcome.DECRYPT_FAILED: 502,
    Outcome.EXPIRED: 502,
    Outcome.REPLAYED: 409,
    Outcome.UNKNOWN: 502,
    Outcome.DIRECTORY_UNAVAILABLE: 502,
    Outcome.SERVICE_UNAVAILABLE: 503,
    Outcome.OUTCOME_UNKNOWN: 504,
}


def test_every_outcome_has_an_entry() -> None:
    assert set(OUTCOMES) == set(Outcome)
    assert set(EXPECTED_STATUS) == set(Outcome)


@pytest.mark.parametrize("outcome", list(Outcome))
def test_status_and_message(outcome: Outcome) -> None:
    status, message = describe(outcome)
    assert status == EXPECTED_STATUS[outcome]
    assert message.endswith(".")
    assert "{" not in message


def test_policy_refusals_are_422() -> None:
    for outcome in Outcome:
        if outcome.is_policy_refusal:
            assert describe(outcome)[0] == 422


def test_detail_fills_the_message() -> None:
    assert describe(Outcome.TOO_SHORT, {"min_length": 12}) == (
        422,
        "The password must be at least 12 characters long.",
    )
    assert "last 24 passwords" in describe(Outcome.IN_HISTORY, {"history_length": 24})[1]


def test_missing_detail_falls_back() -> None:
    general = describe(Outcome.TOO_SHORT)
    assert describe(Outcome.TOO_SHORT, {"other": 1}) == general
    assert "{" not in general[1]


def test_success_of_each_operation() -> None:
    assert describe_success(Operation.ADMIN_RESET) == describe(Outcome.OK)[1]
    assert "unlocked" in describe_success(Operation.UNLOCK)
    assert "change the password" in describe_success(Operation.REQUIRE_CHANGE)
    assert describe_success(Operation.UNLOCK, str.upper).isupper()
