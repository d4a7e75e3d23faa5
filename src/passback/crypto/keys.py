"""Key material: the agent's RSA pair (S2) and the tenant's package key (S3)."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import secrets

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from passback.crypto.errors import KeyFormatError

RSA_BITS = 2048
RSA_PUBLIC_EXPONENT = 65537
PACKAGE_KEY_BYTES = 32  # AES-256


@dataclasses.dataclass(frozen=True)
class PackageKey:
    """One AES-256-GCM key of a tenant, named by ``key_id`` in every envelope."""

    key_id: str
    secret: bytes = dataclasses.field(repr=False)

    @classmethod
    def generate(cls) -> PackageKey:
        secret = secrets.token_bytes(PACKAGE_KEY_BYTES)
        return cls(key_id_for(secret), secret)

    @classmethod
    def from_b64(cls, key_id: str, encoded: str) -> PackageKey:
        try:
            secret = base64.b64decode(encoded, validate=True)
        except ValueError as exc:
            raise KeyFormatError("package key is not base64") from exc
        return cls.checked(key_id, secret)

    @classmethod
    def checked(cls, key_id: str, secret: bytes) -> PackageKey:
        """``secret`` as the key named ``key_id``, once both are shown to fit."""
        if len(secret) != PACKAGE_KEY_BYTES:
            raise KeyFormatError(f"package key must be {PACKAGE_KEY_BYTES} bytes")
        if key_id != key_id_for(secret):
            raise KeyFormatError("package key does not match its key id")
        return cls(key_id, secret)

    def to_b64(self) -> str:
        return base64.b64encode(self.secret).decode("ascii")


def key_id_for(secret: bytes) -> str:
    """A short public name for a key: lets the agent tell "key mismatch" apart
    from "tampered" (EVENTS 32004). A hash prefix reveals nothing of the key."""
    return hashlib.sha256(b"passback key id\0" + secret).hexdigest()[:16]


def generate_private_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=RSA_PUBLIC_EXPONENT, key_size=RSA_BITS)


def private_key_to_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def private_key_from_pem(data: bytes) -> rsa.RSAPrivateKey:
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise KeyFormatError("not a PEM private key") from exc
    if not isinstance(key, rsa.RSAPrivateKey) or key.key_size != RSA_BITS:
        raise KeyFormatError(f"the agent key must be RSA-{RSA_BITS}")
    return key


def public_key_to_pem(key: rsa.RSAPublicKey) -> str:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def public_key_from_pem(data: str) -> rsa.RSAPublicKey:
    """Parse an agent's public key as registered at onboarding (SPEC L1, S2)."""
    try:
        key = serialization.load_pem_public_key(data.encode("ascii"))
    except (ValueError, TypeError, UnicodeEncodeError) as exc:
        raise KeyFormatError("not a PEM public key") from exc
    if not isinstance(key, rsa.RSAPublicKey) or key.key_size != RSA_BITS:
        raise KeyFormatError(f"the agent key must be RSA-{RSA_BITS}")
    return key
