"""What the server knows of the tenant's directory users, as agents sync them (L5).

The tenant comes from the authenticated link, never from the message. Plain
functions over a ``Session``; they flush, the caller commits.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Sequence

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from passback.protocol import anchors
from passback.protocol.messages import SyncUser
from passback.server.store.models import DirectoryUser

logger = logging.getLogger(__name__)


def upsert_users(
    session: Session, tenant_id: str, users: Sequence[SyncUser], now: dt.datetime
) -> int:
    """Insert or update users by anchor; returns how many were stored. Users
    with an anchor that cannot be decoded are skipped and logged."""
    valid: dict[str, SyncUser] = {}
    for user in users:
        try:
            anchors.decode(user.anchor)
        except ValueError:
            logger.warning("sync: tenant %s sent a user with a bad anchor", tenant_id)
            continue
        valid[user.anchor] = user  # the last one wins within a batch
    if not valid:
        return 0
    existing = {
        row.anchor: row
        for row in session.scalars(
            select(DirectoryUser).where(
                DirectoryUser.tenant_id == tenant_id, DirectoryUser.anchor.in_(list(valid))
            )
        )
    }
    for anchor, user in valid.items():
        row = existing.get(anchor)
        if row is None:
            row = DirectoryUser(id=str(uuid.uuid4()), tenant_id=tenant_id, anchor=anchor)
            session.add(row)
        row.sam_account_name = user.sam_account_name
        row.user_principal_name = user.user_principal_name
        row.mail = user.mail
        row.enabled = user.enabled
        row.synced_at = now
    session.flush()
    return len(valid)


def remove_unseen(session: Session, tenant_id: str, since: dt.datetime) -> int:
    """End of a full sync that began at ``since``: users no batch has carried
    since then are gone from the directory. Returns how many were removed."""
    result = session.execute(
        delete(DirectoryUser).where(
            DirectoryUser.tenant_id == tenant_id, DirectoryUser.synced_at < since
        )
    )
    return int(getattr(result, "rowcount", 0))
