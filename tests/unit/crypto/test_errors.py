"""passback.crypto.errors: the exception tree and each refusal's event reason (E3)."""

from __future__ import annotations

import pytest

from passback.crypto.errors import (
    CryptoError,
    EnvelopeError,
    Expired,
    IntegrityError,
    KeyFormatError,
    Malformed,
    UnknownKey,
    WrongRecipient,
)


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (EnvelopeError, "refused"),
        (Malformed, "malformed"),
        (UnknownKey, "key-mismatch"),
        (IntegrityError, "integrity"),
        (WrongRecipient, "wrong-recipient"),
        (Expired, "expired"),
    ],
)
def test_reasons(error: type[EnvelopeError], reason: str) -> None:
    assert error.reason == reason
    assert issubclass(error, EnvelopeError)
    assert issubclass(error, CryptoError)


def test_key_format_error_is_not_an_envelope_error() -> None:
    assert issubclass(KeyFormatError, CryptoError)
    assert not issubclass(KeyFormatError, EnvelopeError)
