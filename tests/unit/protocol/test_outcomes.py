"""passback.protocol.outcomes: the words for how an operation ended (W1)."""

from __future__ import annotations

import pytest

from passback.protocol.outcomes import Outcome

POLICY = {
    "too_short",
    "not_complex",
    "in_history",
    "too_young",
    "too_long",
    "policy",
    "common_password",
}
TRANSIENT = {"directory_unavailable", "service_unavailable", "outcome_unknown"}


@pytest.mark.parametrize("outcome", list(Outcome), ids=str)
def test_classification(outcome: Outcome) -> None:
    assert outcome.is_policy_refusal is (outcome.value in POLICY)
    assert outcome.may_retry_same_request is (outcome.value in TRANSIENT)


def test_values_are_their_own_wire_form() -> None:
    for outcome in Outcome:
        assert str(outcome) == outcome.value == outcome.name.lower()
