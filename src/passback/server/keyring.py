"""The store's secrets under the master key (issue "Hardening", finding 1).

The store keeps two kinds of secret: each tenant's package keys (S3) and the
deployment's portal key (which hashes one-time codes). Both are wrapped under the
server's master key (:mod:`passback.crypto.masterkey`), which is kept outside the
database — a file (mode 0600) or ``PASSBACK_MASTER_KEY`` in the environment — so a
copy of the database opens no envelope and lets nobody try codes offline.

- :func:`master_key` reads the key (or makes the file, for a store that holds no
  wrapped secret yet);
- :func:`seal_store` wraps what a store from before this version kept in clear,
  checks every secret is under this key, and on SQLite wipes the clear copies
  (``secure_delete`` and a truncated write-ahead log);
- :func:`rewrap_store` moves every secret to a new key (``passback master-key rotate``).
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from passback.crypto.errors import KeyFormatError, UnwrapError
from passback.crypto.keys import PackageKey
from passback.crypto.masterkey import MasterKey, is_wrapped, wrapped_key_id
from passback.server.errors import KeyringError
from passback.server.store.models import (
    Admin,
    GateRegistration,
    ServerSecret,
    StoredPackageKey,
)

#: The environment variable that may hold the master key itself (base64).
MASTER_KEY_ENV = "PASSBACK_MASTER_KEY"
MASTER_KEY_FILE = "master.key"


def package_key_context(tenant_id: str, key_id: str) -> str:
    return f"package-key/{tenant_id}/{key_id}"


def server_secret_context(name: str) -> str:
    return f"server-secret/{name}"


def gate_secret_context(tenant_id: str, user_id: str) -> str:
    """A user's authenticator secret (``portal.registrations``)."""
    return f"totp/{tenant_id}/{user_id}"


def admin_secret_context(tenant_id: str, admin_id: str) -> str:
    """An administrator's authenticator secret (``console.admins``)."""
    return f"admin-totp/{tenant_id}/{admin_id}"


def wrap_package_key(master: MasterKey, tenant_id: str, key: PackageKey) -> str:
    return master.wrap(key.secret, package_key_context(tenant_id, key.key_id))


def open_package_key(master: MasterKey, row: StoredPackageKey) -> PackageKey:
    """Raises: KeyringError: the row does not open under ``master``."""
    secret = _unwrap(master, row.key_wrapped, package_key_context(row.tenant_id, row.key_id))
    try:
        return PackageKey.checked(row.key_id, secret)
    except KeyFormatError as exc:
        raise KeyringError(f"a stored package key is not valid: {exc}") from None


def open_server_secret(master: MasterKey, row: ServerSecret) -> bytes:
    """Raises: KeyringError: the row does not open under ``master``."""
    return _unwrap(master, row.value_wrapped, server_secret_context(row.name))


def master_key(key_file: Path, *, environment: str | None, may_create: bool) -> MasterKey:
    """The master key: from ``environment`` (``PASSBACK_MASTER_KEY``) if set, else
    from ``key_file``; a missing file is made (0600) only if ``may_create``.

    Raises:
        KeyringError: unreadable or malformed, or missing and not to be made.
    """
    if environment:
        try:
            return MasterKey.from_text(environment)
        except KeyFormatError as exc:
            raise KeyringError(f"{MASTER_KEY_ENV}: {exc}") from None
    try:
        return MasterKey.from_text(key_file.read_text(encoding="ascii"))
    except FileNotFoundError:
        if not may_create:
            raise KeyringError(
                f"no master key at {key_file}: the store's secrets are wrapped under one; "
                f"give its file with --master-key-file or its text in {MASTER_KEY_ENV}"
            ) from None
    except (OSError, UnicodeDecodeError, KeyFormatError) as exc:
        raise KeyringError(f"cannot read the master key {key_file}: {exc}") from None
    key = MasterKey.generate()
    write_key_file(key_file, key)
    return key


def store_master_key(session: Session, key_file: Path, environment: str | None) -> MasterKey:
    """The master key of the store ``session`` opens (see :func:`master_key`; a new
    key only for a store with no wrapped secret yet), with every secret sealed
    under it (:func:`seal_store`).

    Raises:
        KeyringError: as :func:`master_key` and :func:`seal_store` do.
    """
    key = master_key(key_file, environment=environment, may_create=not store_key_ids(session))
    seal_store(session, key)
    return key


