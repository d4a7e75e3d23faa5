"""passback.protocol.anchors: an anchor's text form (SPEC W6)."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from passback.protocol import anchors
from passback.protocol.anchors import decode as decode_anchor


@given(st.binary(min_size=1, max_size=anchors.MAX_ANCHOR_BYTES))
def test_round_trip(raw: bytes) -> None:
    text = anchors.encode(raw)
    assert "=" not in text
    assert anchors.decode(text) == raw
    assert anchors.decode(text + "=" * (-len(text) % 4)) == raw  # padding optional


@pytest.mark.parametrize("text", ["", "a b", "ab+/", "AAAA!", "A", "AAAAA="])
def test_not_base64url(text: str) -> None:
    with pytest.raises(ValueError, match="not base64url"):
        anchors.decode(text)


def test_length_bounds() -> None:
    with pytest.raises(ValueError, match=r"1\.\.64 bytes"):
        anchors.decode(anchors.encode(b"x" * (anchors.MAX_ANCHOR_BYTES + 1)))


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize("raw", [b"\x00", b"\xff" * 16, bytes(range(64))])
def test_decode_anchor(raw: bytes) -> None:
    assert decode_anchor(b64(raw)) == raw
    assert decode_anchor(base64.urlsafe_b64encode(raw).decode()) == raw  # padded too


@pytest.mark.parametrize("bad", ["", "!!!!", b64(bytes(65)), "a"])
def test_decode_anchor_refuses(bad: str) -> None:
    with pytest.raises(ValueError, match="anchor"):
        decode_anchor(bad)
