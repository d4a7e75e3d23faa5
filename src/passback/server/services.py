"""What the use-cases share: settings, the store's sessions and the hub."""

from __future__ import annotations

import dataclasses

from sqlalchemy.orm import Session, sessionmaker

from passback.server.hub import Hub
from passback.server.settings import ServerSettings


@dataclasses.dataclass(frozen=True)
class Services:
    settings: ServerSettings
    sessions: sessionmaker[Session]
    hub: Hub
