"""Errors of the crypto component.

Exception tree::

    CryptoError
    ├── KeyFormatError       a key or key file is not what it must be
    ├── UnwrapError          a secret wrapped under the master key does not open
    └── EnvelopeError        an envelope was refused; .reason names why
        ├── Malformed        not an envelope of a version we read
        ├── UnknownKey       sealed under a package key we do not hold (32004)
        ├── IntegrityError   tampered, or the metadata altered (32004)
        ├── WrongRecipient   not sealed for this agent, or its RSA part fails (32004)
        ├── Expired          past its expiry (S5)
        ├── NotYetValid      issued further in the future than clocks differ (S5)
        └── LifetimeTooLong  valid for longer than any server seals for (S5)

No message ever carries key bytes or a password.
"""

from __future__ import annotations


class CryptoError(Exception):
    pass


class KeyFormatError(CryptoError):
    pass


class UnwrapError(CryptoError):
    """``key_id``: the master key the value was wrapped under, when that is why."""

    def __init__(self, message: str, *, key_id: str | None = None) -> None:
        super().__init__(message)
        self.key_id = key_id


class EnvelopeError(CryptoError):
    reason = "refused"


class Malformed(EnvelopeError):
    reason = "malformed"


class UnknownKey(EnvelopeError):
    reason = "key-mismatch"


class IntegrityError(EnvelopeError):
    reason = "integrity"


class WrongRecipient(EnvelopeError):
    reason = "wrong-recipient"


class Expired(EnvelopeError):
    reason = "expired"


class NotYetValid(EnvelopeError):
    reason = "not-yet-valid"


class LifetimeTooLong(EnvelopeError):
    reason = "lifetime-too-long"
