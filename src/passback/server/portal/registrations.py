"""What a user has on file to prove who they are (SPEC G2, G3): the
directory's contact data and the methods registered in "My account".

An authenticator's secret is wrapped under the master key (bound to its tenant
and user); a registration counts once the user proved it works
(``confirmed_at``). Functions take a store session; the caller commits.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Mapping

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from passback.crypto.masterkey import MasterKey
from passback.policy.gates import Method
from passback.server import phones
from passback.server.keyring import gate_secret_context
from passback.server.portal.codes import Hasher, new_code
from passback.server.portal.gates import passkey, questions, totp
from passback.server.store.models import DirectoryUser, GateRegistration


def registered(db: Session, tenant_id: str, user_id: str) -> dict[Method, GateRegistration]:
    """The user's confirmed registrations, by method."""
    rows = db.scalars(
        select(GateRegistration).where(
            GateRegistration.tenant_id == tenant_id,
            GateRegistration.user_id == user_id,
            GateRegistration.confirmed_at.is_not(None),
        )
    )
    return {Method(r.method): r for r in rows if r.method in _KNOWN}


def on_file(db: Session, user: DirectoryUser, region: str | None = None) -> set[Method]:
    """The methods ``user`` could pass now: the directory's mail and phone
    numbers (read in ``region`` when written without a country code), and
    what they registered (an own address or mobile number among them)."""
    found = set(registered(db, user.tenant_id, user.id))
    if user.mail:
        found.add(Method.EMAIL)
    if phone_number(user, Method.MOBILE_SMS, region) or Method.MOBILE_SMS in found:
        found |= {Method.MOBILE_SMS, Method.MOBILE_VOICE}
    if phone_number(user, Method.OFFICE_VOICE, region):
        found.add(Method.OFFICE_VOICE)
    return found


def phone_number(user: DirectoryUser | None, method: Method, region: str | None) -> str | None:
    """The E.164 number a phone ``method`` reaches ``user`` at, from the
    directory (``mobile``; ``telephoneNumber`` for the office phone)."""
    if user is None or not method.phone:
        return None
    text = user.telephone if method is Method.OFFICE_VOICE else user.mobile
    return phones.e164(text, region)


def phone_numbers(
    db: Session, tenant_id: str, user: DirectoryUser | None, method: Method, region: str | None
) -> list[str]:
    """Every E.164 number a phone ``method`` reaches ``user`` at: the
    directory's, and for the mobile methods the one they registered. A
    username that matched nobody takes the same statements (T2)."""
    numbers = [n for n in (phone_number(user, method, region),) if n]
    own = contact_of(db, tenant_id, user.id if user else "", Method.MOBILE_SMS)
    if own and method is not Method.OFFICE_VOICE and own not in numbers:
        numbers.append(own)
    return numbers


def addresses(db: Session, tenant_id: str, user: DirectoryUser | None) -> list[str]:
    """Where an email gate's code goes: the directory's mail and the address
    the user registered (the same statements for no user, T2)."""
    found = [user.mail] if user is not None and user.mail else []
    own = contact_of(db, tenant_id, user.id if user else "", Method.EMAIL)
    if own and own.casefold() not in {a.casefold() for a in found}:
        found.append(own)
    return found


# -- an own address or mobile number, proved by a code sent there ---------------

#: Codes one pending address or number gets, and codes typed, within an hour.
MAX_CONTACT_SENDS = 3
MAX_CONTACT_TRIES = 5
CONTACT_WINDOW = dt.timedelta(hours=1)


