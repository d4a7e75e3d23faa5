"""A software authenticator for the tests: it makes WebAuthn registration and
authentication answers (attestation "none", ES256) exactly as a browser
sends them, so the server's passkey checks run against real signatures
without a browser. The browser walk uses Chromium's virtual authenticator."""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
import secrets
import struct
from typing import Any

import cbor2
import httpx
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def options_of(page: httpx.Response) -> dict[str, Any]:
    """The WebAuthn options a passkey page gives its script (``data-options``)."""
    found = re.search(r'data-options="([^"]+)"', page.text)
    assert found, page.text
    parsed: dict[str, Any] = json.loads(html.unescape(found.group(1)))
    return parsed


class SoftAuthenticator:
    def __init__(self, origin: str, rp_id: str) -> None:
        self.origin = origin
        self.rp_id = rp_id
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.credential_id = secrets.token_bytes(32)
        self.sign_count = 0

    def _client_data(self, kind: str, challenge: str) -> bytes:
        return json.dumps(
            {"type": kind, "challenge": challenge, "origin": self.origin, "crossOrigin": False}
        ).encode()

    def _auth_data(self, flags: int, extra: bytes = b"") -> bytes:
        rp_hash = hashlib.sha256(self.rp_id.encode()).digest()
        return rp_hash + bytes([flags]) + struct.pack(">I", self.sign_count) + extra

    def register(self, options: dict[str, Any]) -> str:
        """The answer to ``navigator.credentials.create()`` with ``options``."""
        numbers = self.key.public_key().public_numbers()
        cose = cbor2.dumps(
            {
                1: 2,
                3: -7,
                -1: 1,
                -2: numbers.x.to_bytes(32, "big"),
                -3: numbers.y.to_bytes(32, "big"),
            }
        )
        attested = (
            bytes(16) + struct.pack(">H", len(self.credential_id)) + self.credential_id + cose
        )
        auth_data = self._auth_data(0x45, attested)  # user present, verified, attested data
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        client = self._client_data("webauthn.create", options["challenge"])
        return json.dumps(
            {
                "id": b64url(self.credential_id),
                "rawId": b64url(self.credential_id),
                "type": "public-key",
                "response": {
                    "clientDataJSON": b64url(client),
                    "attestationObject": b64url(attestation),
                },
                "clientExtensionResults": {},
            }
        )

    def authenticate(
        self, options: dict[str, Any], *, counter: bool = True, verified: bool = True
    ) -> str:
        """The answer to ``navigator.credentials.get()`` with ``options``
        (``verified``: the user verified, as by a PIN; else only present)."""
        if counter:
            self.sign_count += 1
        auth_data = self._auth_data(0x05 if verified else 0x01)
        client = self._client_data("webauthn.get", options["challenge"])
        signed = auth_data + hashlib.sha256(client).digest()
        signature = self.key.sign(signed, ec.ECDSA(hashes.SHA256()))
        return json.dumps(
            {
                "id": b64url(self.credential_id),
                "rawId": b64url(self.credential_id),
                "type": "public-key",
                "response": {
                    "clientDataJSON": b64url(client),
                    "authenticatorData": b64url(auth_data),
                    "signature": b64url(signature),
                    "userHandle": None,
                },
                "clientExtensionResults": {},
            }
        )
