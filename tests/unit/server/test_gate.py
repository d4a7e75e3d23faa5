"""The count of relay handshakes in flight, per client address and overall."""

from __future__ import annotations

import pytest

from passback.server.gate import HandshakeGate


def test_one_address_is_held_to_its_share() -> None:
    gate = HandshakeGate(total=10, per_address=2)
    assert gate.enter("192.0.2.1")
    assert gate.enter("192.0.2.1")
    assert not gate.enter("192.0.2.1")
    assert gate.enter("192.0.2.2")  # another address is not held back
    assert gate.in_flight == 3


def test_all_addresses_together_are_held_to_the_total() -> None:
    gate = HandshakeGate(total=3, per_address=2)
    assert [gate.enter(a) for a in ("a", "b", "c", "d")] == [True, True, True, False]
    gate.leave("b")
    assert gate.enter("d")


def test_a_refusal_counts_nothing() -> None:
    gate = HandshakeGate(total=1, per_address=1)
    assert gate.enter("a")
    for _ in range(5):
        assert not gate.enter("a")
        assert not gate.enter("b")
    gate.leave("a")
    assert gate.in_flight == 0
    assert gate.enter("b")


def test_an_address_that_left_is_forgotten() -> None:
    gate = HandshakeGate(total=100, per_address=100)
    for n in range(50):
        address = f"198.51.100.{n}"
        assert gate.enter(address)
        gate.leave(address)
    assert gate.in_flight == 0
    assert gate._by_address == {}  # a flood of addresses leaves no memory behind


def test_limits_must_admit_one() -> None:
    with pytest.raises(ValueError):
        HandshakeGate(total=0)
    with pytest.raises(ValueError):
        HandshakeGate(per_address=0)