def start_contact(
    db: Session,
    hasher: Hasher,
    tenant_id: str,
    user_id: str,
    method: Method,
    value: str,
    *,
    code_ttl: int,
    now: dt.datetime,
) -> str | None:
    """A code that proves ``value`` (an address for ``EMAIL``, an E.164 number
    for ``MOBILE_SMS``), kept hashed in the pending registration (a
    registered one is replaced once the new one is proved); None once
    ``MAX_CONTACT_SENDS`` codes were sent within the hour."""
    row = db.scalar(
        select(GateRegistration).where(
            GateRegistration.tenant_id == tenant_id,
            GateRegistration.user_id == user_id,
            GateRegistration.method == _pending(method),
        )
    )
    if row is None:
        row = GateRegistration(
            id=str(uuid.uuid4()),
            tenant_id=tenant_id,
            user_id=user_id,
            method=_pending(method),
            last_step=0,
            created_at=now,
        )
        db.add(row)
    if row.created_at < now - CONTACT_WINDOW:
        row.created_at, row.last_step = now, 0
    db.flush()
    # Counted in one statement: parallel requests cannot send more than the cap.
    counted = db.execute(
        update(GateRegistration)
        .where(GateRegistration.id == row.id, GateRegistration.last_step < MAX_CONTACT_SENDS)
        .values(last_step=GateRegistration.last_step + 1)
        .execution_options(synchronize_session=False)
    )
    if int(counted.rowcount) != 1:  # type: ignore[attr-defined]
        return None
    code = new_code()
    row.data_json = json.dumps(
        {
            "value": value,
            "code_hash": hasher.code_hash("contact:" + row.id, code),
            "tries": 0,
            "expires": (now + dt.timedelta(seconds=code_ttl)).timestamp(),
        }
    )
    db.flush()
    return code


def confirm_contact(
    db: Session,
    hasher: Hasher,
    tenant_id: str,
    user_id: str,
    method: Method,
    code: str,
    now: dt.datetime,
) -> str | None:
    """The address or number the code proves, now registered for ``method``
    (replacing an earlier one); None when the code is wrong, expired or its
    tries are used up (each try counts)."""
    pending = db.scalar(
        select(GateRegistration).where(
            GateRegistration.tenant_id == tenant_id,
            GateRegistration.user_id == user_id,
            GateRegistration.method == _pending(method),
        )
    )
    if pending is None:
        return None
    data = _data(pending)
    tries = data.get("tries")
    expires, value = data.get("expires"), data.get("value")
    if (
        not isinstance(tries, int)
        or tries >= MAX_CONTACT_TRIES
        or not isinstance(expires, float | int)
        or now.timestamp() > expires
        or not isinstance(value, str)
    ):
        return None
    data["tries"] = tries + 1
    pending.data_json = json.dumps(data)
    stored = data.get("code_hash")
    if not hasher.code_matches(
        stored if isinstance(stored, str) else None, "contact:" + pending.id, code
    ):
        return None
    db.delete(pending)
    remove(db, tenant_id, user_id, method)
    db.flush()
    db.add(
        GateRegistration(
            id=str(uuid.uuid4()),
            tenant_id=tenant_id,
            user_id=user_id,
            method=method.value,
            data_json=json.dumps({"value": value}),
            last_step=0,
            created_at=now,
            confirmed_at=now,
        )
    )
    return value


def contact_of(db: Session, tenant_id: str, user_id: str, method: Method) -> str | None:
    """The address or number the user registered for ``method``, if any."""
    row = db.scalar(
        select(GateRegistration).where(
            GateRegistration.tenant_id == tenant_id,
            GateRegistration.user_id == user_id,
            GateRegistration.method == method.value,
            GateRegistration.confirmed_at.is_not(None),
        )
    )
    value = _data(row).get("value") if row is not None else None
    return value if isinstance(value, str) else None


def _pending(method: Method) -> str:
    """How a contact being proved is kept: apart from the registered one,
    which stays usable until the new one is proved."""
    return f"{method.value}:pending"


def pending_totp(
    db: Session, master: MasterKey, tenant_id: str, user_id: str, now: dt.datetime
) -> str | None:
    """The secret of the authenticator being set up (made now if none is);
    None when one is already confirmed (remove it first)."""
    row = _row(db, tenant_id, user_id, Method.TOTP)
    if row is not None and row.confirmed_at is not None:
        return None
    if row is None:
        secret = totp.new_secret()
        row = GateRegistration(
            id=str(uuid.uuid4()),
            tenant_id=tenant_id,
            user_id=user_id,
            method=Method.TOTP.value,
            secret_wrapped=master.wrap(secret.encode(), gate_secret_context(tenant_id, user_id)),
            data_json="{}",
            last_step=0,
            created_at=now,
        )
        db.add(row)
        db.flush()
        return secret
    return _secret(master, row)


