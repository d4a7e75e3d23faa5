"""passback.crypto.masterkey: wrapping the store's secrets (issue "Hardening" 1)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from passback.crypto.errors import KeyFormatError, UnwrapError
from passback.crypto.masterkey import MASTER_KEY_BYTES, MasterKey, is_wrapped, wrapped_key_id

KEY = MasterKey.generate()


@given(secret=st.binary(max_size=64), context=st.text(max_size=40))
def test_round_trip(secret: bytes, context: str) -> None:
    wrapped = KEY.wrap(secret, context)
    assert is_wrapped(wrapped)
    assert wrapped_key_id(wrapped) == KEY.key_id
    assert KEY.unwrap(wrapped, context) == secret


def test_each_wrap_is_new_and_hides_the_secret() -> None:
    secret = b"\x01" * 32
    first, second = KEY.wrap(secret, "c"), KEY.wrap(secret, "c")
    assert first != second
    assert "AQEB" not in first  # base64 of the secret's bytes


def test_another_context_does_not_open() -> None:
    wrapped = KEY.wrap(b"k" * 32, "package-key/tenant-a/1")
    with pytest.raises(UnwrapError, match="altered"):
        KEY.unwrap(wrapped, "package-key/tenant-b/1")


def test_another_key_is_named() -> None:
    other = MasterKey.generate()
    with pytest.raises(UnwrapError) as caught:
        other.unwrap(KEY.wrap(b"s", "c"), "c")
    assert caught.value.key_id == KEY.key_id
    assert KEY.key_id in str(caught.value) and other.key_id in str(caught.value)


@pytest.mark.parametrize(
    "value", ["", "AAAA", "mk1.short.x", "mk2.0123456789abcdef.AAAA", "bWFzdGVy"]
)
def test_not_wrapped(value: str) -> None:
    assert not is_wrapped(value)
    with pytest.raises(UnwrapError, match="not a wrapped value"):
        KEY.unwrap(value, "c")


def test_altered_ciphertext() -> None:
    wrapped = KEY.wrap(b"s" * 32, "c")
    head, body = wrapped.rsplit(".", 1)
    flipped = body[:-2] + ("A" if body[-2] != "A" else "B") + body[-1]
    for bad in (f"{head}.{flipped}", f"{head}.!!!", f"{head}."):
        with pytest.raises(UnwrapError):
            KEY.unwrap(bad, "c")


def test_text_form() -> None:
    assert MasterKey.from_text(KEY.export() + "\n").key_id == KEY.key_id
    assert KEY.export() not in repr(KEY)
    with pytest.raises(KeyFormatError, match="base64"):
        MasterKey.from_text("not base64!")
    with pytest.raises(KeyFormatError, match=f"{MASTER_KEY_BYTES} bytes"):
        MasterKey.from_text("AAAA")
