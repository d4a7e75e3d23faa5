"""Errors of the relay protocol, and the WebSocket close code each one maps to.

Exception tree::

    ProtocolError                .close_code
    ├── BadFrame                 not a message of this protocol (4002)
    │   └── FrameTooLarge        over the size bound for its kind (1009)
    ├── UnsupportedVersion       the peer speaks another protocol version (4001)
    ├── UnexpectedMessage        a valid message at the wrong time (4005)
    └── AuthenticationFailed     wrong or revoked relay secret (4004)

The reason sent to the peer is one of a few fixed phrases: internal details
never go back over the link.
"""

from __future__ import annotations

import enum


class CloseCode(enum.IntEnum):
    """WebSocket close codes used by the relay (RFC 6455 §7.4; 4000–4999 are ours)."""

    NORMAL = 1000
    GOING_AWAY = 1001
    TOO_LARGE = 1009
    INTERNAL_ERROR = 1011
    UNSUPPORTED_VERSION = 4001
    BAD_FRAME = 4002
    AUTH_FAILED = 4004
    UNEXPECTED_MESSAGE = 4005
    REVOKED = 4006
    HANDSHAKE_TIMEOUT = 4008

    @property
    def retry(self) -> bool:
        """Whether the agent should dial again after the hub closed with this code."""
        return self not in _FINAL


_FINAL = frozenset({CloseCode.UNSUPPORTED_VERSION, CloseCode.AUTH_FAILED, CloseCode.REVOKED})


class ProtocolError(Exception):
    close_code: CloseCode = CloseCode.BAD_FRAME
    #: What the peer is told; never the exception text.
    public_reason: str = "bad frame"


class BadFrame(ProtocolError):
    pass


class FrameTooLarge(BadFrame):
    close_code = CloseCode.TOO_LARGE
    public_reason = "frame too large"


class UnsupportedVersion(ProtocolError):
    close_code = CloseCode.UNSUPPORTED_VERSION
    public_reason = "unsupported protocol version"


class UnexpectedMessage(ProtocolError):
    close_code = CloseCode.UNEXPECTED_MESSAGE
    public_reason = "unexpected message"


class AuthenticationFailed(ProtocolError):
    close_code = CloseCode.AUTH_FAILED
    public_reason = "authentication failed"
