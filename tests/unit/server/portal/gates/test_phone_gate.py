"""A phone gate runs only with a provider of its channel (the same for every
username, T2), and its code page shows the last two digits alone (G4)."""

from __future__ import annotations

import dataclasses
import json

from passback.policy.gates import Method
from passback.server.notify.phone import Channel
from passback.server.portal.gates.phone_gate import PhoneGate
from passback.server.store.models import PortalFlow


@dataclasses.dataclass
class Provider:
    channels: frozenset[Channel]


@dataclasses.dataclass
class Desk:
    phone: Provider | None


def test_a_phone_gate_needs_a_provider_with_its_channel() -> None:
    text, call = PhoneGate(Method.MOBILE_SMS), PhoneGate(Method.OFFICE_VOICE)
    sms = Desk(Provider(frozenset({Channel.SMS})))
    assert text.serviceable(sms) and not call.serviceable(sms)  # type: ignore[arg-type]
    assert not text.serviceable(Desk(None))  # type: ignore[arg-type]


def test_the_code_page_names_the_last_two_digits_only() -> None:
    gate = PhoneGate(Method.MOBILE_VOICE)
    sent = PortalFlow(challenge=json.dumps({"ending": "78"}))
    assert gate.target(sent) == "78"
    for challenge in (None, "not json", "[]", json.dumps({"ending": 78})):
        assert gate.target(PortalFlow(challenge=challenge)) is None
