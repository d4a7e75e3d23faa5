"""The portal flow's state machine (SPEC W8, T2), without a store."""

from __future__ import annotations

import datetime as dt

import pytest

from passback.server.portal import flow
from passback.server.portal.codes import Hasher
from passback.server.portal.flow import Blocked, FlowRefused, Refusal, Step

NOW = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
HASHER = Hasher(b"k" * 32)


def new(blocked: Blocked | None = None) -> flow.NewFlow:
    return flow.new_flow(
        HASHER,
        tenant_id="t",
        user_id=None if blocked else "u",
        blocked=blocked,
        language="en",
        code_ttl=300,
        now=NOW,
    )


def refusal(call: object, *args: object) -> FlowRefused:
    with pytest.raises(FlowRefused) as caught:
        call(*args)  # type: ignore[operator]
    return caught.value


def test_a_new_flow_keeps_only_hashes() -> None:
    made = new()
    assert made.row.step == Step.CODE and made.row.attempts == 0
    assert len(made.code) == 8 and made.code.isdigit()
    assert made.code not in (made.row.code_hash or "") and made.token not in made.row.id_hash
    assert made.row.expires_at == NOW + dt.timedelta(seconds=300)


def test_the_right_code_opens_the_password_step_once() -> None:
    made = new()
    flow.enter_code(made.row, HASHER, made.code[:4] + " " + made.code[4:], NOW)
    assert made.row.step == Step.PASSWORD and made.row.code_hash is None
    assert refusal(flow.enter_code, made.row, HASHER, made.code, NOW).refusal is Refusal.WRONG_STEP
    assert flow.require(made.row, Step.PASSWORD, NOW) is made.row


def test_no_skipping_to_the_password_step() -> None:
    made = new()
    assert refusal(flow.require, made.row, Step.PASSWORD, NOW).refusal is Refusal.WRONG_STEP
    assert refusal(flow.require, None, Step.CODE, NOW).refusal is Refusal.NO_FLOW


def test_the_code_expires() -> None:
    made = new()
    late = NOW + dt.timedelta(seconds=300)
    assert refusal(flow.enter_code, made.row, HASHER, made.code, late).refusal is Refusal.EXPIRED


def test_five_wrong_codes_end_the_flow() -> None:
    made = new()
    wrong = "00000000" if made.code != "00000000" else "11111111"
    for left in (4, 3, 2, 1):
        refused = refusal(flow.enter_code, made.row, HASHER, wrong, NOW)
        assert (refused.refusal, refused.attempts_left) == (Refusal.WRONG_CODE, left)
    assert refusal(flow.enter_code, made.row, HASHER, wrong, NOW).refusal is Refusal.TOO_MANY_CODES
    assert made.row.step == Step.ENDED
    ended = refusal(flow.enter_code, made.row, HASHER, made.code, NOW)
    assert ended.refusal is Refusal.TOO_MANY_CODES


@pytest.mark.parametrize("blocked", list(Blocked))
def test_a_blocked_flow_never_passes_even_with_its_code(blocked: Blocked) -> None:
    made = new(blocked)
    refused = refusal(flow.enter_code, made.row, HASHER, made.code, NOW)
    assert (refused.refusal, refused.attempts_left) == (Refusal.WRONG_CODE, 4)


def test_finish() -> None:
    made = new()
    flow.enter_code(made.row, HASHER, made.code, NOW)
    flow.finish(made.row, NOW)
    assert made.row.step == Step.DONE and made.row.completed_at == NOW
    assert refusal(flow.require, made.row, Step.PASSWORD, NOW).refusal is Refusal.WRONG_STEP
