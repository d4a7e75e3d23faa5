"""What a user has on file: the directory's mail and registered methods;
an authenticator's secret wrapped, confirmed by a first code, never replayed."""

from __future__ import annotations

import datetime as dt
import uuid

import pyotp
import sqlalchemy as sa
from sqlalchemy.orm import Session

from passback.crypto.masterkey import MasterKey
from passback.policy.gates import Method
from passback.server.keyring import rewrap_store, seal_store
from passback.server.portal import registrations
from passback.server.store.models import DirectoryUser, GateRegistration
from passback.server.tenants import create_tenant
from tests.support.keys import TEST_MASTER_KEY

NOW = dt.datetime(2026, 11, 29, 12, 0, 10, tzinfo=dt.UTC)


def user(db: Session, mail: str | None = "a@contoso.test") -> DirectoryUser:
    tenant = create_tenant(db, "Contoso", master_key=TEST_MASTER_KEY).tenant_id
    row = DirectoryUser(
        id=str(uuid.uuid4()),
        tenant_id=tenant,
        anchor="AAAAAAAAAAAAAAAAAAAAAA",
        sam_account_name="alice",
        user_principal_name=None,
        mail=mail,
        enabled=True,
        synced_at=NOW,
    )
    db.add(row)
    db.flush()
    return row


def code(secret: str, when: dt.datetime) -> str:
    return pyotp.TOTP(secret).at(when)


def test_the_directory_mail_is_on_file(db: Session) -> None:
    assert registrations.on_file(db, user(db)) == {Method.EMAIL}
    db.rollback()
    assert registrations.on_file(db, user(db, mail=None)) == set()


def test_an_authenticator_counts_once_confirmed(db: Session) -> None:
    alice = user(db)
    secret = registrations.pending_totp(db, TEST_MASTER_KEY, alice.tenant_id, alice.id, NOW)
    assert secret is not None
    # the same secret until confirmed (a reload of the page shows the same QR code)
    assert registrations.pending_totp(db, TEST_MASTER_KEY, alice.tenant_id, alice.id, NOW) == secret
    assert registrations.on_file(db, alice) == {Method.EMAIL}
    [row] = db.scalars(sa.select(GateRegistration))
    assert row.secret_wrapped is not None and secret not in row.secret_wrapped  # wrapped
    args = (db, TEST_MASTER_KEY, alice.tenant_id, alice.id)
    assert not registrations.check_totp(*args, code(secret, NOW), NOW)  # not yet on file
    assert not registrations.confirm_totp(*args, "000000", NOW)
    assert registrations.confirm_totp(*args, code(secret, NOW), NOW)
    assert registrations.on_file(db, alice) == {Method.EMAIL, Method.TOTP}
    assert registrations.pending_totp(*args, NOW) is None  # remove it to set up another
    # the code that confirmed it is spent; the next step's code passes once
    assert not registrations.check_totp(*args, code(secret, NOW), NOW)
    later = NOW + dt.timedelta(seconds=30)
    assert registrations.check_totp(*args, code(secret, later), later)
    assert not registrations.check_totp(*args, code(secret, later), later)
    assert registrations.remove(db, alice.tenant_id, alice.id, Method.TOTP)
    assert not registrations.remove(db, alice.tenant_id, alice.id, Method.TOTP)
    assert registrations.on_file(db, alice) == {Method.EMAIL}


def test_the_secret_moves_with_the_master_key(db: Session) -> None:
    alice = user(db)
    secret = registrations.pending_totp(db, TEST_MASTER_KEY, alice.tenant_id, alice.id, NOW)
    assert secret is not None
    db.commit()
    seal_store(db, TEST_MASTER_KEY)  # as the server does when it starts
    new = MasterKey.generate()
    rewrap_store(db, TEST_MASTER_KEY, new)
    assert registrations.pending_totp(db, new, alice.tenant_id, alice.id, NOW) == secret
