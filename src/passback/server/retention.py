"""Forgetting what is no longer needed: support records and operation records
after the support retention, audit events after the audit retention, portal
flows a day after they ended or expired and code sends a day after they went
out, "My account" and console sessions once they can no longer be used.
Anonymous visitors create flows, support records and audit events (a
mistyped address, a bot, a failed sign-in), and every sign-in makes a
session and an operation record, so without this the store only grows.

Rows of the long-lived tables go in batches of ``BATCH`` per transaction: the
first prune after a long pause (or a shorter retention) may have millions to
delete, and one transaction holding SQLite's write lock for that long would
make resets wait past the store's busy timeout.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging

from sqlalchemy import ColumnElement, delete, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session, sessionmaker

from passback.server.console.sessions import IDLE_TIMEOUT as ADMIN_IDLE_TIMEOUT
from passback.server.portal.account_session import IDLE_TIMEOUT
from passback.server.store.models import (
    AccountSession,
    AdminSession,
    AuditEvent,
    CodeSend,
    OperationRecord,
    PortalFlow,
    SupportRecord,
    utcnow,
)

logger = logging.getLogger(__name__)

#: A flow stays readable for a day after it ended, for support cases.
FLOW_GRACE = dt.timedelta(days=1)
#: How often the server prunes.
INTERVAL_SECONDS = 3600
#: Rows of one table one transaction deletes at most.
BATCH = 5000


@dataclasses.dataclass(frozen=True)
class Retention:
    """Days each kind of record is kept."""

    #: Support records and operation records: what a support code finds (E2).
    support_days: int
    #: Audit events (E5): what the reports show.
    audit_days: int


@dataclasses.dataclass(frozen=True)
class Pruned:
    support_records: int
    portal_flows: int
    account_sessions: int = 0
    admin_sessions: int = 0
    operations: int = 0
    audit_events: int = 0
    code_sends: int = 0

    def __add__(self, other: Pruned) -> Pruned:
        return Pruned(
            *(
                a + b
                for a, b in zip(dataclasses.astuple(self), dataclasses.astuple(other), strict=True)
            )
        )


def prune(db: Session, now: dt.datetime, keep: Retention, batch: int = BATCH) -> Pruned:
    """Delete what is past its time, at most ``batch`` rows of each table;
    the caller commits, and calls again while a count reached ``batch``."""
    support_before = now - dt.timedelta(days=keep.support_days)
    records = _batch(db, SupportRecord.code, SupportRecord.created_at < support_before, batch)
    operations = _batch(
        db,
        OperationRecord.support_code,
        OperationRecord.created_at < support_before,
        batch,
    )
    events = _batch(
        db, AuditEvent.id, AuditEvent.at < now - dt.timedelta(days=keep.audit_days), batch
    )
    flows = _batch(
        db,
        PortalFlow.id_hash,
        or_(PortalFlow.expires_at < now - FLOW_GRACE, PortalFlow.completed_at < now - FLOW_GRACE),
        batch,
    )
    # Dead at its end or after its idle time (a sealed password goes with it).
    accounts = _batch(
        db,
        AccountSession.id_hash,
        or_(AccountSession.expires_at < now, AccountSession.last_seen_at < now - IDLE_TIMEOUT),
        batch,
    )
    # T1 counts them for an hour (``flow.MAIL_WINDOW``); a day is kept, as for flows.
    sends = _batch(db, CodeSend.id, CodeSend.at < now - FLOW_GRACE, batch)
    consoles = _batch(
        db,
        AdminSession.id_hash,
        or_(
            AdminSession.expires_at < now,
            AdminSession.last_seen_at < now - ADMIN_IDLE_TIMEOUT,
        ),
        batch,
    )
    return Pruned(records, flows, accounts, consoles, operations, events, sends)


def _batch(
    db: Session, key: InstrumentedAttribute[str], expired: ColumnElement[bool], batch: int
) -> int:
    """Delete at most ``batch`` rows whose ``expired`` holds, by their unique ``key``."""
    chosen = select(key).where(expired).limit(batch).scalar_subquery()
    result = db.execute(delete(key.class_).where(key.in_(chosen)))
    return int(result.rowcount)  # type: ignore[attr-defined]


async def prune_forever(sessions: sessionmaker[Session], keep: Retention) -> None:
    """Prune now and then every ``INTERVAL_SECONDS``, until cancelled."""
    while True:
        try:
            pruned = await asyncio.to_thread(prune_all, sessions, keep)
        except Exception:
            # A failed prune must not stop the server; the next round tries again.
            logger.exception("pruning old records failed")
        else:
            if any(dataclasses.astuple(pruned)):
                logger.info(
                    "pruned %d support records, %d operation records, %d audit events, "
                    "%d portal flows, %d code sends, %d account sessions and %d console sessions",
                    pruned.support_records,
                    pruned.operations,
                    pruned.audit_events,
                    pruned.portal_flows,
                    pruned.code_sends,
                    pruned.account_sessions,
                    pruned.admin_sessions,
                )
        await asyncio.sleep(INTERVAL_SECONDS)


def prune_all(
    sessions: sessionmaker[Session],
    keep: Retention,
    batch: int = BATCH,
    now: dt.datetime | None = None,
) -> Pruned:
    """Prune batch after batch, one transaction each, until nothing is left."""
    when = now or utcnow()
    total = Pruned(0, 0)
    while True:
        with sessions() as db, db.begin():
            pruned = prune(db, when, keep, batch)
        total += pruned
        if max(dataclasses.astuple(pruned)) < batch:
            return total
