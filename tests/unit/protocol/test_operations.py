"""passback.protocol.operations: operations (W3) and their envelope codes."""

from __future__ import annotations

import pytest

from passback.protocol.operations import Operation


@pytest.mark.parametrize("op", list(Operation), ids=str)
def test_code_round_trip(op: Operation) -> None:
    assert 0 < op.code < 256
    assert Operation.from_code(op.code) is op


def test_codes_are_pinned() -> None:
    """The code is a byte in every sealed envelope: changing one breaks agents in the field."""
    assert {op: op.code for op in Operation} == {
        Operation.RESET: 1,
        Operation.ADMIN_RESET: 2,
        Operation.CHANGE: 3,
        Operation.VERIFY: 4,
        Operation.UNLOCK: 5,
        Operation.REQUIRE_CHANGE: 6,
        Operation.STATUS: 7,
    }


def test_secrets_per_operation() -> None:
    """A change carries the new and the current password; an unlock, a
    require-change and a status read none; the others one."""
    assert {op: op.secrets for op in Operation} == {
        Operation.RESET: 1,
        Operation.ADMIN_RESET: 1,
        Operation.CHANGE: 2,
        Operation.VERIFY: 1,
        Operation.UNLOCK: 0,
        Operation.REQUIRE_CHANGE: 0,
        Operation.STATUS: 0,
    }


@pytest.mark.parametrize("code", [0, 8, 255])
def test_unknown_code(code: int) -> None:
    with pytest.raises(ValueError, match=f"unknown operation code {code}"):
        Operation.from_code(code)
