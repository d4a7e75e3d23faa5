"""Every method has its gate (SPEC G1), and what the gates declare fits the
flow: the pages, the answers they take and the blocks they count toward (T1)."""

from __future__ import annotations

import pytest

from passback.policy.gates import Method
from passback.server.portal import blocks
from passback.server.portal.gates.base import Code
from passback.server.portal.gates.phone_gate import PhoneGate
from passback.server.portal.gates.registry import GATES, gate_of


@pytest.mark.parametrize("method", list(Method))
def test_every_method_has_its_own_gate(method: Method) -> None:
    assert gate_of(method) is GATES[method]
    assert gate_of(method.value).method is method


def test_a_flow_without_a_gate_is_at_the_email_gate() -> None:
    assert gate_of(None).method is Method.EMAIL


def test_a_gate_that_takes_no_code_has_its_own_page_and_stays_out_of_the_api() -> None:
    for gate in GATES.values():
        takes_code = issubclass(gate.takes, Code)
        assert (gate.page == "code") is takes_code, gate.method
        assert (gate.api_refusal is None) is takes_code, gate.method
        assert takes_code is bool(gate.chosen), gate.method


def test_blocks_are_declared_where_wrong_tries_count_toward_one() -> None:
    scopes = {m: g.scope for m, g in GATES.items() if g.scope is not None}
    assert scopes == {
        Method.MOBILE_SMS: blocks.Scope.PHONE,
        Method.MOBILE_VOICE: blocks.Scope.PHONE,
        Method.OFFICE_VOICE: blocks.Scope.PHONE,
        Method.QUESTIONS: blocks.Scope.QUESTIONS,
    }


def test_security_questions_never_come_first_of_two() -> None:
    assert [m for m, g in GATES.items() if not g.first] == [Method.QUESTIONS]


def test_a_phone_gate_is_made_for_a_phone_method_only() -> None:
    with pytest.raises(ValueError, match="not a phone method"):
        PhoneGate(Method.EMAIL)
