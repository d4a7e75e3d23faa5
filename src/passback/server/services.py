"""What the use-cases share: settings, the store's sessions, the router to the
agents, the master key the store's secrets are wrapped under, and the store
work that runs after an answer has gone back."""

from __future__ import annotations

import dataclasses

from passback.crypto.masterkey import MasterKey
from passback.server.deferred import Deferred
from passback.server.settings import ServerSettings
from passback.server.types import AgentRouter, StoreSessions


@dataclasses.dataclass(frozen=True)
class Services:
    settings: ServerSettings
    sessions: StoreSessions
    router: AgentRouter
    master_key: MasterKey
    deferred: Deferred = dataclasses.field(default_factory=Deferred)
