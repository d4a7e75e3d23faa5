"""What the use-cases share: settings, the store's sessions, the router to the
agents and the master key the store's secrets are wrapped under."""

from __future__ import annotations

import dataclasses

from passback.crypto.masterkey import MasterKey
from passback.server.settings import ServerSettings
from passback.server.types import AgentRouter, StoreSessions


@dataclasses.dataclass(frozen=True)
class Services:
    settings: ServerSettings
    sessions: StoreSessions
    router: AgentRouter
    master_key: MasterKey
