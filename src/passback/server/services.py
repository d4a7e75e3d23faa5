"""What the use-cases share: settings, the store's sessions, the router to the
agents, the master key the store's secrets are wrapped under, the store
work that runs after an answer has gone back, and how many support records
a stranger's address may make the server keep."""

from __future__ import annotations

import dataclasses

from passback.crypto.masterkey import MasterKey
from passback.server.deferred import Deferred
from passback.server.ratelimit import SlidingWindowLimiter, address_key
from passback.server.settings import ServerSettings
from passback.server.types import AgentRouter, RateLimiter, StoreSessions

#: Support records (E2) one client address may make the server keep, for
#: errors answered before anyone is known: 60 per 10 minutes.
RECORDS_PER_ADDRESS = 60
RECORD_WINDOW = 600.0


@dataclasses.dataclass(frozen=True)
class Services:
    settings: ServerSettings
    sessions: StoreSessions
    router: AgentRouter
    master_key: MasterKey
    deferred: Deferred = dataclasses.field(default_factory=Deferred)
    record_budget: RateLimiter = dataclasses.field(
        default_factory=lambda: SlidingWindowLimiter(RECORDS_PER_ADDRESS, RECORD_WINDOW)
    )

    async def may_record(self, client: str | None) -> bool:
        """Whether an error answered to ``client`` (its address; None: not
        known) may still make the server keep a support record; counts it."""
        return await self.record_budget.allow("support:" + address_key(client or "unknown"))
