"""Secrets of a portal flow: the flow token, the one-time code and the CSRF
token, and how each is kept (only hashed) and checked (in constant time).

- flow token: 256 random bits, in the user's cookie (pages) or the
  ``X-Passback-Flow`` header (API); the store keeps its SHA-256.
- one-time code: 8 digits from ``secrets``, emailed; the store keeps
  HMAC-SHA256(server key, flow hash + code). Binding it to the flow means a
  code is worth nothing in any other flow. The key is the deployment's random
  ``portal`` secret (table ``server_secrets``, made by migration 0002), shared
  by every node of the database and wrapped under the master key: a copy of the
  database alone cannot check a guess, so codes cannot be tried offline.
- CSRF token: HMAC-SHA256(server key, flow hash), in every form of the flow
  (and of a signed-in session, bound to the session's hash).
- device token: ``<user id>.<nonce>.<HMAC>``, given to a browser once its user
  signed in: that browser's failed sign-ins are counted on their own, so a
  stranger's guesses cannot lock the owner's own browser out (T2).
- signed values (a notice carried over a redirect): ``<value>.<HMAC>``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from sqlalchemy.orm import Session, sessionmaker

from passback.crypto.masterkey import MasterKey
from passback.server.directory_users import canonical_name
from passback.server.keyring import open_server_secret
from passback.server.store.models import ServerSecret

CODE_DIGITS = 8
#: Random bytes of a flow token (256 bits).
FLOW_TOKEN_BYTES = 32
SECRET_NAME = "portal"  # noqa: S105 - the row's name, not a secret


def new_code() -> str:
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def new_flow_token() -> str:
    return secrets.token_urlsafe(FLOW_TOKEN_BYTES)


def flow_hash(token: str) -> str:
    """The store's key for a flow token (SHA-256, hex)."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def load_key(sessions: sessionmaker[Session], master_key: MasterKey) -> bytes:
    """The deployment's portal key.

    Raises:
        RuntimeError: the store has none (it was not migrated to 0002).
        KeyringError: it does not open under ``master_key``.
    """
    with sessions() as db:
        row = db.get(ServerSecret, SECRET_NAME)
    if row is None:
        raise RuntimeError("the store has no portal secret: run the migrations")
    return open_server_secret(master_key, row)


class Hasher:
    """Hashes and checks codes and CSRF tokens under the deployment's key."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 32:
            raise ValueError("the portal key must be at least 32 bytes")
        self._key = key

    def code_hash(self, flow: str, code: str) -> str:
        return self._mac(b"code", flow, code)

    def code_matches(self, stored: str | None, flow: str, code: str) -> bool:
        """Whether ``code`` is the flow's code; the same work for any input."""
        typed = "".join(code.split())[: CODE_DIGITS * 4]  # "1234 5678" as mailed
        candidate = self.code_hash(flow, typed)
        return hmac.compare_digest(candidate, stored or "0" * 64)

    def client_hash(self, address: str) -> str:
        """A flow's client address as the store keeps it: keyed, so the store
        holds no address (and a copy of it cannot be searched for one)."""
        return self._mac(b"client", "", address)

    def who_hash(self, username: str) -> str:
        """A username as typed, keyed and reduced to its canonical form
        (``directory_users.canonical_name``): what a flow keeps of it."""
        return self._mac(b"who", "", canonical_name(username))

    def csrf_token(self, flow: str) -> str:
        return self._mac(b"csrf", flow, "")

    def csrf_matches(self, flow: str, token: str) -> bool:
        return hmac.compare_digest(self.csrf_token(flow).encode(), token.encode()[:128])

    def device_token(self, user_id: str) -> str:
        nonce = secrets.token_urlsafe(16)
        return f"{user_id}.{nonce}.{self._mac(b'device', user_id, nonce)}"

    def device_of(self, token: str | None) -> tuple[str, str] | None:
        """(user id, nonce) of a device token this server made; None otherwise."""
        parts = (token or "")[:256].split(".")
        if len(parts) != 3:
            return None
        user_id, nonce, mac = parts
        if not hmac.compare_digest(self._mac(b"device", user_id, nonce).encode(), mac.encode()):
            return None
        return user_id, nonce

    def sign(self, purpose: str, value: str) -> str:
        """``value`` with a MAC for ``purpose``; :meth:`unsign` checks it."""
        return f"{value}.{self._mac(b'signed', purpose, value)}"

    def unsign(self, purpose: str, signed: str | None) -> str | None:
        value, _, mac = (signed or "").rpartition(".")
        if not value or not hmac.compare_digest(
            self._mac(b"signed", purpose, value).encode(), mac.encode()
        ):
            return None
        return value

    def _mac(self, purpose: bytes, flow: str, value: str) -> str:
        message = purpose + b"\0" + flow.encode() + b"\0" + value.encode("utf-8", "replace")
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()
