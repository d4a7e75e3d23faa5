"""What the use-cases share: settings, the store's sessions, the hub and the
master key the store's secrets are wrapped under."""

from __future__ import annotations

import dataclasses

from sqlalchemy.orm import Session, sessionmaker

from passback.crypto.masterkey import MasterKey
from passback.server.hub import Hub
from passback.server.settings import ServerSettings


@dataclasses.dataclass(frozen=True)
class Services:
    settings: ServerSettings
    sessions: sessionmaker[Session]
    hub: Hub
    master_key: MasterKey
