from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from passback.protocol.anchors import decode as decode_anchor
from passback.protocol.messages import SyncUser
from passback.server.store import create_engine, session_factory, upgrade
from passback.server.store.models import DirectoryUser
from passback.server.sync import remove_unseen, upsert_users
from passback.server.tenants import create_tenant
from tests.support.keys import TEST_MASTER_KEY

T0 = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize("raw", [b"\x00", b"\xff" * 16, bytes(range(64))])
def test_decode_anchor(raw: bytes) -> None:
    assert decode_anchor(b64(raw)) == raw
    assert decode_anchor(base64.urlsafe_b64encode(raw).decode()) == raw  # padded too


@pytest.mark.parametrize("bad", ["", "!!!!", b64(bytes(65)), "a"])
def test_decode_anchor_refuses(bad: str) -> None:
    with pytest.raises(ValueError, match="anchor"):
        decode_anchor(bad)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Session]:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    upgrade(url)
    engine = create_engine(url)
    with session_factory(engine)() as session:
        yield session
    engine.dispose()


def test_upsert_skips_bad_anchors_and_keeps_the_last_duplicate(
    db: Session, caplog: pytest.LogCaptureFixture
) -> None:
    tenant = create_tenant(db, "Acme", master_key=TEST_MASTER_KEY).tenant_id
    users = [
        SyncUser("!bad!", "bad", None, None, True),
        SyncUser(b64(b"\x01"), "first", None, None, True),
        SyncUser(b64(b"\x01"), "second", None, None, False),
    ]
    assert upsert_users(db, tenant, users, T0) == 1
    assert "bad anchor" in caplog.text
    [row] = db.scalars(sa.select(DirectoryUser))
    assert (row.sam_account_name, row.enabled, row.synced_at) == ("second", False, T0)
    assert upsert_users(db, tenant, [users[0]], T0) == 0


def test_remove_unseen_is_per_tenant(db: Session) -> None:
    acme, other = (
        create_tenant(db, "Acme", master_key=TEST_MASTER_KEY).tenant_id,
        create_tenant(db, "Other", master_key=TEST_MASTER_KEY).tenant_id,
    )
    old = SyncUser(b64(b"\x01"), "old", None, None, True)
    upsert_users(db, acme, [old], T0)
    upsert_users(db, other, [old], T0)
    later = T0 + dt.timedelta(minutes=1)
    upsert_users(db, acme, [SyncUser(b64(b"\x02"), "new", None, None, True)], later)
    assert remove_unseen(db, acme, later) == 1
    names = {(u.tenant_id, u.sam_account_name) for u in db.scalars(sa.select(DirectoryUser))}
    assert names == {(acme, "new"), (other, "old")}
