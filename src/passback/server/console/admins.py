"""A tenant's administrators in the store (SPEC U1, G7): invited by a one-time
set-up link, active once the link set a password and an authenticator app.

Both are required whatever the tenant's policy for its users says (G7: an
administrator always passes two gates, never security questions). The
password is kept as an argon2id hash; the authenticator's secret wrapped
under the master key; the link only as its SHA-256. Plain functions over a
SQLAlchemy ``Session``: the caller owns the transaction.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import unicodedata
import uuid
from typing import Literal

import argon2
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from passback.crypto.masterkey import MasterKey
from passback.policy.banned import check_banned
from passback.server.console import passkeys
from passback.server.console.errors import ConsoleError
from passback.server.console.roles import Role
from passback.server.gate_policies import gate_policy
from passback.server.i18n.translations import N_
from passback.server.keyring import admin_secret_context
from passback.server.portal.codes import flow_hash, new_flow_token
from passback.server.portal.gates import totp
from passback.server.store.models import Admin, AdminSession, Tenant, Token

#: How long a set-up link works: long enough to reach someone over a weekend.
SETUP_LIFETIME = dt.timedelta(hours=72)
#: An administrator's password: long, as it guards every account of the tenant.
MIN_PASSWORD = 12
MAX_PASSWORD = 256
MAX_EMAIL = 254
MAX_NAME = 128

WRONG_CODE = N_("That code is not right. Type the code your authenticator app shows now.")

_HASHER = argon2.PasswordHasher()  # argon2id, RFC 9106's second recommended profile


@functools.cache
def unknown_hash() -> str:
    """Verified against for an unknown email, so that time tells nothing (T2).
    Made once, not at import: the app makes it before it serves."""
    return _HASHER.hash("an administrator that does not exist")


@dataclasses.dataclass(frozen=True)
class Invitation:
    admin_id: str
    email: str
    token: str = dataclasses.field(repr=False)
    expires_at: dt.datetime


def setup_path(slug: str, token: str) -> str:
    return f"/console/{slug}/setup/{token}"


def setup_link(origin: str, slug: str, token: str) -> str:
    """The set-up link as an absolute URL: ``origin`` is the public URL
    configured, else the one the request came to."""
    return origin.rstrip("/") + setup_path(slug, token)


def canonical_email(text: str) -> str:
    """The sign-in name as stored: trimmed, NFKC, lower-case.

    Raises:
        ConsoleError: ``invalid_email``: not one address.
    """
    email = unicodedata.normalize("NFKC", text.strip()).lower()
    local, at, domain = email.rpartition("@")
    if (
        not at
        or not local
        or "." not in domain
        or len(email) > MAX_EMAIL
        or any(c.isspace() or not c.isprintable() for c in email)
    ):
        raise ConsoleError(
            "invalid_email", N_("Enter an email address, like name@example.com."), field="email"
        )
    return email


def check_name(text: str) -> str:
    name = " ".join(text.split())
    if not name or len(name) > MAX_NAME or not name.isprintable():
        raise ConsoleError(
            "invalid_name", N_("Enter a name of at most 128 characters."), field="name"
        )
    return name


def invite(
    db: Session,
    tenant_id: str,
    *,
    email: str,
    name: str,
    role: Role,
    invited_by: str | None,
    master: MasterKey,
    now: dt.datetime,
) -> Invitation:
    """A set-up link for a new administrator, or a new link (and a new
    authenticator secret) for one who has not finished setting up.

    Raises:
        ConsoleError: ``invalid_email``, ``invalid_name``, or ``admin_exists``
            (409): an active administrator has this email.
    """
    email, name = canonical_email(email), check_name(name)
    row = db.scalar(select(Admin).where(Admin.tenant_id == tenant_id, Admin.email == email))
    if row is not None and row.activated_at is not None:
        raise ConsoleError(
            "admin_exists",
            N_("An administrator with this email address exists already."),
            status=409,
            field="email",
        )
    if row is None:
        row = Admin(
            id=str(uuid.uuid4()),
            tenant_id=tenant_id,
            email=email,
            created_at=now,
            totp_last_step=0,
        )
        db.add(row)
    token = new_flow_token()
    row.name, row.role, row.invited_by = name, role.value, invited_by
    row.setup_hash = flow_hash(token)
    row.setup_expires_at = now + SETUP_LIFETIME
    secret = totp.new_secret()
    row.totp_wrapped = master.wrap(secret.encode(), admin_secret_context(tenant_id, row.id))
    db.flush()
    return Invitation(row.id, email, token, row.setup_expires_at)


def by_setup_token(db: Session, tenant_id: str, token: str, now: dt.datetime) -> Admin:
    """The administrator whose set-up link this is.

    Raises:
        ConsoleError: ``setup_link_invalid`` (404): unknown, used or expired.
    """
    row = db.scalar(select(Admin).where(Admin.setup_hash == flow_hash(token[:128])))
    if (
        row is None
        or row.tenant_id != tenant_id
        or row.setup_expires_at is None
        or now >= row.setup_expires_at
    ):
        raise ConsoleError(
            "setup_link_invalid",
            N_(
                "This set-up link does not work: it was used, it expired, or it is not "
                "complete. Ask an administrator of your organisation for a new one."
            ),
            status=404,
        )
    return row


def totp_secret(master: MasterKey, row: Admin) -> str:
    if row.totp_wrapped is None:
        raise RuntimeError(f"administrator {row.id} has no authenticator secret")
    return master.unwrap(row.totp_wrapped, admin_secret_context(row.tenant_id, row.id)).decode()


def complete_setup(
    db: Session,
    row: Admin,
    *,
    password: str,
    confirm: str,
    code: str,
    master: MasterKey,
    now: dt.datetime,
) -> None:
    """Set the password and prove the authenticator: the administrator is
    active, the link spent.

    Raises:
        ConsoleError: the password is not acceptable (``field`` password),
            the two do not match, or the code is wrong (``field`` code).
    """
    _check_new(row, password, confirm)
    step = totp.matching_step(totp_secret(master, row), code, now=now.timestamp(), after=0)
    if step is None:
        raise ConsoleError(
            "wrong_code",
            WRONG_CODE,
            field="code",
        )
    row.credential_hash = _HASHER.hash(password)
    row.totp_last_step = step
    row.setup_hash = None
    row.setup_expires_at = None
    row.activated_at = now
    db.flush()


def set_password(row: Admin, password: str, confirm: str) -> None:
    """Keep ``password`` (its argon2id hash) as ``row``'s.

    Raises:
        ConsoleError: not acceptable (``check_password``), or the two differ.
    """
    _check_new(row, password, confirm)
    row.credential_hash = _HASHER.hash(password)


def _check_new(row: Admin, password: str, confirm: str) -> None:
    check_password(password, row.email)
    if password != confirm:
        raise ConsoleError(
            "passwords_differ", N_("The two passwords are not the same."), field="confirm"
        )


def check_password(password: str, email: str) -> None:
    """An administrator's new password: 12 to 256 characters, not the email's
    name, not a common or easily guessed one (``policy.banned``).

    Raises:
        ConsoleError: ``field`` password, saying which rule.
    """
    if len(password) < MIN_PASSWORD:
        raise ConsoleError(
            "too_short",
            N_("Use at least %(n)d characters."),
            values={"n": MIN_PASSWORD},
            field="password",
        )
    if len(password) > MAX_PASSWORD or any(0xD800 <= ord(c) <= 0xDFFF for c in password):
        raise ConsoleError(
            "too_long",
            N_("Use at most %(n)d characters."),
            values={"n": MAX_PASSWORD},
            field="password",
        )
    local = email.partition("@")[0]
    if check_banned(password, [local] if len(local) >= 4 else []) is not None:
        raise ConsoleError(
            "too_common",
            N_("This password is too easy to guess. Choose another one."),
            field="password",
        )


def password_matches(row: Admin | None, password: str) -> bool:
    """Whether ``password`` is ``row``'s; as slow for no row, or an inactive one."""
    stored = row.credential_hash if row is not None and row.activated_at else None
    try:
        _HASHER.verify(stored or unknown_hash(), password[:MAX_PASSWORD])
    except (argon2.exceptions.VerificationError, argon2.exceptions.InvalidHashError):
        return False
    return stored is not None


