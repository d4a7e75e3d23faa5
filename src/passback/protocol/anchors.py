"""How an anchor (the immutable ID that finds a user again, SPEC W6) is written
in messages, events and the server's store: base64url without padding."""

from __future__ import annotations

import base64
import binascii
import re

#: objectGUID and ms-DS-ConsistencyGuid are 16 bytes; leave room for other
#: directories' immutable IDs.
MAX_ANCHOR_BYTES = 64

_BASE64URL = re.compile(r"[A-Za-z0-9_-]+={0,2}")


def encode(anchor: bytes) -> str:
    return base64.urlsafe_b64encode(anchor).rstrip(b"=").decode("ascii")


def decode(text: str) -> bytes:
    """The anchor's bytes from its base64url form (padding optional).

    Raises:
        ValueError: not base64url, or not 1..64 bytes long.
    """
    if not _BASE64URL.fullmatch(text):
        raise ValueError("anchor is not base64url")
    try:
        # Without the pattern above, b64decode would silently drop stray characters.
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ValueError("anchor is not base64url") from exc
    if not 1 <= len(raw) <= MAX_ANCHOR_BYTES:
        raise ValueError(f"anchor must be 1..{MAX_ANCHOR_BYTES} bytes")
    return raw