def confirm_totp(
    db: Session, master: MasterKey, tenant_id: str, user_id: str, code: str, now: dt.datetime
) -> bool:
    """The first code from the app: the authenticator is on file if it is right."""
    row = _row(db, tenant_id, user_id, Method.TOTP)
    if row is None or row.confirmed_at is not None:
        return False
    step = totp.matching_step(_secret(master, row), code, now=now.timestamp(), after=0)
    if step is None:
        return False
    row.last_step = step
    row.confirmed_at = now
    return True


def check_totp(
    db: Session, master: MasterKey, tenant_id: str, user_id: str, code: str, now: dt.datetime
) -> bool:
    """A code at a gate: right, within the drift, and of a later step than
    any taken before (the step is taken by this call)."""
    row = _row(db, tenant_id, user_id, Method.TOTP)
    if row is None or row.confirmed_at is None:
        return False
    step = totp.matching_step(_secret(master, row), code, now=now.timestamp(), after=row.last_step)
    if step is None:
        return False
    # Taken in one statement: of two requests with the same code at once, one wins.
    taken = db.execute(
        update(GateRegistration)
        .where(GateRegistration.id == row.id, GateRegistration.last_step < step)
        .values(last_step=step)
        .execution_options(synchronize_session=False)
    )
    return int(taken.rowcount) == 1  # type: ignore[attr-defined]


def set_questions(
    db: Session, tenant_id: str, user_id: str, answers: Mapping[str, str], now: dt.datetime
) -> None:
    """Register security questions (G2): ``answers`` by question key, already
    validated (``gates.questions.answer_problem``); only their argon2id hashes
    are kept. Replaces earlier ones."""
    hashes = {key: questions.hash_answer(answer) for key, answer in answers.items()}
    row = _row(db, tenant_id, user_id, Method.QUESTIONS)
    if row is None:
        row = GateRegistration(
            id=str(uuid.uuid4()),
            tenant_id=tenant_id,
            user_id=user_id,
            method=Method.QUESTIONS.value,
            last_step=0,
            created_at=now,
        )
        db.add(row)
    row.data_json = json.dumps({"answers": hashes}, sort_keys=True)
    row.confirmed_at = now
    db.flush()


def answer_hashes(db: Session, tenant_id: str, user_id: str | None) -> dict[str, str]:
    """The user's registered questions and their answers' hashes (empty: none)."""
    if user_id is None:
        return {}
    row = registered(db, tenant_id, user_id).get(Method.QUESTIONS)
    if row is None:
        return {}
    try:
        answers = json.loads(row.data_json).get("answers", {})
    except (ValueError, AttributeError):
        return {}
    return {k: v for k, v in answers.items() if isinstance(k, str) and isinstance(v, str)}


def pending_passkey(db: Session, tenant_id: str, user_id: str, now: dt.datetime) -> str | None:
    """A new challenge for the passkey being set up (kept in its pending
    registration); None when one is already confirmed (remove it first)."""
    row = _row(db, tenant_id, user_id, Method.PASSKEY)
    if row is not None and row.confirmed_at is not None:
        return None
    if row is None:
        row = GateRegistration(
            id=str(uuid.uuid4()),
            tenant_id=tenant_id,
            user_id=user_id,
            method=Method.PASSKEY.value,
            last_step=0,
            created_at=now,
        )
        db.add(row)
    challenge = passkey.new_challenge()
    row.data_json = json.dumps({"challenge": challenge})
    db.flush()
    return challenge


