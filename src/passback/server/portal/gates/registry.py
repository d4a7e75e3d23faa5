"""Every method's gate (SPEC G1): the one place a new method's gate is
registered. The flow's use-cases and pages find a flow's gate here, by the
method it is at."""

from __future__ import annotations

from collections.abc import Mapping

from passback.policy.gates import Method
from passback.server.portal.gates.base import Gate
from passback.server.portal.gates.email_gate import EmailGate
from passback.server.portal.gates.passkey_gate import PasskeyGate
from passback.server.portal.gates.phone_gate import PhoneGate
from passback.server.portal.gates.questions_gate import QuestionsGate
from passback.server.portal.gates.totp_gate import TotpGate

GATES: Mapping[Method, Gate] = {
    Method.EMAIL: EmailGate(),
    Method.MOBILE_SMS: PhoneGate(Method.MOBILE_SMS),
    Method.MOBILE_VOICE: PhoneGate(Method.MOBILE_VOICE),
    Method.OFFICE_VOICE: PhoneGate(Method.OFFICE_VOICE),
    Method.QUESTIONS: QuestionsGate(),
    Method.TOTP: TotpGate(),
    Method.PASSKEY: PasskeyGate(),
}


def gate_of(method: Method | str | None) -> Gate:
    """The gate of ``method``: a ``Method``, or a flow's ``gate`` column (None:
    the email gate, where a flow of a tenant that offers no choice starts)."""
    return GATES[Method(method or Method.EMAIL)]
