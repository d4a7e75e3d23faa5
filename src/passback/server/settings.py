"""Settings of the server process; the CLI builds them from TOML + environment."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Literal

from passback.server.gate import MAX_HANDSHAKES, MAX_HANDSHAKES_PER_ADDRESS

SmtpSecurity = Literal["none", "starttls", "tls"]


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
    #: Relay links not yet authenticated, per client address and overall; more
    #: are refused with HTTP 503 before any link state exists (see gate.py).
    relay_handshakes_per_address: int = MAX_HANDSHAKES_PER_ADDRESS
    relay_handshakes: int = MAX_HANDSHAKES
    #: Days a support record (E2), and an operation's record, is kept before it is pruned.
    support_retention_days: int = 90
    #: Days an audit event (E5) is kept before it is pruned: by default the
    #: longest range a report covers.
    audit_retention_days: int = 366
    # -- email (one-time codes of the portal) -----------------------------------
    #: SMTP server; None: no mail is sent, so the portal answers "unavailable".
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_from: str = "passback@localhost"
    #: "none" (plain, loopback relays only), "starttls" or "tls" (implicit TLS).
    smtp_security: SmtpSecurity = "starttls"
    smtp_username: str | None = None
    smtp_password: str | None = dataclasses.field(default=None, repr=False)
    #: Seconds for connecting to and talking with the SMTP server.
    smtp_timeout: float = 15.0
    # -- phone (codes by text message and voice call) -----------------------------
    #: The phone provider's TOML file (``notify.phone_config``); None: no phone gates.
    phone_provider: Path | None = None
    # -- portal -------------------------------------------------------------------
    #: Seconds a one-time code is valid.
    code_ttl: int = 300
    #: Base URL users reach the server at, for links in emails; None: no link.
    public_url: str | None = None
    #: Username lookups allowed per client address within ``lookup_window`` (T2).
    lookup_limit: int = 10
    lookup_window: float = 600.0
    #: Sign-ins to "My account" allowed per client address within ``sign_in_window``.
    sign_in_limit: int = 20
    sign_in_window: float = 600.0
    #: Seconds over which failed sign-ins are counted per account and per device.
    sign_in_failure_window: float = 900.0
