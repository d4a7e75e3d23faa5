"""Administrators' passkeys (G7, WebAuthn through ``portal.gates.passkey``):
a second factor an administrator may use instead of the authenticator
code, never instead of the password. The authenticator app stays required
(set up from the link, and the only way for a self-service reset), so a
passkey is an addition and removing one is always allowed.

Each ceremony's challenge is kept on the console session and used once;
each answer's signature counter must move on (a cloned authenticator's
does not). Adding and removing one are audited. Plain functions over a
SQLAlchemy ``Session``: the caller owns the transaction.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from passback.server import admin_actions, audit
from passback.server.console.errors import ConsoleError
from passback.server.i18n.translations import N_
from passback.server.portal.gates import passkey
from passback.server.store.models import Admin, AdminPasskey, AdminSession

#: Passkeys one administrator may have: a few devices and security keys.
MAX_PASSKEYS = 10
MAX_NAME = 64

REFUSED = N_("Your passkey did not prove who you are. Try again, or use your authenticator app.")
NOT_SET_UP = N_("The passkey could not be set up. Try again.")


def listed(db: Session, admin_id: str) -> list[AdminPasskey]:
    return list(
        db.scalars(
            select(AdminPasskey)
            .where(AdminPasskey.admin_id == admin_id)
            .order_by(AdminPasskey.created_at, AdminPasskey.id)
        )
    )


def credential_ids(db: Session, admin_id: str) -> list[str]:
    return list(
        db.scalars(select(AdminPasskey.credential_id).where(AdminPasskey.admin_id == admin_id))
    )


def new_challenge(row: AdminSession) -> str:
    """A challenge for the session's next ceremony (the last one is dropped)."""
    row.challenge = passkey.new_challenge()
    return row.challenge


def take_challenge(row: AdminSession) -> str:
    """The session's challenge, forgotten as it is taken ("": none)."""
    challenge, row.challenge = row.challenge or "", None
    return challenge


def register(
    db: Session,
    admin: Admin,
    rp: passkey.RelyingParty,
    *,
    challenge: str,
    credential: str,
    name: str,
    now: dt.datetime,
) -> AdminPasskey:
    """Keep the passkey a registration answer proves as ``admin``'s.

    Raises:
        ConsoleError: ``passkey_refused`` (field passkey): the answer does
            not prove one, or for another challenge or site, or the passkey
            is on file already; ``too_many_passkeys`` (409).
    """
    if len(credential_ids(db, admin.id)) >= MAX_PASSKEYS:
        raise ConsoleError(
            "too_many_passkeys",
            N_("You have %(n)d passkeys, the most there may be. Remove one first."),
            values={"n": MAX_PASSKEYS},
            status=409,
        )
    try:
        if not challenge:
            raise passkey.PasskeyRefused("no challenge")
        made = passkey.verify_registration(rp, challenge=challenge, credential=credential)
    except passkey.PasskeyRefused:
        raise ConsoleError("passkey_refused", NOT_SET_UP, field="passkey") from None
    if db.scalar(select(AdminPasskey.id).where(AdminPasskey.credential_id == made.credential_id)):
        raise ConsoleError("passkey_refused", NOT_SET_UP, field="passkey")
    row = AdminPasskey(
        id=str(uuid.uuid4()),
        tenant_id=admin.tenant_id,
        admin_id=admin.id,
        name=_name(name, len(credential_ids(db, admin.id)) + 1),
        credential_id=made.credential_id,
        public_key=made.public_key,
        sign_count=made.sign_count,
        created_at=now,
    )
    try:
        with db.begin_nested():  # the same answer twice at once: one of them is kept
            db.add(row)
            db.flush()
    except IntegrityError:
        raise ConsoleError("passkey_refused", NOT_SET_UP, field="passkey") from None
    _record(db, row, audit.Activity.ADMIN_PASSKEY_ADDED, now)
    return row


def check(
    db: Session,
    admin: Admin,
    rp: passkey.RelyingParty,
    *,
    challenge: str,
    credential: str,
    now: dt.datetime,
) -> bool:
    """Whether an answer proves one of ``admin``'s passkeys for ``challenge``;
    its counter moves on in one statement, so a replayed answer, or one of a
    cloned authenticator, fails."""
    try:
        claimed = passkey.answered_by(credential)
    except passkey.PasskeyRefused:
        return False
    row = db.scalar(
        select(AdminPasskey).where(
            AdminPasskey.admin_id == admin.id, AdminPasskey.credential_id == claimed
        )
    )
    if row is None or not challenge:
        return False
    known = passkey.Passkey(row.credential_id, row.public_key, row.sign_count)
    count = passkey.counter_after(rp, challenge=challenge, credential=credential, passkey=known)
    if count is None:
        return False
    if count == 0:
        row.last_used_at = now  # an authenticator without a counter (most synced passkeys)
        return True
    moved = db.execute(
        update(AdminPasskey)
        .where(AdminPasskey.id == row.id, AdminPasskey.sign_count < count)
        .values(sign_count=count, last_used_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(moved.rowcount) == 1  # type: ignore[attr-defined]


def remove(db: Session, admin_id: str, passkey_id: str, now: dt.datetime) -> None:
    """Forget one of the administrator's passkeys.

    Raises:
        ConsoleError: ``passkey_not_found`` (404): none of theirs.
    """
    row = db.get(AdminPasskey, passkey_id[:64])
    if row is None or row.admin_id != admin_id:
        raise ConsoleError("passkey_not_found", N_("There is no such passkey."), status=404)
    db.delete(row)
    _record(db, row, audit.Activity.ADMIN_PASSKEY_REMOVED, now)


def remove_all(db: Session, admin_id: str) -> None:
    """A new set-up link: the passkeys go with the lost device."""
    db.execute(delete(AdminPasskey).where(AdminPasskey.admin_id == admin_id))


def _record(db: Session, row: AdminPasskey, activity: audit.Activity, now: dt.datetime) -> None:
    acting = admin_actions.Acting(row.tenant_id, row.admin_id)
    admin_actions.record_admin_event(db, acting, activity, now, passkey=row.id)


def _name(text: str, n: int) -> str:
    name = " ".join(text.split())[:MAX_NAME]
    return name if name and name.isprintable() else f"Passkey {n}"
