"""The server's master key: wraps the secrets the store keeps (tenant package
keys, the portal key) so that a copy of the database alone opens nothing.

A wrapped secret is ``mk1.<key id>.<base64url(nonce ‖ AES-256-GCM ciphertext)>``.
The associated data names what the secret is (e.g. ``package-key/<tenant>/<key
id>``), so a wrapped value moved to another row or tenant does not open. The key
id tells "wrapped under another master key" apart from "altered".

The key itself is 32 random bytes, kept outside the database: in a file (mode
0600) or in the environment, as base64.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from passback.crypto.errors import KeyFormatError, UnwrapError

MASTER_KEY_BYTES = 32  # AES-256
NONCE_BYTES = 12  # GCM's standard nonce; random, a key wraps few values
PREFIX = "mk1"


class MasterKey:
    """One master key; ``key_id`` is a hash prefix that reveals nothing of it."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) != MASTER_KEY_BYTES:
            raise KeyFormatError(f"a master key is {MASTER_KEY_BYTES} bytes")
        self._secret = secret
        self._aead = AESGCM(secret)
        self.key_id = hashlib.sha256(b"passback master key id\0" + secret).hexdigest()[:16]

    def __repr__(self) -> str:
        return f"MasterKey(key_id={self.key_id!r})"

    @classmethod
    def generate(cls) -> MasterKey:
        return cls(secrets.token_bytes(MASTER_KEY_BYTES))

    @classmethod
    def from_text(cls, text: str) -> MasterKey:
        """From its base64 form (a key file's content or an environment variable)."""
        try:
            secret = base64.b64decode(text.strip(), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise KeyFormatError("a master key is base64 text") from exc
        return cls(secret)

    def wrap(self, secret: bytes, context: str) -> str:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, secret, _aad(self.key_id, context))
        return f"{PREFIX}.{self.key_id}.{base64.urlsafe_b64encode(nonce + sealed).decode()}"

    def unwrap(self, wrapped: str, context: str) -> bytes:
        """The secret ``wrap(secret, context)`` made.

        Raises:
            UnwrapError: not a wrapped value, wrapped under another master key
                (``.key_id`` names it), or altered / moved to another context.
        """
        key_id = wrapped_key_id(wrapped)
        if key_id != self.key_id:
            raise UnwrapError(
                f"wrapped under master key {key_id}, not {self.key_id}", key_id=key_id
            )
        try:
            raw = base64.urlsafe_b64decode(wrapped.split(".", 2)[2].encode("ascii"))
            return self._aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], _aad(key_id, context))
        except (binascii.Error, ValueError, InvalidTag) as exc:
            raise UnwrapError(f"a wrapped {context.split('/')[0]} is altered") from exc

    def export(self) -> str:
        """The base64 text :meth:`from_text` reads (for the key file only)."""
        return base64.b64encode(self._secret).decode("ascii")


def wrapped_key_id(value: str) -> str:
    """The master key id a wrapped value names.

    Raises:
        UnwrapError: ``value`` is not a wrapped value (e.g. a secret stored in clear).
    """
    parts = value.split(".", 2)
    if len(parts) != 3 or parts[0] != PREFIX or len(parts[1]) != 16:
        raise UnwrapError("not a wrapped value")
    return parts[1]


def is_wrapped(value: str) -> bool:
    try:
        wrapped_key_id(value)
    except UnwrapError:
        return False
    return True


def _aad(key_id: str, context: str) -> bytes:
    return f"passback/{PREFIX}/{key_id}/{context}".encode()
