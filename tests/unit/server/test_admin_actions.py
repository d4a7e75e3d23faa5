"""passback.server.admin_actions: the pure parts of reading an account's state
(the agent's status answer, and the words for each way it cannot be read)."""

from __future__ import annotations

import datetime as dt

import pytest

from passback.protocol.outcomes import Outcome
from passback.server.admin_actions import (
    UNREADABLE,
    AccountState,
    unreadable_message,
)
from passback.server.errors import AccountUnreadable

SET_AT = 1_700_000_000
STATE: dict[str, int | str] = {
    "enabled": 1,
    "locked": 0,
    "must_change": 0,
    "password_set_at": SET_AT,
    "password_expires_at": SET_AT + 42 * 86400,
}


def test_state_from_a_status_answer() -> None:
    state = AccountState.from_detail(STATE)
    assert state == AccountState(
        enabled=True,
        locked=False,
        must_change=False,
        password_set_at=dt.datetime(2023, 11, 14, 22, 13, 20, tzinfo=dt.UTC),
        password_expires_at=dt.datetime(2023, 12, 26, 22, 13, 20, tzinfo=dt.UTC),
        protection=None,
    )


def test_must_change_never_expires_and_protected() -> None:
    """0 is "must change" for the time set and "never" for the expiry: neither is a date."""
    state = AccountState.from_detail(
        {
            **STATE,
            "locked": 1,
            "must_change": 1,
            "password_set_at": 0,
            "password_expires_at": 0,
            "protection": "protected-group",
        }
    )
    assert (state.locked, state.must_change) == (True, True)
    assert state.password_set_at is state.password_expires_at is None
    assert state.protection == "protected-group"


def test_a_time_set_the_agent_does_not_know_is_none() -> None:
    detail = {k: v for k, v in STATE.items() if k != "password_set_at"}
    assert AccountState.from_detail(detail).password_set_at is None


@pytest.mark.parametrize(
    "detail",
    [
        {},  # an agent's answer to something else
        {**STATE, "enabled": 2},
        {**STATE, "locked": "yes"},
        {**STATE, "password_set_at": "yesterday"},
        {**STATE, "password_expires_at": 10**20},  # beyond any calendar
        {k: v for k, v in STATE.items() if k != "must_change"},
    ],
)
def test_an_answer_that_is_not_a_state(detail: dict[str, int | str]) -> None:
    with pytest.raises(AccountUnreadable) as raised:
        AccountState.from_detail(detail)
    assert raised.value.code == "unknown"


def test_the_words_for_each_way_it_cannot_be_read() -> None:
    assert "upgrade them" in unreadable_message("agent_too_old")
    assert "did not answer in time" in unreadable_message("no_answer")
    assert (
        unreadable_message(Outcome.DIRECTORY_UNAVAILABLE.value)
        == UNREADABLE["directory_unavailable"]
    )
    assert unreadable_message("decrypt_failed") == (
        "The agent could not read the account (decrypt_failed)."
    )
