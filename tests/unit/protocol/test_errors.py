"""passback.protocol.errors: close codes and what each tells the agent (S9)."""

from __future__ import annotations

import pytest

from passback.protocol.errors import (
    AuthenticationFailed,
    BadFrame,
    CloseCode,
    FrameTooLarge,
    ProtocolError,
    UnexpectedMessage,
    UnsupportedVersion,
)

FINAL = {CloseCode.UNSUPPORTED_VERSION, CloseCode.AUTH_FAILED, CloseCode.REVOKED}


@pytest.mark.parametrize("code", list(CloseCode), ids=lambda c: c.name)
def test_retry(code: CloseCode) -> None:
    """Dialling again cannot help after a wrong version, a refused or a revoked secret."""
    assert code.retry is (code not in FINAL)


@pytest.mark.parametrize(
    ("error", "code", "reason"),
    [
        (ProtocolError, CloseCode.BAD_FRAME, "bad frame"),
        (BadFrame, CloseCode.BAD_FRAME, "bad frame"),
        (FrameTooLarge, CloseCode.TOO_LARGE, "frame too large"),
        (UnsupportedVersion, CloseCode.UNSUPPORTED_VERSION, "unsupported protocol version"),
        (UnexpectedMessage, CloseCode.UNEXPECTED_MESSAGE, "unexpected message"),
        (AuthenticationFailed, CloseCode.AUTH_FAILED, "authentication failed"),
    ],
)
def test_each_error_maps_to_its_code_and_fixed_reason(
    error: type[ProtocolError], code: CloseCode, reason: str
) -> None:
    instance = error("internal detail: 10.0.0.5 said no")
    assert instance.close_code is code
    assert instance.public_reason == reason
    assert "10.0.0.5" not in instance.public_reason


def test_tree() -> None:
    assert issubclass(FrameTooLarge, BadFrame)
    for error in (BadFrame, UnsupportedVersion, UnexpectedMessage, AuthenticationFailed):
        assert issubclass(error, ProtocolError)


def test_public_reasons_fit_a_close_frame() -> None:
    """RFC 6455 §5.5: a close reason is at most 123 bytes."""
    for error in (ProtocolError, FrameTooLarge, UnsupportedVersion, AuthenticationFailed):
        assert len(error.public_reason.encode()) <= 123