def take_code(db: Session, row: Admin, code: str, master: MasterKey, now: dt.datetime) -> bool:
    """Whether ``code`` is right now and was never taken before; taking it is
    one statement, so two requests cannot both spend one code."""
    step = totp.matching_step(
        totp_secret(master, row), code, now=now.timestamp(), after=row.totp_last_step
    )
    if step is None:
        return False
    taken = db.execute(
        update(Admin)
        .where(Admin.id == row.id, Admin.totp_last_step < step)
        .values(totp_last_step=step)
        .returning(Admin.id)
        .execution_options(synchronize_session=False)
    ).scalar_one_or_none()
    return taken is not None


def active(db: Session, tenant_id: str, email: str) -> Admin | None:
    row = db.scalar(select(Admin).where(Admin.tenant_id == tenant_id, Admin.email == email))
    if row is None or row.activated_at is None or row.disabled_at is not None:
        return None
    return row


def listed(db: Session, tenant_id: str) -> list[Admin]:
    return list(db.scalars(select(Admin).where(Admin.tenant_id == tenant_id).order_by(Admin.email)))


def state(row: Admin) -> Literal["invited", "active", "disabled"]:
    """Where ``row`` stands: invited (not set up yet), active, or disabled."""
    if row.disabled_at is not None:
        return "disabled"
    return "active" if row.activated_at is not None else "invited"


