"""What the server knows of the tenant's directory users, as agents sync them (L5).

The tenant comes from the authenticated link, never from the message. The store
functions take a ``Session``; they flush, the caller commits. ``FullSyncs``
follows the full syncs under way on one link, to tell when a sync may remove
the users it did not see.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import uuid
from collections.abc import Sequence

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from passback.policy.gates import is_sid
from passback.protocol import anchors
from passback.protocol.messages import SyncBatch, SyncGroup, SyncRequest, SyncUser
from passback.server.entitlements import stored_groups
from passback.server.errors import AgentUnavailable
from passback.server.store.models import DirectoryGroup, DirectoryUser
from passback.server.types import AgentRouter

logger = logging.getLogger(__name__)

#: Full syncs one link may have under way at once; an agent runs one at a time,
#: so more means a misbehaving agent (the oldest is forgotten, and so deletes nothing).
MAX_FULL_SYNCS = 4


async def request_full_sync(router: AgentRouter, tenant_id: str) -> None:
    """Ask one present agent of the tenant, the newest link first, for a full sync.

    Raises:
        AgentUnavailable: no agent of the tenant took the request.
    """
    for agent_id in reversed(await router.present(tenant_id)):
        try:
            await router.send(tenant_id, agent_id, SyncRequest(str(uuid.uuid4())))
        except AgentUnavailable:
            logger.warning("sync request to agent %s failed", agent_id, exc_info=True)
            continue
        return
    raise AgentUnavailable(f"no agent of tenant {tenant_id} took the sync request")


@dataclasses.dataclass
class FullSync:
    """One full sync as its batches arrive. Users it did not see are deleted at
    its end only if every batch arrived, in order, and was stored."""

    started: dt.datetime
    next_sequence: int = 0
    complete: bool = True
    users: int = 0  # stored so far
    groups: int = 0


class FullSyncs:
    """The full syncs under way on one link, by sync id."""

    def __init__(self) -> None:
        self._syncs: dict[str, FullSync] = {}

    def track(self, batch: SyncBatch, now: dt.datetime) -> FullSync:
        """The full sync ``batch`` belongs to, updated for it; forgotten if
        ``batch`` is its last."""
        full = self._syncs.get(batch.sync_id)
        if full is None:
            if len(self._syncs) >= MAX_FULL_SYNCS:
                del self._syncs[next(iter(self._syncs))]
            # A sync whose first batch we did not see cannot tell who is gone.
            full = self._syncs[batch.sync_id] = FullSync(now, complete=batch.sequence == 0)
        if batch.sequence != full.next_sequence:
            full.complete = False
        full.next_sequence = batch.sequence + 1
        if batch.last:
            del self._syncs[batch.sync_id]
        return full


def upsert_users(
    session: Session,
    tenant_id: str,
    users: Sequence[SyncUser],
    now: dt.datetime,
    *,
    with_groups: bool = True,
) -> int:
    """Insert or update users by anchor; returns how many were stored. Users
    with an anchor that cannot be decoded are skipped and logged. Without
    ``with_groups`` (an agent that does not send them), the users' groups
    stay as they were."""
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
        row.mobile = user.mobile
        row.telephone = user.telephone
        row.enabled = user.enabled
        if with_groups:
            row.group_sids = stored_groups(frozenset(filter(is_sid, user.groups)))
        row.synced_at = now
    session.flush()
    return len(valid)


def upsert_groups(
    session: Session, tenant_id: str, groups: Sequence[SyncGroup], now: dt.datetime
) -> int:
    """Insert or update the directory's security groups by SID (G6); returns
    how many were stored. A group whose SID is not one is skipped and logged."""
    valid = {g.sid: g for g in groups if is_sid(g.sid)}
    if len(valid) < len({g.sid for g in groups}):
        logger.warning("sync: tenant %s sent a group with a bad SID", tenant_id)
    if not valid:
        return 0
    existing = {
        row.sid: row
        for row in session.scalars(
            select(DirectoryGroup).where(
                DirectoryGroup.tenant_id == tenant_id, DirectoryGroup.sid.in_(list(valid))
            )
        )
    }
    for sid, group in valid.items():
        row = existing.get(sid)
        if row is None:
            row = DirectoryGroup(tenant_id=tenant_id, sid=sid)
            session.add(row)
        row.name = group.name
        row.synced_at = now
    session.flush()
    return len(valid)


def remove_unseen(
    session: Session, tenant_id: str, since: dt.datetime, *, with_groups: bool = True
) -> int:
    """End of a full sync that began at ``since``: users (and, ``with_groups``,
    groups) no batch has carried since then are gone from the directory.
    Returns how many users were removed."""
    if with_groups:
        session.execute(
            delete(DirectoryGroup).where(
                DirectoryGroup.tenant_id == tenant_id, DirectoryGroup.synced_at < since
            )
        )
    result = session.execute(
        delete(DirectoryUser).where(
            DirectoryUser.tenant_id == tenant_id, DirectoryUser.synced_at < since
        )
    )
    return int(getattr(result, "rowcount", 0))
