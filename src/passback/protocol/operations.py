"""The password operations the agent performs (SPEC W3), with their wire codes
and the agent events that record them (docs/reference/events.md)."""

from __future__ import annotations

import enum


class Operation(enum.StrEnum):
    RESET = "reset"  # self-service reset (31001–31003)
    ADMIN_RESET = "admin_reset"  # an administrator, from the console or the API (31009–31011)

    @property
    def code(self) -> int:
        """One byte in the envelope header."""
        return _CODES[self]

    @classmethod
    def from_code(cls, code: int) -> Operation:
        for op, value in _CODES.items():
            if value == code:
                return op
        raise ValueError(f"unknown operation code {code}")


_CODES = {Operation.RESET: 1, Operation.ADMIN_RESET: 2}