def write_key_file(path: Path, key: MasterKey) -> None:
    """Write ``key`` to a new file ``path`` (mode 0600; never over another file)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise KeyringError(f"cannot create the master key file {path}: {exc.strerror}") from None
    with os.fdopen(fd, "w", encoding="ascii") as out:
        out.write(key.export() + "\n")
        out.flush()
        os.fsync(out.fileno())


def store_key_ids(session: Session) -> set[str]:
    """The master key ids the store's wrapped secrets name (empty: none wrapped yet)."""
    return {wrapped_key_id(v) for v in _stored_values(session) if is_wrapped(v)}


def seal_store(session: Session, master: MasterKey) -> int:
    """Wrap every secret kept in clear under ``master`` and check the others are
    under it; commits, and on SQLite wipes the clear copies. Returns how many
    were wrapped.

    Raises:
        KeyringError: a secret is wrapped under another master key.
    """
    others = store_key_ids(session) - {master.key_id}
    if others:
        raise KeyringError(
            f"the store's secrets are wrapped under master key {', '.join(sorted(others))}, "
            f"but the key given is {master.key_id}: give the right --master-key-file "
            f"or {MASTER_KEY_ENV}"
        )
    wrapped = 0
    for key_row in session.scalars(select(StoredPackageKey)):
        if not is_wrapped(key_row.key_wrapped):
            clear = PackageKey.from_b64(key_row.key_id, key_row.key_wrapped)
            key_row.key_wrapped = wrap_package_key(master, key_row.tenant_id, clear)
            wrapped += 1
    for secret_row in session.scalars(select(ServerSecret)):
        if not is_wrapped(secret_row.value_wrapped):
            clear_bytes = base64.b64decode(secret_row.value_wrapped)
            context = server_secret_context(secret_row.name)
            secret_row.value_wrapped = master.wrap(clear_bytes, context)
            wrapped += 1
    session.commit()
    if wrapped:
        _wipe_free_space(session)
    return wrapped


def rewrap_store(session: Session, old: MasterKey, new: MasterKey) -> int:
    """Move every secret from ``old`` to ``new`` in one transaction (committed);
    returns how many.

    Raises:
        KeyringError: a secret does not open under ``old``.
    """
    moved = 0
    for key_row in session.scalars(select(StoredPackageKey)):
        key = open_package_key(old, key_row)
        key_row.key_wrapped = wrap_package_key(new, key_row.tenant_id, key)
        moved += 1
    for secret_row in session.scalars(select(ServerSecret)):
        value = open_server_secret(old, secret_row)
        secret_row.value_wrapped = new.wrap(value, server_secret_context(secret_row.name))
        moved += 1
    for registration in session.scalars(
        select(GateRegistration).where(GateRegistration.secret_wrapped.is_not(None))
    ):
        assert registration.secret_wrapped is not None
        context = gate_secret_context(registration.tenant_id, registration.user_id)
        value = _unwrap(old, registration.secret_wrapped, context)
        registration.secret_wrapped = new.wrap(value, context)
        moved += 1
    for admin in session.scalars(select(Admin).where(Admin.totp_wrapped.is_not(None))):
        assert admin.totp_wrapped is not None
        context = admin_secret_context(admin.tenant_id, admin.id)
        admin.totp_wrapped = new.wrap(_unwrap(old, admin.totp_wrapped, context), context)
        moved += 1
    session.commit()
    _wipe_free_space(session)
    return moved


def _stored_values(session: Session) -> list[str]:
    gate_secrets = select(GateRegistration.secret_wrapped).where(
        GateRegistration.secret_wrapped.is_not(None)
    )
    return [
        *session.scalars(select(StoredPackageKey.key_wrapped)),
        *session.scalars(select(ServerSecret.value_wrapped)),
        *(v for v in session.scalars(gate_secrets) if v is not None),
        *(v for v in session.scalars(select(Admin.totp_wrapped)) if v is not None),
    ]


def _unwrap(master: MasterKey, value: str, context: str) -> bytes:
    try:
        return master.unwrap(value, context)
    except UnwrapError as exc:
        raise KeyringError(f"a stored secret does not open: {exc}") from None


def _wipe_free_space(session: Session) -> None:
    """On SQLite, leave no copy of a replaced value in the file or its log: the
    connection deletes securely (engine pragmas), and the log is emptied."""
    if session.get_bind().dialect.name == "sqlite":
        session.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
        session.commit()
