"""The password operations the agent performs (SPEC W3), with their wire codes
and the agent events that record them (docs/reference/events.md)."""

from __future__ import annotations

import enum


class Operation(enum.StrEnum):
    RESET = "reset"  # self-service reset (31001–31003)
    ADMIN_RESET = "admin_reset"  # an administrator, from the console or the API (31009–31011)
    CHANGE = "change"  # the user, with the current password (31006–31008)
    VERIFY = "verify"  # check a password by a bind as the user; nothing written (31019–31021)
    UNLOCK = "unlock"  # an administrator: lockoutTime = 0, password untouched (31022–31024)
    REQUIRE_CHANGE = "require_change"  # an administrator: pwdLastSet = 0 (31025–31027)
    STATUS = "status"  # read the account's state; nothing written (31028–31030)

    @property
    def code(self) -> int:
        """One byte in the envelope header."""
        return _CODES[self]

    @property
    def secrets(self) -> int:
        """How many secrets its envelope carries: the new password first, then
        the current one for a change; none for an unlock, a require-change or a
        status read."""
        return _SECRETS[self]

    @classmethod
    def from_code(cls, code: int) -> Operation:
        for op, value in _CODES.items():
            if value == code:
                return op
        raise ValueError(f"unknown operation code {code}")


_CODES = {
    Operation.RESET: 1,
    Operation.ADMIN_RESET: 2,
    Operation.CHANGE: 3,
    Operation.VERIFY: 4,
    Operation.UNLOCK: 5,
    Operation.REQUIRE_CHANGE: 6,
    Operation.STATUS: 7,
}
_SECRETS = {
    Operation.RESET: 1,
    Operation.ADMIN_RESET: 1,
    Operation.CHANGE: 2,
    Operation.VERIFY: 1,
    Operation.UNLOCK: 0,
    Operation.REQUIRE_CHANGE: 0,
    Operation.STATUS: 0,
}
