"""Forgetting what is no longer needed: support records after their retention,
portal flows a day after they ended or expired, "My account" sessions once
they can no longer be used. Anonymous visitors create the first two (a
mistyped address, a bot) and every sign-in makes a session, so without this
the store only grows."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging

from sqlalchemy import delete, or_
from sqlalchemy.orm import Session, sessionmaker

from passback.server.console.sessions import IDLE_TIMEOUT as ADMIN_IDLE_TIMEOUT
from passback.server.portal.account_session import IDLE_TIMEOUT
from passback.server.store.models import (
    AccountSession,
    AdminSession,
    PortalFlow,
    SupportRecord,
    utcnow,
)

logger = logging.getLogger(__name__)

#: A flow stays readable for a day after it ended, for support cases.
FLOW_GRACE = dt.timedelta(days=1)
#: How often the server prunes.
INTERVAL_SECONDS = 3600


@dataclasses.dataclass(frozen=True)
class Pruned:
    support_records: int
    portal_flows: int
    account_sessions: int = 0
    admin_sessions: int = 0


def prune(db: Session, now: dt.datetime, support_retention_days: int) -> Pruned:
    """Delete what is past its time; the caller commits."""
    records = db.execute(
        delete(SupportRecord).where(
            SupportRecord.created_at < now - dt.timedelta(days=support_retention_days)
        )
    )
    flows = db.execute(
        delete(PortalFlow).where(
            or_(
                PortalFlow.expires_at < now - FLOW_GRACE,
                PortalFlow.completed_at < now - FLOW_GRACE,
            )
        )
    )
    # Dead at its end or after its idle time (a sealed password goes with it).
    accounts = db.execute(
        delete(AccountSession).where(
            or_(
                AccountSession.expires_at < now,
                AccountSession.last_seen_at < now - IDLE_TIMEOUT,
            )
        )
    )
    consoles = db.execute(
        delete(AdminSession).where(
            or_(
                AdminSession.expires_at < now,
                AdminSession.last_seen_at < now - ADMIN_IDLE_TIMEOUT,
            )
        )
    )
    return Pruned(
        records.rowcount,  # type: ignore[attr-defined]
        flows.rowcount,  # type: ignore[attr-defined]
        accounts.rowcount,  # type: ignore[attr-defined]
        consoles.rowcount,  # type: ignore[attr-defined]
    )


async def prune_forever(sessions: sessionmaker[Session], support_retention_days: int) -> None:
    """Prune now and then every ``INTERVAL_SECONDS``, until cancelled."""
    while True:
        try:
            pruned = await asyncio.to_thread(_prune_once, sessions, support_retention_days)
        except Exception:
            # A failed prune must not stop the server; the next round tries again.
            logger.exception("pruning old support records and flows failed")
        else:
            if any(dataclasses.astuple(pruned)):
                logger.info(
                    "pruned %d support records, %d portal flows, %d account sessions "
                    "and %d console sessions",
                    pruned.support_records,
                    pruned.portal_flows,
                    pruned.account_sessions,
                    pruned.admin_sessions,
                )
        await asyncio.sleep(INTERVAL_SECONDS)


def _prune_once(sessions: sessionmaker[Session], support_retention_days: int) -> Pruned:
    with sessions() as db, db.begin():
        return prune(db, utcnow(), support_retention_days)
