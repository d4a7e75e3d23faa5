"""Settings of the server process; the CLI builds them from TOML + environment."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class ServerSettings:
    #: SQLAlchemy URL: ``sqlite:///path/passback.db`` or ``postgresql+psycopg://…``.
    database_url: str = dataclasses.field(repr=False)  # may hold a DB password
    #: Seconds an operation stays valid once sealed (SPEC S5).
    operation_ttl: int = 300
    #: Seconds the API waits for an agent's answer to one operation.
    reply_timeout: float = 60.0
    #: Seconds between agent heartbeats, told to the agent in ``ready`` (S8).
    heartbeat_interval: int = 300
    #: Seconds an agent has to send hello + auth after the socket opens.
    handshake_timeout: float = 10.0
