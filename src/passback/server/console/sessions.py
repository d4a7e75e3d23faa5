"""The states of a console session and the moves between them (G7).

::

    password right ──▶ second_factor ──code (or passkey) right──▶ signed_in
                          │ 5 wrong tries, or 5 minutes                │ sign out,
                          ▼                                            ▼ idle, age
                        (gone)                                       (gone)

A session dies ``IDLE_TIMEOUT`` after its last request and at ``expires_at``
whatever happens. Resets and policy changes need the second factor (a code
or a passkey) proved within ``REAUTH_WINDOW``: an unattended browser is not enough for them. The
cookie holds a 256-bit token; the store keeps its SHA-256.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum

from sqlalchemy import update
from sqlalchemy.orm import Session

from passback.server.portal.codes import flow_hash, new_flow_token
from passback.server.store.models import AdminSession

IDLE_TIMEOUT = dt.timedelta(minutes=15)
MAX_AGE = dt.timedelta(hours=8)
#: Between the right password and the authenticator code.
SECOND_FACTOR_WINDOW = dt.timedelta(minutes=5)
#: Codes a session may try, at the second factor or re-authenticating.
MAX_CODE_ATTEMPTS = 5
#: A reset or a policy change needs the code proved this recently.
REAUTH_WINDOW = dt.timedelta(minutes=5)
#: An administrator's own password reset: both codes and the new password
#: within this time.
RESET_WINDOW = dt.timedelta(minutes=15)


class State(enum.StrEnum):
    SECOND_FACTOR = "second_factor"
    SIGNED_IN = "signed_in"
    RESET_CODE = "reset_code"  # a password reset: the emailed code and the app's
    RESET_PASSWORD = "reset_password"  # noqa: S105 - a state: both were right


class SessionRefused(Exception):
    """No live session in the state asked for."""


@dataclasses.dataclass(frozen=True)
class NewSession:
    row: AdminSession
    token: str = dataclasses.field(repr=False)


def new_session(
    *, tenant_id: str, admin_id: str, now: dt.datetime, state: State = State.SECOND_FACTOR
) -> NewSession:
    """A session whose password was right (the authenticator code is next),
    or a password reset's (``RESET_CODE``: both codes are next)."""
    token = new_flow_token()
    row = AdminSession(
        id_hash=flow_hash(token),
        tenant_id=tenant_id,
        admin_id=admin_id,
        state=state.value,
        code_attempts=0,
        created_at=now,
        last_seen_at=now,
        expires_at=now + (SECOND_FACTOR_WINDOW if state is State.SECOND_FACTOR else RESET_WINDOW),
    )
    return NewSession(row, token)


def require(row: AdminSession | None, state: State, now: dt.datetime) -> AdminSession:
    """``row`` if it is alive and in ``state`` (and then seen now).

    Raises:
        SessionRefused: none, another state, or it ran out (absolute or idle).
    """
    if (
        row is None
        or row.state != state.value
        or now >= row.expires_at
        or now >= row.last_seen_at + IDLE_TIMEOUT
    ):
        raise SessionRefused
    row.last_seen_at = now
    return row


def claim_code(db: Session, key: str) -> bool:
    """Count one code tried by session ``key``; False when none was left (the
    session must end). One statement, so parallel posts cannot beat it."""
    return (
        db.execute(
            update(AdminSession)
            .where(AdminSession.id_hash == key, AdminSession.code_attempts < MAX_CODE_ATTEMPTS)
            .values(code_attempts=AdminSession.code_attempts + 1)
            .returning(AdminSession.code_attempts)
            .execution_options(synchronize_session=False)
        ).scalar_one_or_none()
        is not None
    )


def verified(db: Session, row: AdminSession, now: dt.datetime) -> NewSession | None:
    """The authenticator code was right: signed in (again), attempts reset.
    At the second factor the session gets a new token (the half-open one is
    dropped), returned; a re-authentication keeps its token (None)."""
    fresh = row.state == State.SECOND_FACTOR.value
    row.state = State.SIGNED_IN.value
    row.code_attempts = 0
    row.verified_at = now
    row.expires_at = max(row.expires_at, row.created_at + MAX_AGE)
    if not fresh:
        return None
    token = new_flow_token()
    moved = AdminSession(
        id_hash=flow_hash(token),
        tenant_id=row.tenant_id,
        admin_id=row.admin_id,
        state=row.state,
        code_attempts=0,
        created_at=row.created_at,
        last_seen_at=now,
        verified_at=now,
        expires_at=row.expires_at,
    )
    db.delete(row)
    db.add(moved)
    return NewSession(moved, token)


def recently_verified(row: AdminSession, now: dt.datetime) -> bool:
    return row.verified_at is not None and now < row.verified_at + REAUTH_WINDOW
