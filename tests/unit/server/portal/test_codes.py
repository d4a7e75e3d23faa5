"""Codes, flow tokens and CSRF tokens: random, hashed, checked in constant time."""

from __future__ import annotations

import pytest

from passback.server.portal.codes import Hasher, flow_hash, new_code, new_flow_token

HASHER = Hasher(b"s" * 32)


def test_codes_are_8_digits_and_vary() -> None:
    codes = {new_code() for _ in range(200)}
    assert all(len(c) == 8 and c.isdigit() for c in codes)
    assert len(codes) > 190


def test_flow_tokens_have_256_bits() -> None:
    token = new_flow_token()
    assert len(token) >= 43 and token != new_flow_token()
    assert len(flow_hash(token)) == 64 and flow_hash(token) == flow_hash(token)


def test_a_code_is_bound_to_its_flow_and_key() -> None:
    stored = HASHER.code_hash("flow-a", "12345678")
    assert HASHER.code_matches(stored, "flow-a", "12345678")
    assert HASHER.code_matches(stored, "flow-a", " 1234 5678 ")
    assert not HASHER.code_matches(stored, "flow-b", "12345678")
    assert not HASHER.code_matches(stored, "flow-a", "12345679")
    assert not HASHER.code_matches(None, "flow-a", "12345678")
    assert not Hasher(b"t" * 32).code_matches(stored, "flow-a", "12345678")


def test_csrf_tokens() -> None:
    token = HASHER.csrf_token("flow-a")
    assert HASHER.csrf_matches("flow-a", token)
    assert not HASHER.csrf_matches("flow-b", token)
    assert not HASHER.csrf_matches("flow-a", "")


def test_short_keys_are_refused() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        Hasher(b"short")


def test_device_tokens_name_their_user_and_cannot_be_forged() -> None:
    hasher = Hasher(b"k" * 32)
    token = hasher.device_token("user-1")
    assert hasher.device_of(token) == ("user-1", token.split(".")[1])
    assert hasher.device_token("user-1") != token  # a new nonce each time
    user, nonce, mac = token.split(".")
    for forged in (f"user-2.{nonce}.{mac}", f"{user}.x.{mac}", "a.b", "", None, "x" * 5000):
        assert hasher.device_of(forged) is None
    assert Hasher(b"o" * 32).device_of(token) is None


def test_signed_values() -> None:
    hasher = Hasher(b"k" * 32)
    signed = hasher.sign("flash", "hello.world")
    assert hasher.unsign("flash", signed) == "hello.world"
    assert hasher.unsign("other", signed) is None
    assert hasher.unsign("flash", "hello.world.00") is None
    assert hasher.unsign("flash", None) is None
