"""What a gate answers by default, and how a refused answer reads on its
page (the flow's refusal, or the kind of answer's own words)."""

from __future__ import annotations

import datetime as dt

import pytest

from passback.server.portal.errors import FlowRefused, PortalError, Refusal
from passback.server.portal.gates.base import At, Code, Gate, subject
from passback.server.portal.gates.passkey import RelyingParty
from passback.server.portal.gates.passkey_gate import PASSKEY_REFUSED, Assertion
from passback.server.portal.gates.questions_gate import WRONG_ANSWERS, Answers
from passback.server.portal.gates.registry import gate_of
from passback.server.store.models import PortalFlow

NOW = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
RP = RelyingParty("sspr.acme.test", "https://sspr.acme.test", "Acme")


def row(**values: object) -> PortalFlow:
    return PortalFlow(id_hash="f", user_id="u", **values)


def test_a_wrong_code_reads_as_the_flows_refusal_and_support_learns_why() -> None:
    error = Code("12345678").refused(FlowRefused(Refusal.WRONG_CODE, 4), row(blocked="no_mail"))
    assert error.field == "code" and error.user_id == "u"
    assert error.note == "the flow's code step cannot pass: no_mail"
    assert Code("1").refused(FlowRefused(Refusal.WRONG_CODE, 4), row()).note is None


@pytest.mark.parametrize(
    ("answer", "wrong", "field"),
    [(Answers(["a"]), WRONG_ANSWERS, "answers"), (Assertion("{}", RP), PASSKEY_REFUSED, "passkey")],
)
def test_a_wrong_answer_reads_in_its_kinds_own_words(
    answer: object, wrong: str, field: str
) -> None:
    assert isinstance(answer, Answers | Assertion)
    error = answer.refused(FlowRefused(Refusal.WRONG_CODE, 4), row(blocked="no_mail"))
    assert (error.message, error.field, error.note) == (wrong, field, None)
    other = answer.refused(FlowRefused(Refusal.WRONG_STEP), None)
    assert other.message != wrong and other.field is None


def test_a_gate_that_sends_nothing_cannot_send_again_nor_take_a_number() -> None:
    gate: Gate = gate_of("totp")
    at = At(None, None, None, row(), NOW)  # type: ignore[arg-type]
    with pytest.raises(FlowRefused) as refused:
        gate.again(at, "en")
    assert refused.value.refusal is Refusal.WRONG_STEP
    error = gate.enter_number(at, "+5511912345678", "en")
    assert isinstance(error, PortalError) and error.code == Refusal.WRONG_STEP.value


def test_attempts_count_for_the_user_or_the_name_typed() -> None:
    assert subject(row(who_hash="w")) == "u"
    assert subject(PortalFlow(id_hash="f", who_hash="w")) == "w"
    assert subject(PortalFlow(id_hash="f")) == "f"
