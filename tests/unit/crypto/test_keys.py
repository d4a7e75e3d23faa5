"""passback.crypto.keys: the agent's RSA pair (S2) and the package key (S3)."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from passback.crypto.errors import CryptoError, KeyFormatError
from passback.crypto.keys import (
    PACKAGE_KEY_BYTES,
    RSA_BITS,
    PackageKey,
    key_id_for,
    private_key_from_pem,
    private_key_to_pem,
    public_key_from_pem,
    public_key_to_pem,
)


@pytest.fixture(scope="module")
def small_rsa() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=1024)


@pytest.fixture(scope="module")
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def test_generate() -> None:
    key = PackageKey.generate()
    assert len(key.secret) == PACKAGE_KEY_BYTES
    assert key.key_id == key_id_for(key.secret)
    assert len(key.key_id) == 16 and int(key.key_id, 16) >= 0
    assert PackageKey.generate() != key


def test_b64_round_trip() -> None:
    key = PackageKey.generate()
    assert PackageKey.from_b64(key.key_id, key.to_b64()) == key


def test_key_id_is_stable_and_does_not_reveal_the_key() -> None:
    secret = bytes(range(32))
    assert key_id_for(secret) == key_id_for(bytes(range(32)))
    assert key_id_for(secret) != key_id_for(bytes(32))
    assert secret.hex()[:16] not in key_id_for(secret)


@pytest.mark.parametrize("encoded", ["not base64!", "AAA", "ÄÖÜ", "AAAA AAAA"])
def test_from_b64_not_base64(encoded: str) -> None:
    with pytest.raises(KeyFormatError, match="not base64"):
        PackageKey.from_b64("0" * 16, encoded)


@pytest.mark.parametrize("length", [0, 16, 31, 33, 64])
def test_from_b64_wrong_length(length: int) -> None:
    secret = bytes(length)
    with pytest.raises(KeyFormatError, match="32 bytes"):
        PackageKey.from_b64(key_id_for(secret), base64.b64encode(secret).decode())


def test_from_b64_id_mismatch() -> None:
    key, other = PackageKey.generate(), PackageKey.generate()
    with pytest.raises(KeyFormatError, match="does not match") as info:
        PackageKey.from_b64(other.key_id, key.to_b64())
    assert key.to_b64() not in str(info.value)
    assert isinstance(info.value, CryptoError)


def test_repr_hides_the_secret() -> None:
    key = PackageKey.generate()
    assert key.to_b64() not in repr(key)
    assert repr(key.secret) not in repr(key)
    assert key.key_id in repr(key)


def test_private_pem_round_trip(agent_key: rsa.RSAPrivateKey) -> None:
    pem = private_key_to_pem(agent_key)
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----")
    again = private_key_from_pem(pem)
    assert again.private_numbers() == agent_key.private_numbers()
    assert again.key_size == RSA_BITS


def test_public_pem_round_trip(agent_key: rsa.RSAPrivateKey) -> None:
    pem = public_key_to_pem(agent_key.public_key())
    assert pem.startswith("-----BEGIN PUBLIC KEY-----")
    assert public_key_from_pem(pem).public_numbers() == agent_key.public_key().public_numbers()


@pytest.mark.parametrize("data", [b"", b"not a pem", b"-----BEGIN PRIVATE KEY-----\nAAAA\n"])
def test_private_not_pem(data: bytes) -> None:
    with pytest.raises(KeyFormatError, match="not a PEM private key"):
        private_key_from_pem(data)


def test_private_pem_with_a_passphrase(agent_key: rsa.RSAPrivateKey) -> None:
    pem = agent_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"passphrase"),
    )
    with pytest.raises(KeyFormatError, match="not a PEM private key"):
        private_key_from_pem(pem)


def test_private_ec_key(ec_key: ec.EllipticCurvePrivateKey) -> None:
    pem = ec_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with pytest.raises(KeyFormatError, match="RSA-2048"):
        private_key_from_pem(pem)


def test_private_rsa_1024(small_rsa: rsa.RSAPrivateKey) -> None:
    with pytest.raises(KeyFormatError, match="RSA-2048"):
        private_key_from_pem(private_key_to_pem(small_rsa))


@pytest.mark.parametrize("data", ["", "not a pem", "-----BEGIN PUBLIC KEY-----\nAAAA\n", "ключ"])
def test_public_not_pem(data: str) -> None:
    with pytest.raises(KeyFormatError, match="not a PEM public key"):
        public_key_from_pem(data)


def test_public_ec_key(ec_key: ec.EllipticCurvePrivateKey) -> None:
    pem = ec_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with pytest.raises(KeyFormatError, match="RSA-2048"):
        public_key_from_pem(pem.decode())


def test_public_rsa_1024(small_rsa: rsa.RSAPrivateKey) -> None:
    with pytest.raises(KeyFormatError, match="RSA-2048"):
        public_key_from_pem(public_key_to_pem(small_rsa.public_key()))