def of_tenant(db: Session, tenant_id: str, admin_id: str) -> Admin:
    """Raises ConsoleError ``admin_not_found`` (404)."""
    row = db.get(Admin, admin_id[:64])
    if row is None or row.tenant_id != tenant_id:
        raise ConsoleError("admin_not_found", N_("There is no such administrator."), status=404)
    return row


def set_disabled(
    db: Session, row: Admin, *, by: str | None, disabled: bool, now: dt.datetime
) -> None:
    """Disable (their sessions end, their tokens stop) or enable again.

    Args:
        by: the administrator asking; None: the tenant's own API token (no
            account of its own, but it may not disable the last one either).

    Raises:
        ConsoleError: ``own_account`` (one does not disable oneself), or
            ``last_admin``: the tenant would have no active tenant administrator.
    """
    if disabled:
        _may_take_away(db, row, by, N_("You cannot disable your own account."))
    elif row.id == by:
        raise ConsoleError("own_account", N_("You cannot disable your own account."), status=409)
    row.disabled_at = now if disabled else None
    if disabled:
        db.execute(delete(AdminSession).where(AdminSession.admin_id == row.id))
    db.flush()


def new_setup(
    db: Session,
    row: Admin,
    *,
    by: str | None,
    master: MasterKey,
    now: dt.datetime,
    operator: bool = False,
) -> Invitation:
    """A new set-up link for an administrator who lost the authenticator (or
    the password): both are cleared and set again from the link; their
    sessions end, their passkeys are forgotten and their API tokens are
    revoked for good (a lost device).

    Args:
        by: the administrator asking; None: the tenant's own API token.
        operator: the operator asks (``passback tenant admin-link``), who may
            do it for the last tenant administrator too.

    Raises:
        ConsoleError: ``own_account``, or ``last_admin`` (as for disabling).
    """
    if not operator:
        _may_take_away(db, row, by, N_("You cannot ask a new set-up link for yourself."))
    db.execute(
        update(Token)
        .where(Token.admin_id == row.id, Token.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    row.credential_hash = None
    row.activated_at = None
    row.totp_last_step = 0
    db.execute(delete(AdminSession).where(AdminSession.admin_id == row.id))
    passkeys.remove_all(db, row.id)
    return invite(
        db,
        row.tenant_id,
        email=row.email,
        name=row.name,
        role=Role(row.role),
        invited_by=row.invited_by,
        master=master,
        now=now,
    )


def _may_take_away(db: Session, row: Admin, by: str | None, own: str) -> None:
    """Raises ConsoleError unless ``by`` (None: the tenant's API token) may end
    ``row``'s access."""
    if by is not None and row.id == by:
        raise ConsoleError("own_account", own, status=409)
    # One such change of a tenant at a time (PostgreSQL): two administrators
    # disabling each other at once must not leave the tenant with none.
    db.execute(select(Tenant.id).where(Tenant.id == row.tenant_id).with_for_update())
    if _last_tenant_admin(db, row):
        raise ConsoleError(
            "last_admin",
            N_("This is the last active tenant administrator: invite another one first."),
            status=409,
        )


def _last_tenant_admin(db: Session, row: Admin) -> bool:
    if row.role != Role.TENANT_ADMIN.value or row.activated_at is None or row.disabled_at:
        return False
    others = db.scalars(
        select(Admin.id).where(
            Admin.tenant_id == row.tenant_id,
            Admin.id != row.id,
            Admin.role == Role.TENANT_ADMIN.value,
            Admin.activated_at.is_not(None),
            Admin.disabled_at.is_(None),
        )
    ).first()
    return others is None


#: Whom a G9 mail goes to: each address with the language its administrator last used.
Recipients = list[tuple[str, str | None]]


def to_tell(db: Session, tenant_id: str, *, always: bool = False) -> Recipients:
    """G9: whom to mail when an administrator's password is reset, with the
    language each last used: every active administrator, unless the tenant's
    policy turned it off (and ``always`` is not asked)."""
    if not always and not gate_policy(db, tenant_id).notify_admins:
        return []
    return [
        (email, language)
        for email, language in db.execute(
            select(Admin.email, Admin.language).where(
                Admin.tenant_id == tenant_id,
                Admin.activated_at.is_not(None),
                Admin.disabled_at.is_(None),
            )
        )
    ]
