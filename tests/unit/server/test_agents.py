"""The tenant's package key as new envelopes are sealed under it."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from passback.crypto.keys import PackageKey
from passback.crypto.masterkey import MasterKey
from passback.server.agents import newest_package_key
from passback.server.keyring import wrap_package_key
from passback.server.store.models import StoredPackageKey, utcnow
from passback.server.tenants import create_tenant
from tests.support.keys import TEST_MASTER_KEY


def _add_key(db: Session, tenant_id: str, master: MasterKey) -> PackageKey:
    key = PackageKey.generate()
    wrapped = wrap_package_key(master, tenant_id, key)
    later = utcnow() + dt.timedelta(seconds=1)
    db.add(
        StoredPackageKey(
            tenant_id=tenant_id, key_id=key.key_id, key_wrapped=wrapped, created_at=later
        )
    )
    db.flush()
    return key


def test_the_newest_key_in_service_each_time(db: Session) -> None:
    """Opened once per stored value, yet a rotation or a retirement is seen at once."""
    tenant = create_tenant(db, "Acme", master_key=TEST_MASTER_KEY)
    first = newest_package_key(db, tenant.tenant_id, TEST_MASTER_KEY)
    assert newest_package_key(db, tenant.tenant_id, TEST_MASTER_KEY) is first  # not reopened
    rotated = _add_key(db, tenant.tenant_id, TEST_MASTER_KEY)
    newest = newest_package_key(db, tenant.tenant_id, TEST_MASTER_KEY)
    assert (newest.key_id, newest.secret) == (rotated.key_id, rotated.secret)
    row = db.scalar(select(StoredPackageKey).where(StoredPackageKey.key_id == rotated.key_id))
    assert row is not None
    row.retired_at = utcnow()
    db.flush()
    assert newest_package_key(db, tenant.tenant_id, TEST_MASTER_KEY).key_id == first.key_id


def test_a_key_rewrapped_under_another_master_key_opens_under_it(db: Session) -> None:
    tenant = create_tenant(db, "Acme", master_key=TEST_MASTER_KEY)
    key = newest_package_key(db, tenant.tenant_id, TEST_MASTER_KEY)
    other = MasterKey.generate()
    row = db.scalar(select(StoredPackageKey).where(StoredPackageKey.key_id == key.key_id))
    assert row is not None
    row.key_wrapped = wrap_package_key(other, tenant.tenant_id, key)
    db.flush()
    assert newest_package_key(db, tenant.tenant_id, other).secret == key.secret
