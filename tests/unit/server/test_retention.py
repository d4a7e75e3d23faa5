"""Pruning: old support records, operation records, audit events, ended portal
flows and dead sessions go; recent ones stay; a large backlog goes in batches."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

from sqlalchemy import event as sa_event
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from passback.server import audit
from passback.server.console import admins
from passback.server.console import sessions as console_sessions
from passback.server.console.roles import Role
from passback.server.portal import account_session
from passback.server.retention import Pruned, Retention, prune, prune_all
from passback.server.store import create_engine, session_factory, upgrade
from passback.server.store.models import (
    AccountSession,
    AdminSession,
    AuditEvent,
    CodeSend,
    OperationRecord,
    PortalFlow,
    SupportRecord,
)
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


def operation(tenant_id: str, age: dt.timedelta) -> OperationRecord:
    return OperationRecord(
        tenant_id=tenant_id,
        request_id=str(uuid.uuid4()),
        user_id="u",
        operation="reset",
        support_code=str(uuid.uuid4()),
        created_at=NOW - age,
    )


def event(db: Session, tenant_id: str, age: dt.timedelta) -> None:
    audit.record(
        db,
        tenant_id=tenant_id,
        user_id="u",
        activity=audit.Activity.SIGN_IN,
        success=True,
        at=NOW - age,
    )


def code_send(tenant_id: str, age: dt.timedelta) -> CodeSend:
    return CodeSend(
        id=str(uuid.uuid4()),
        tenant_id=tenant_id,
        user_id="u",
        client_hash="c" * 64,
        channel="mail",
        at=NOW - age,
    )


KEEP = Retention(support_days=90, audit_days=366)


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
            db.add_all(
                [operation(tenant, dt.timedelta(days=91)), operation(tenant, dt.timedelta(days=89))]
            )
            db.add_all(
                [code_send(tenant, dt.timedelta(days=2)), code_send(tenant, dt.timedelta(hours=1))]
            )
            event(db, tenant, dt.timedelta(days=367))
            event(db, tenant, dt.timedelta(days=365))
        with session_factory(engine)() as db, db.begin():
            pruned = prune(db, NOW, KEEP)
        assert pruned == Pruned(
            support_records=1,
            portal_flows=2,
            account_sessions=2,
            admin_sessions=2,
            operations=1,
            audit_events=1,
            code_sends=1,
        )
        with session_factory(engine)() as db:
            for table in (
                SupportRecord,
                AccountSession,
                AdminSession,
                OperationRecord,
                AuditEvent,
                CodeSend,
            ):
                assert db.scalar(select(func.count()).select_from(table)) == 1, table
            assert db.scalar(select(func.count()).select_from(PortalFlow)) == 2
    finally:
        engine.dispose()


def test_a_backlog_goes_in_batches_each_its_own_transaction(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    upgrade(url)
    engine = create_engine(url)
    try:
        sessions = session_factory(engine)
        with sessions() as db, db.begin():
            tenant = create_tenant(db, "Acme", master_key=TEST_MASTER_KEY).tenant_id
            for _ in range(7):
                event(db, tenant, dt.timedelta(days=400))
            event(db, tenant, dt.timedelta(days=1))
        commits = []
        sa_event.listen(engine, "commit", lambda _connection: commits.append(1))
        pruned = prune_all(sessions, KEEP, batch=3, now=NOW)
        assert pruned.audit_events == 7
        assert len(commits) == 3  # 3 + 3 + 1: the last batch is short, so it stops
        with sessions() as db:
            assert db.scalar(select(func.count()).select_from(AuditEvent)) == 1
    finally:
        engine.dispose()
