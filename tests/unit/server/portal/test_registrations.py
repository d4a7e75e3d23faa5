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
from passback.server.portal import flow, registrations
from passback.server.portal.codes import Hasher
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


def test_an_own_contact_is_proved_by_its_code_within_its_time_and_tries(db: Session) -> None:
    hasher = Hasher(b"k" * 32)
    alice = user(db, mail=None)
    start = registrations.start_contact
    first = start(
        db, hasher, alice.tenant_id, alice.id, Method.EMAIL, "a@home.test", code_ttl=300, now=NOW
    )
    assert first is not None
    # too late: the code's time is over
    later = NOW + dt.timedelta(seconds=301)
    assert (
        registrations.confirm_contact(
            db, hasher, alice.tenant_id, alice.id, Method.EMAIL, first, later
        )
        is None
    )
    second = start(
        db, hasher, alice.tenant_id, alice.id, Method.EMAIL, "a@home.test", code_ttl=300, now=NOW
    )
    assert second is not None
    for _ in range(registrations.MAX_CONTACT_TRIES):
        assert (
            registrations.confirm_contact(
                db, hasher, alice.tenant_id, alice.id, Method.EMAIL, "0", NOW
            )
            is None
        )
    # the tries are used up: even the right code does nothing now
    assert (
        registrations.confirm_contact(
            db, hasher, alice.tenant_id, alice.id, Method.EMAIL, second, NOW
        )
        is None
    )
    third = start(
        db, hasher, alice.tenant_id, alice.id, Method.EMAIL, "a@home.test", code_ttl=300, now=NOW
    )
    assert third is not None
    # three codes an hour; the hour over, three more
    assert (
        start(
            db,
            hasher,
            alice.tenant_id,
            alice.id,
            Method.EMAIL,
            "x@home.test",
            code_ttl=300,
            now=NOW,
        )
        is None
    )
    proved = registrations.confirm_contact(
        db, hasher, alice.tenant_id, alice.id, Method.EMAIL, third, NOW
    )
    assert proved == "a@home.test"
    assert registrations.on_file(db, alice) == {Method.EMAIL}
    assert registrations.addresses(db, alice.tenant_id, alice) == ["a@home.test"]
    hour = NOW + registrations.CONTACT_WINDOW + dt.timedelta(seconds=1)
    assert start(
        db, hasher, alice.tenant_id, alice.id, Method.EMAIL, "b@home.test", code_ttl=300, now=hour
    )
    # the registered address stays usable until the new one is proved
    assert registrations.contact_of(db, alice.tenant_id, alice.id, Method.EMAIL) == "a@home.test"


def test_an_own_mobile_joins_the_directorys_numbers(db: Session) -> None:
    hasher = Hasher(b"k" * 32)
    alice = user(db)
    alice.mobile = "+55 11 91234-5678"
    made = registrations.start_contact(
        db,
        hasher,
        alice.tenant_id,
        alice.id,
        Method.MOBILE_SMS,
        "+5511988887777",
        code_ttl=300,
        now=NOW,
    )
    assert made is not None
    registrations.confirm_contact(
        db, hasher, alice.tenant_id, alice.id, Method.MOBILE_SMS, made, NOW
    )
    numbers = registrations.phone_numbers(db, alice.tenant_id, alice, Method.MOBILE_VOICE, None)
    assert numbers == ["+5511912345678", "+5511988887777"]
    assert registrations.phone_numbers(db, alice.tenant_id, alice, Method.OFFICE_VOICE, None) == []
    assert registrations.phone_numbers(db, alice.tenant_id, None, Method.MOBILE_SMS, None) == []


def test_mails_and_phone_messages_have_their_own_budgets(db: Session) -> None:
    """A stranger who spends an account's code mails leaves its phone codes."""
    alice = user(db)
    row = flow.new_flow(
        Hasher(b"k" * 32),
        tenant_id=alice.tenant_id,
        user_id=alice.id,
        client="192.0.2.1",
        blocked=None,
        code_ttl=300,
        now=NOW,
    ).row
    db.add(row)
    for _ in range(flow.MAX_MAILS_PER_USER):
        flow.record_send(db, row, "mail", NOW)
    db.flush()
    client = row.client_hash or ""
    assert flow.mail_limit_reached(db, alice.tenant_id, alice.id, "other", NOW, "mail")
    assert not flow.mail_limit_reached(db, alice.tenant_id, alice.id, client, NOW, "phone")
    # counted by when each was sent: an hour later the budget is back
    later = NOW + flow.MAIL_WINDOW + dt.timedelta(seconds=1)
    assert not flow.mail_limit_reached(db, alice.tenant_id, alice.id, "other", later, "mail")