def confirm_passkey(
    db: Session,
    rp: passkey.RelyingParty,
    tenant_id: str,
    user_id: str,
    credential: str,
    now: dt.datetime,
) -> bool:
    """The browser's answer to the pending challenge: the passkey is on file
    if it proves one (the challenge is spent either way)."""
    row = _row(db, tenant_id, user_id, Method.PASSKEY)
    if row is None or row.confirmed_at is not None:
        return False
    challenge = _data(row).get("challenge")
    row.data_json = "{}"
    if not isinstance(challenge, str):
        return False
    try:
        made = passkey.verify_registration(rp, challenge=challenge, credential=credential)
    except passkey.PasskeyRefused:
        return False
    row.data_json = json.dumps(
        {"credential_id": made.credential_id, "public_key": made.public_key}, sort_keys=True
    )
    row.last_step = made.sign_count
    row.confirmed_at = now
    return True


def passkey_of(db: Session, tenant_id: str, user_id: str | None) -> passkey.Passkey | None:
    """The user's confirmed passkey, if any (the same statement for no user, T2)."""
    row = registered(db, tenant_id, user_id or "").get(Method.PASSKEY)
    if row is None:
        return None
    data = _data(row)
    credential_id, public_key = data.get("credential_id"), data.get("public_key")
    if not isinstance(credential_id, str) or not isinstance(public_key, str):
        return None
    return passkey.Passkey(credential_id, public_key, row.last_step)


def passkey_test_challenge(db: Session, tenant_id: str, user_id: str) -> str | None:
    """A new challenge to test the user's passkey in Security info (kept with
    it, used once); None when they have none."""
    row = registered(db, tenant_id, user_id).get(Method.PASSKEY)
    if row is None:
        return None
    data = _data(row)
    data["test_challenge"] = passkey.new_challenge()
    row.data_json = json.dumps(data, sort_keys=True)
    return str(data["test_challenge"])


def take_test_challenge(db: Session, tenant_id: str, user_id: str) -> str | None:
    """The passkey test's challenge, forgotten as it is taken."""
    row = registered(db, tenant_id, user_id).get(Method.PASSKEY)
    if row is None:
        return None
    data = _data(row)
    challenge = data.pop("test_challenge", None)
    row.data_json = json.dumps(data, sort_keys=True)
    db.flush()
    return challenge if isinstance(challenge, str) else None


def check_passkey(
    db: Session,
    rp: passkey.RelyingParty,
    tenant_id: str,
    user_id: str | None,
    challenge: str,
    credential: str,
) -> bool:
    """An answer at a gate: it proves the user's passkey for ``challenge``,
    and its signature counter moves on (taken in one statement, so a replayed
    answer, or one of a cloned authenticator, fails)."""
    found = passkey_of(db, tenant_id, user_id)
    if found is None or user_id is None:
        return False
    count = passkey.counter_after(rp, challenge=challenge, credential=credential, passkey=found)
    if count is None:
        return False
    if count == 0:
        return True  # an authenticator without a counter (most synced passkeys)
    moved = db.execute(
        update(GateRegistration)
        .where(
            GateRegistration.tenant_id == tenant_id,
            GateRegistration.user_id == user_id,
            GateRegistration.method == Method.PASSKEY.value,
            GateRegistration.last_step < count,
        )
        .values(last_step=count)
        .execution_options(synchronize_session=False)
    )
    return int(moved.rowcount) == 1  # type: ignore[attr-defined]


def remove(db: Session, tenant_id: str, user_id: str, method: Method) -> bool:
    """Forget the user's registration of ``method``; whether there was one."""
    row = _row(db, tenant_id, user_id, method)
    if row is None:
        return False
    db.delete(row)
    return True


def _row(db: Session, tenant_id: str, user_id: str, method: Method) -> GateRegistration | None:
    return db.scalar(
        select(GateRegistration).where(
            GateRegistration.tenant_id == tenant_id,
            GateRegistration.user_id == user_id,
            GateRegistration.method == method.value,
        )
    )


def _data(row: GateRegistration) -> dict[str, object]:
    try:
        found = json.loads(row.data_json or "{}")
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def _secret(master: MasterKey, row: GateRegistration) -> str:
    if row.secret_wrapped is None:
        raise RuntimeError(f"registration {row.id} has no secret")
    return master.unwrap(
        row.secret_wrapped, gate_secret_context(row.tenant_id, row.user_id)
    ).decode()


_KNOWN = frozenset(m.value for m in Method)
