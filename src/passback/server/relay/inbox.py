"""What an agent's messages mean, apart from the replies the hub resolves:
who may link (SPEC S1), what a heartbeat records, what a sync batch stores (L5).

The relay endpoint calls ``Inbox.admit`` with the credentials of a new link,
``Inbox.connected`` once the link is ready, and the returned ``AgentInbox`` with
every heartbeat and sync batch of that link. The store work runs in a worker
thread; a store failure is logged and the link stays up: the agent's next
heartbeat or sync repairs it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import uuid

from sqlalchemy.exc import SQLAlchemyError

from passback.protocol.errors import CloseCode
from passback.protocol.features import Feature
from passback.protocol.messages import Heartbeat, Hello, SyncBatch, SyncRequest
from passback.server import agents, sync
from passback.server.store.models import utcnow
from passback.server.types import AgentSession, Clock, StoreSessions

logger = logging.getLogger(__name__)


class Inbox:
    def __init__(self, sessions: StoreSessions, clock: Clock = utcnow) -> None:
        self._sessions = sessions
        self._clock = clock

    async def admit(self, hello: Hello, secret: str) -> bool:
        """Whether ``secret`` is the relay secret of the agent ``hello`` names,
        of the tenant it claims, not revoked (S1); records when it connected."""
        return await asyncio.to_thread(self._admit, hello, secret)

    def _admit(self, hello: Hello, secret: str) -> bool:
        with self._sessions() as db, db.begin():
            agent = agents.authenticate_agent(db, hello, secret)
            if agent is not None:
                agents.record_connected(db, agent.id, hello.software, self._clock())
            return agent is not None

    async def connected(self, session: AgentSession) -> AgentInbox:
        """The link is ready: ask its agent for a full sync (L5), and take its
        messages from now on."""
        await session.send(SyncRequest(str(uuid.uuid4())))
        return AgentInbox(self._sessions, self._clock, session)


class AgentInbox:
    """The messages of one agent's link; a new link starts afresh."""

    def __init__(self, sessions: StoreSessions, clock: Clock, session: AgentSession) -> None:
        self._sessions = sessions
        self._clock = clock
        self._tenant_id = session.tenant_id
        self._agent_id = session.agent_id
        self._session = session
        self._full_syncs = sync.FullSyncs()
        #: An agent that does not announce groups sends none: its syncs must
        #: leave the users' groups and the group list as they are (G6).
        self._groups = Feature.GROUPS.value in session.features

    async def receive(self, message: Heartbeat | SyncBatch) -> None:
        try:
            if isinstance(message, Heartbeat):
                if not await asyncio.to_thread(self._heartbeat, message):
                    logger.warning(
                        "relay: agent %s is revoked; closing its link",
                        self._agent_id,
                        extra={"agent_id": self._agent_id, "tenant_id": self._tenant_id},
                    )
                    await self._session.close(CloseCode.REVOKED, "agent revoked")
            else:
                await self._sync_batch(message)
        except SQLAlchemyError:
            logger.exception(
                "relay: could not store a %s of agent %s",
                message.type,
                self._agent_id,
                extra={"agent_id": self._agent_id},
            )

    def _heartbeat(self, heartbeat: Heartbeat) -> bool:
        with self._sessions() as db, db.begin():
            return agents.record_heartbeat(
                db, self._agent_id, heartbeat.history_on_reset, self._clock()
            )

    async def _sync_batch(self, batch: SyncBatch) -> None:
        now = self._clock()
        full = self._full_syncs.track(batch, now) if batch.full else None
        remove_before = None
        if full is not None and batch.last:
            if full.complete:
                remove_before = full.started
            else:
                logger.warning(
                    "relay: sync %s of agent %s missed or lost a batch; no user is removed",
                    batch.sync_id,
                    self._agent_id,
                    extra={"agent_id": self._agent_id, "tenant_id": self._tenant_id},
                )
        try:
            stored, groups, removed = await asyncio.to_thread(
                self._store_batch, batch, now, remove_before
            )
        except SQLAlchemyError:
            if full is not None:
                full.complete = False  # its end must not delete the users of this batch
            raise
        if full is not None:
            full.users += stored
            full.groups += groups
            if batch.last:
                await asyncio.to_thread(self._record_sync, full, removed, now)
        logger.info(
            "relay: sync %s batch %d from agent %s: %d users stored, %d removed",
            batch.sync_id,
            batch.sequence,
            self._agent_id,
            stored,
            removed,
            extra={"agent_id": self._agent_id, "tenant_id": self._tenant_id},
        )

    def _store_batch(
        self, batch: SyncBatch, now: dt.datetime, remove_before: dt.datetime | None
    ) -> tuple[int, int, int]:
        """Users stored, groups stored, users removed."""
        with self._sessions() as db, db.begin():
            stored = sync.upsert_users(
                db, self._tenant_id, batch.users, now, with_groups=self._groups
            )
            groups = sync.upsert_groups(db, self._tenant_id, batch.groups, now)
            if remove_before is None:
                return stored, groups, 0
            removed = sync.remove_unseen(
                db, self._tenant_id, remove_before, with_groups=self._groups
            )
            return stored, groups, removed

    def _record_sync(self, full: sync.FullSync, removed: int, now: dt.datetime) -> None:
        with self._sessions() as db, db.begin():
            agents.record_sync(
                db,
                self._agent_id,
                now,
                users=full.users,
                groups=full.groups,
                removed=removed,
                complete=full.complete,
            )
