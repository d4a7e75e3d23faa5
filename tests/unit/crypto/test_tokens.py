"""passback.crypto.tokens: bearer secrets stored only as hashes (S1)."""

from __future__ import annotations

import hashlib

import pytest

from passback.crypto.tokens import (
    ADMIN_PREFIX,
    ONBOARDING_PREFIX,
    RELAY_PREFIX,
    new_token,
    token_hash,
    token_matches,
)


@pytest.mark.parametrize("prefix", [ADMIN_PREFIX, ONBOARDING_PREFIX, RELAY_PREFIX])
def test_prefix_and_length(prefix: str) -> None:
    token = new_token(prefix)
    assert token.startswith(prefix)
    body = token[len(prefix) :]
    assert len(body) == 43  # 32 bytes, base64url without padding
    assert set(body) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def test_prefixes_are_distinct() -> None:
    assert len({ADMIN_PREFIX, ONBOARDING_PREFIX, RELAY_PREFIX}) == 3


def test_uniqueness() -> None:
    tokens = {new_token(RELAY_PREFIX) for _ in range(1000)}
    assert len(tokens) == 1000


def test_hash() -> None:
    token = new_token(RELAY_PREFIX)
    digest = token_hash(token)
    assert digest == hashlib.sha256(token.encode()).hexdigest()
    assert len(digest) == 64
    assert token not in digest


def test_compare() -> None:
    token = new_token(ADMIN_PREFIX)
    stored = token_hash(token)
    assert token_matches(token, stored)
    assert not token_matches(token + "x", stored)
    assert not token_matches(new_token(ADMIN_PREFIX), stored)
    assert not token_matches(token, "")


def test_odd_input_does_not_raise() -> None:
    """A client may send anything: a lone surrogate is hashed, not an error."""
    assert not token_matches("pbr_\ud800", token_hash("pbr_x"))
    assert token_matches("pbr_\ud800", token_hash("pbr_\ud800"))
