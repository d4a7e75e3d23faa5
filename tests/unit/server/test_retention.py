"""Pruning: old support records and ended portal flows go; recent ones stay."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from passback.server.console import admins
from passback.server.console import sessions as console_sessions
from passback.server.console.roles import Role
from passback.server.portal import account_session
from passback.server.retention import prune
from passback.server.store import create_engine, session_factory, upgrade
from passback.server.store.models import AccountSession, AdminSession, PortalFlow, SupportRecord
from passback.server.tenants import create_tenant
from tests.support.keys import TEST_MASTER_KEY

NOW = dt.datetime(2026, 11, 22, 12, 0, tzinfo=dt.UTC)


def record(age: dt.timedelta) -> SupportRecord:
    return SupportRecord(
        code=str(uuid.uuid4()),
        created_at=NOW - age,
        error="not_found",
        status=404,
        method="GET",
        path="/nope",
        message="Not found.",
    )


def flow(tenant_id: str, *, expired: dt.timedelta, completed: dt.timedelta | None) -> PortalFlow:
    return PortalFlow(
        id_hash=uuid.uuid4().hex,
        tenant_id=tenant_id,
        step="code",
        expires_at=NOW - expired,
        created_at=NOW - expired - dt.timedelta(minutes=10),
        completed_at=None if completed is None else NOW - completed,
    )


def session(tenant_id: str, *, seen: dt.timedelta, created: dt.timedelta) -> AccountSession:
    row = account_session.new_session(
        tenant_id=tenant_id,
        user_id="u",
        state=account_session.State.SIGNED_IN,
        account={},
        password=None,
        now=NOW - created,
    ).row
    row.last_seen_at = NOW - seen
    return row


def console_session(
    db: Session, tenant_id: str, *, seen: dt.timedelta, created: dt.timedelta
) -> None:
    admin = admins.invite(
        db,
        tenant_id,
        email=f"{uuid.uuid4().hex[:8]}@acme.test",
        name="Ada",
        role=Role.TENANT_ADMIN,
        invited_by=None,
        master=TEST_MASTER_KEY,
        now=NOW,
    )
    row = console_sessions.new_session(
        tenant_id=tenant_id, admin_id=admin.admin_id, now=NOW - created
    ).row
    row.last_seen_at = NOW - seen
    row.expires_at = NOW - created + console_sessions.MAX_AGE
    db.add(row)


def test_prune_keeps_what_is_recent(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    upgrade(url)
    engine = create_engine(url)
    try:
        with session_factory(engine)() as db, db.begin():
            tenant = create_tenant(db, "Acme", master_key=TEST_MASTER_KEY).tenant_id
            db.add_all(
                [
                    record(dt.timedelta(days=91)),
                    record(dt.timedelta(days=89)),
                    flow(tenant, expired=dt.timedelta(days=2), completed=None),
                    flow(tenant, expired=-dt.timedelta(minutes=5), completed=dt.timedelta(days=2)),
                    flow(tenant, expired=dt.timedelta(hours=1), completed=None),
                    flow(tenant, expired=-dt.timedelta(minutes=5), completed=None),
                    session(tenant, seen=dt.timedelta(minutes=1), created=dt.timedelta(hours=1)),
                    session(tenant, seen=dt.timedelta(minutes=16), created=dt.timedelta(hours=1)),
                    session(tenant, seen=dt.timedelta(minutes=1), created=dt.timedelta(hours=9)),
                ]
            )
            console_session(db, tenant, seen=dt.timedelta(minutes=1), created=dt.timedelta(hours=1))
            console_session(
                db, tenant, seen=dt.timedelta(minutes=16), created=dt.timedelta(hours=1)
            )
            console_session(db, tenant, seen=dt.timedelta(minutes=1), created=dt.timedelta(hours=9))
        with session_factory(engine)() as db, db.begin():
            pruned = prune(db, NOW, support_retention_days=90)
        assert dataclasses.astuple(pruned) == (1, 2, 2, 2)
        with session_factory(engine)() as db:
            assert db.scalar(select(func.count()).select_from(SupportRecord)) == 1
            assert db.scalar(select(func.count()).select_from(PortalFlow)) == 2
            assert db.scalar(select(func.count()).select_from(AccountSession)) == 1
            assert db.scalar(select(func.count()).select_from(AdminSession)) == 1
    finally:
        engine.dispose()
