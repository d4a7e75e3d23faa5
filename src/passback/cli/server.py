"""``passback server``: the portal, the API and the relay hub behind one listener."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import click

from passback.agent.link import PING_INTERVAL
from passback.cli import store
from passback.crypto.envelope import MAX_LIFETIME
from passback.protocol.messages import MAX_SYNC_FRAME
from passback.server import listen
from passback.server.gate import MAX_HANDSHAKES, MAX_HANDSHAKES_PER_ADDRESS
from passback.server.notify import phone_config
from passback.server.settings import ServerSettings


@click.command()
@store.data_dir_option
@store.database_option
@store.master_key_file_option
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8443, show_default=True, type=click.IntRange(0, 65535))
@click.option("--tls-cert", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--tls-key", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--insecure-dev", is_flag=True, help="Serve plain HTTP (development only).")
@click.option("--smtp-host", default=None, help="SMTP server for the portal's one-time codes.")
@click.option("--smtp-port", default=587, show_default=True, type=click.IntRange(1, 65535))
@click.option("--smtp-from", default="passback@localhost", show_default=True)
@click.option(
    "--smtp-security",
    type=click.Choice(["starttls", "tls", "none"]),
    default="starttls",
    show_default=True,
    help="STARTTLS, implicit TLS (port 465), or none (a relay on loopback only).",
)
@click.option("--smtp-username", default=None)
@click.option(
    "--smtp-password",
    default=None,
    help="Better: PASSBACK_SERVER_SMTP_PASSWORD in the environment.",
)
@click.option(
    "--phone-provider",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="TOML file of the provider that texts and calls phone codes "
    "(outbox, an HTTP gateway, or Twilio; see docs/howto/phone-provider.md).",
)
@click.option(
    "--code-ttl",
    default=300,
    show_default=True,
    type=click.IntRange(60, 3600),
    help="Seconds a one-time code is valid.",
)
@click.option(
    "--public-url",
    default=None,
    help="https://… users reach the portal at (for the link in code emails: past a user's "
    "hourly code caps, only a linked code is sent); other host names are refused "
    "(but loopback names from loopback, for health checks).",
)
@click.option(
    "--operation-ttl",
    default=300,
    show_default=True,
    type=click.IntRange(30, MAX_LIFETIME),
    help="Seconds a sealed password operation stays valid (the agent refuses it after).",
)
@click.option(
    "--reply-timeout",
    default=60.0,
    show_default=True,
    type=click.FloatRange(1, 600),
    help="Seconds to wait for an agent's answer before saying the outcome is unknown.",
)
@click.option(
    "--support-retention-days",
    default=90,
    show_default=True,
    type=click.IntRange(1, 3650),
    help="Days a support record, and an operation's record, is kept.",
)
@click.option(
    "--audit-retention-days",
    default=366,
    show_default=True,
    type=click.IntRange(1, 36500),
    help="Days an audit event is kept (the reports' longest range is 366).",
)
@click.option(
    "--forwarded-allow-ips",
    default="",
    show_default="trust no proxy",
    help="Reverse proxies (comma-separated addresses or networks) whose "
    "X-Forwarded-For/-Proto are trusted, so that rate limits see the client's address.",
)
@click.option(
    "--tls-handshake-timeout",
    default=listen.TLS_HANDSHAKE_TIMEOUT,
    show_default=True,
    type=click.FloatRange(1, 120),
    help="Seconds a client has to finish the TLS handshake.",
)
@click.option(
    "--header-timeout",
    default=listen.HEADER_TIMEOUT,
    show_default=True,
    type=click.FloatRange(1, 120),
    help="Seconds a client has to send a whole request (line, headers and body) "
    "from its first byte, and a new connection to start sending.",
)
@click.option(
    "--keep-alive-timeout",
    default=listen.KEEP_ALIVE_TIMEOUT,
    show_default=True,
    type=click.IntRange(1, 300),
    help="Seconds an HTTP connection may stay idle between requests "
    "(relay WebSockets keep their own pings).",
)
@click.option(
    "--max-connections",
    default=listen.MAX_CONNECTIONS,
    show_default=True,
    type=click.IntRange(1, 1_000_000),
    help="Connections held at once; more are closed as soon as they are made.",
)
@click.option(
    "--max-connections-per-address",
    default=None,
    type=click.IntRange(1, 1_000_000),
    help="Connections one client address (an IPv6 /64) holds at once; more are "
    f"closed as soon as they are made. Default: {listen.MAX_CONNECTIONS_PER_ADDRESS}, "
    "or --max-connections with --forwarded-allow-ips (every client then has a "
    "proxy's address).",
)
@click.option(
    "--relay-handshakes",
    default=MAX_HANDSHAKES,
    show_default=True,
    type=click.IntRange(1, 100_000),
    help="Relay links not yet authenticated at once; more get HTTP 503.",
)
@click.option(
    "--relay-handshakes-per-address",
    default=MAX_HANDSHAKES_PER_ADDRESS,
    show_default=True,
    type=click.IntRange(1, 100_000),
    help="Relay links not yet authenticated at once from one client address.",
)
@click.option(
    "--lookup-limit",
    default=10,
    show_default=True,
    type=click.IntRange(1, 1_000_000),
    help="Username lookups (reset and unlock starts) per client address in 10 minutes "
    "(raise it when many users share one address, e.g. behind a NAT).",
)
@click.option(
    "--sign-in-limit",
    default=20,
    show_default=True,
    type=click.IntRange(1, 1_000_000),
    help="Sign-ins to My account per client address in 10 minutes (raise it behind a NAT).",
)
def server(
    data_dir: Path,
    database_url: str | None,
    master_key_file: Path | None,
    host: str,
    port: int,
    tls_cert: Path | None,
    tls_key: Path | None,
    insecure_dev: bool,
    smtp_host: str | None,
    smtp_port: int,
    smtp_from: str,
    smtp_security: Literal["starttls", "tls", "none"],
    smtp_username: str | None,
    smtp_password: str | None,
    phone_provider: Path | None,
    code_ttl: int,
    public_url: str | None,
    operation_ttl: int,
    reply_timeout: float,
    support_retention_days: int,
    audit_retention_days: int,
    forwarded_allow_ips: str,
    tls_handshake_timeout: float,
    header_timeout: float,
    keep_alive_timeout: int,
    max_connections: int,
    max_connections_per_address: int | None,
    relay_handshakes: int,
    relay_handshakes_per_address: int,
    lookup_limit: int,
    sign_in_limit: int,
) -> None:
    """Run the Passback server: portal at /portal/<slug>/, API, relay hub at /relay/v1."""
    if (tls_cert is None) != (tls_key is None):
        raise click.UsageError("give both --tls-cert and --tls-key")
    if tls_cert is None and not insecure_dev:
        raise click.UsageError(
            "the server speaks TLS: give --tls-cert and --tls-key "
            "(make a pair with `passback tls create`), or --insecure-dev for plain HTTP"
        )
    if phone_provider is not None:
        try:
            phone_config.load(phone_provider)
        except phone_config.ProviderConfigError as exc:
            raise click.UsageError(f"--phone-provider: {exc}") from None
    if public_url is None and not insecure_dev:
        click.echo(
            "warning: no --public-url: any host name is answered, code mails carry no "
            "link, and past a user's hourly code caps no code can be sent",
            err=True,
        )
    with store.open_session(data_dir, database_url) as session:
        master_key = store.master_key(session, data_dir, master_key_file)
    url = store.database_url(data_dir, database_url)
    settings = ServerSettings(
        database_url=url,
        smtp_host=smtp_host,
        smtp_port=smtp_port,
        smtp_from=smtp_from,
        smtp_security=smtp_security,
        smtp_username=smtp_username,
        smtp_password=smtp_password,
        phone_provider=phone_provider,
        code_ttl=code_ttl,
        lookup_limit=lookup_limit,
        sign_in_limit=sign_in_limit,
        public_url=public_url,
        operation_ttl=operation_ttl,
        reply_timeout=reply_timeout,
        support_retention_days=support_retention_days,
        audit_retention_days=audit_retention_days,
        relay_handshakes=relay_handshakes,
        relay_handshakes_per_address=relay_handshakes_per_address,
    )
    if max_connections_per_address is None:
        behind_proxies = bool(forwarded_allow_ips.strip())
        max_connections_per_address = (
            max_connections if behind_proxies else listen.MAX_CONNECTIONS_PER_ADDRESS
        )
    limits = listen.ConnectionLimits(
        tls_handshake_timeout=tls_handshake_timeout,
        header_timeout=header_timeout,
        keep_alive_timeout=keep_alive_timeout,
        max_connections=max_connections,
        max_connections_per_address=max_connections_per_address,
    )
    # Forwarded headers only from the proxies named: anyone else could forge them.
    proxies: dict[str, Any] = (
        {"proxy_headers": True, "forwarded_allow_ips": forwarded_allow_ips}
        if forwarded_allow_ips.strip()
        else {"proxy_headers": False}
    )
    from passback.server.app import create_app  # the app only when it serves

    listen.serve(
        create_app(settings, master_key),
        limits=limits,
        host=host,
        port=port,
        ssl_certfile=tls_cert,
        ssl_keyfile=tls_key,
        ws="websockets-sansio",
        ws_ping_interval=PING_INTERVAL,
        ws_max_size=MAX_SYNC_FRAME,
        log_level="info",
        **proxies,
    )
