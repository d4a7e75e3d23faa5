"""The states of a "My account" session (SPEC U4, W3) and the moves between them.

::

    sign-in ─right password──────────────────────────▶ signed_in ──sign out──▶ (gone)
       │                                                   ▲
       └─right password, must change (773) or expired (532)┘ change succeeded
                                 must_change / password_expired

A session dies ``IDLE_TIMEOUT`` after its last request, and at ``expires_at``
whatever happens. The user's cookie holds a 256-bit token; the store keeps its
SHA-256. A session on the way to the forced change keeps the password typed at
sign-in, sealed with AES-GCM under a key derived from the token: the user
types it once, and the store alone cannot open it (S7). The pure functions
take and change an ``AccountSession`` row; the caller loads it and commits.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import json
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import update
from sqlalchemy.orm import Session

from passback.server.portal.codes import flow_hash, new_flow_token
from passback.server.store.models import AccountSession

#: Minutes without a request after which a session is over.
IDLE_TIMEOUT = dt.timedelta(minutes=15)
#: The longest a session lives, however busy.
MAX_AGE = dt.timedelta(hours=8)
#: A forced change must follow its sign-in closely: the sealed password lives no longer.
CHANGE_WINDOW = dt.timedelta(minutes=10)
#: Password changes one session sends to the directory before it ends.
MAX_CHANGE_ATTEMPTS = 5
#: Confirming by an emailed code before Security info changes: codes a session
#: may have sent, tries it has, and how long a confirmation lasts.
MAX_CONFIRM_MAILS = 3
MAX_CONFIRM_ATTEMPTS = 5
CONFIRMED_FOR = dt.timedelta(minutes=10)

_NONCE = 12
_KEY_INFO = b"passback account session: the current password, sealed"


class State(enum.StrEnum):
    SIGNED_IN = "signed_in"
    MUST_CHANGE = "must_change"  # 773: must change at next logon
    PASSWORD_EXPIRED = "password_expired"  # noqa: S105 - a state name (532)

    @property
    def forced_change(self) -> bool:
        return self is not State.SIGNED_IN


class SessionRefused(Exception):
    """No live session for the token: none, expired or idle too long."""


@dataclasses.dataclass(frozen=True)
class NewSession:
    row: AccountSession
    token: str = dataclasses.field(repr=False)


def new_session(
    *,
    tenant_id: str,
    user_id: str,
    state: State,
    account: dict[str, int | str],
    password: str | None,
    now: dt.datetime,
) -> NewSession:
    """A session for a user whose password just proved right; ``password`` is
    kept (sealed) only for a forced change."""
    token = new_flow_token()
    key = flow_hash(token)
    lifetime = CHANGE_WINDOW if state.forced_change else MAX_AGE
    row = AccountSession(
        id_hash=key,
        tenant_id=tenant_id,
        user_id=user_id,
        state=state.value,
        sealed_password=seal(token, key, password) if password is not None else None,
        account_json=json.dumps(account, sort_keys=True),
        change_attempts=0,
        created_at=now,
        last_seen_at=now,
        expires_at=now + lifetime,
    )
    return NewSession(row, token)


def find(db: Session, tenant_id: str, token: str | None) -> AccountSession | None:
    if not token:
        return None
    row = db.get(AccountSession, flow_hash(token))
    return row if row is not None and row.tenant_id == tenant_id else None


def require(row: AccountSession | None, now: dt.datetime) -> AccountSession:
    """``row`` if it is alive (and then seen now).

    Raises:
        SessionRefused: no session, or it ran out (absolute or idle).
    """
    if row is None or now >= row.expires_at or now >= row.last_seen_at + IDLE_TIMEOUT:
        raise SessionRefused
    row.last_seen_at = now
    return row


def claim_change(db: Session, key: str) -> int | None:
    """Count one password change of session ``key``; the attempt's number, or
    None when none is left. One statement, so parallel posts cannot beat it."""
    return db.execute(
        update(AccountSession)
        .where(
            AccountSession.id_hash == key,
            AccountSession.change_attempts < MAX_CHANGE_ATTEMPTS,
        )
        .values(change_attempts=AccountSession.change_attempts + 1)
        .returning(AccountSession.change_attempts)
        .execution_options(synchronize_session=False)
    ).scalar_one_or_none()


def signed_in(row: AccountSession, account: dict[str, int | str], now: dt.datetime) -> None:
    """The forced change succeeded, or a change did: the user is signed in,
    nothing sealed is kept."""
    row.state = State.SIGNED_IN.value
    row.sealed_password = None
    row.pending_request_id = None
    row.change_attempts = 0
    row.account_json = json.dumps(account, sort_keys=True)
    row.expires_at = max(row.expires_at, row.created_at + MAX_AGE)


def account_of(row: AccountSession) -> dict[str, int | str]:
    try:
        value = json.loads(row.account_json or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def seal(token: str, key: str, password: str) -> bytes:
    nonce = os.urandom(_NONCE)
    data = password.encode("utf-8", "surrogatepass")
    return nonce + AESGCM(_key(token)).encrypt(nonce, data, key.encode())


def unseal(token: str, row: AccountSession) -> str | None:
    """The sealed password, if the session has one and ``token`` opens it."""
    sealed = row.sealed_password
    if not sealed or len(sealed) <= _NONCE:
        return None
    try:
        data = AESGCM(_key(token)).decrypt(sealed[:_NONCE], sealed[_NONCE:], row.id_hash.encode())
    except InvalidTag:
        return None
    return data.decode("utf-8", "surrogatepass")


def _key(token: str) -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_KEY_INFO)
    return hkdf.derive(token.encode("ascii"))


def arm_confirmation(row: AccountSession, code_hash: str) -> bool:
    """Keep the hash of a new confirmation code; False when the session has
    sent its codes already (the old code, if any, stays)."""
    if row.confirm_mails >= MAX_CONFIRM_MAILS:
        return False
    row.confirm_mails += 1
    row.confirm_code_hash = code_hash
    row.confirm_attempts = 0
    return True


def confirm(row: AccountSession, matches: bool, now: dt.datetime) -> bool:
    """One try of the confirmation code (``matches``: compared by the caller);
    the session may change Security info for ``CONFIRMED_FOR`` if it was right.
    The code is spent either way once its tries are used up."""
    if row.confirm_code_hash is None or row.confirm_attempts >= MAX_CONFIRM_ATTEMPTS:
        return False
    row.confirm_attempts += 1
    if matches:
        row.confirm_code_hash = None
        row.confirmed_until = now + CONFIRMED_FOR
        return True
    if row.confirm_attempts >= MAX_CONFIRM_ATTEMPTS:
        row.confirm_code_hash = None
    return False


def confirmed(row: AccountSession, now: dt.datetime) -> bool:
    return row.confirmed_until is not None and now < row.confirmed_until
