"""The ``passback`` command: server, tenants, agent, certificates.

Every option can also come from the environment as ``PASSBACK_<COMMAND>_<OPTION>``
(e.g. ``PASSBACK_AGENT_ONBOARD_TOKEN``), which keeps secrets off command lines;
the agent's ``--config`` is ``PASSBACK_AGENT_CONFIG`` for both agent commands.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import sys
from pathlib import Path
from typing import Any, Literal

import click
import sqlalchemy
from sqlalchemy.orm import Session

from passback import __version__
from passback.agent import config as agent_config
from passback.agent.config import DirectoryConfig
from passback.agent.events import EventId, EventLog
from passback.agent.link import PING_INTERVAL, InsecureTransport, LinkRefused
from passback.agent.onboard import OnboardingError, OnboardRequest, onboard
from passback.agent.service import Agent, AgentStartError, check_directory, serve
from passback.crypto import certs
from passback.crypto.envelope import MAX_LIFETIME
from passback.crypto.masterkey import MasterKey
from passback.demo.run import DemoError
from passback.demo.run import run as run_demo
from passback.printable import PrintableFormatter, printable
from passback.protocol.messages import MAX_SYNC_FRAME
from passback.server import keyring, listen
from passback.server.app import create_app
from passback.server.errors import KeyringError, SlugTaken, UnknownTenant
from passback.server.gate import MAX_HANDSHAKES, MAX_HANDSHAKES_PER_ADDRESS
from passback.server.settings import ServerSettings
from passback.server.store.engine import create_engine, session_factory
from passback.server.store.migrate import upgrade
from passback.server.store.models import SupportRecord
from passback.server.support import local, lookup
from passback.server.tenants import create_tenant, new_onboarding_token

DEFAULT_DATA_DIR = Path("passback-data")
#: `passback agent run` exits with this when the server refused the agent for
#: good (wrong or revoked secret, unsupported protocol): restarting cannot help.
EXIT_REFUSED = 3


def _database_url(data_dir: Path, database_url: str | None) -> str:
    if database_url:
        return database_url
    # The data folder holds tenant keys: only its owner may enter it.
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    data_dir.chmod(0o700)
    return f"sqlite:///{(data_dir / 'passback.db').resolve()}"


def _session(data_dir: Path, database_url: str | None) -> Session:
    url = _database_url(data_dir, database_url)
    upgrade(url)
    return session_factory(create_engine(url))()


def _master_key(session: Session, data_dir: Path, key_file: Path | None) -> MasterKey:
    """The master key for the store ``session`` opens, with its secrets wrapped
    under it; a new key file only for a store that has no wrapped secret yet."""
    try:
        return keyring.store_master_key(
            session,
            key_file or data_dir / keyring.MASTER_KEY_FILE,
            os.environ.get(keyring.MASTER_KEY_ENV),
        )
    except KeyringError as exc:
        raise click.ClickException(str(exc)) from exc


_data_dir = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_DATA_DIR,
    show_default=True,
    help="Folder for the embedded SQLite database (made mode 0700; files 0600).",
)
_database = click.option(
    "--database-url", default=None, help="SQLAlchemy URL (overrides --data-dir), e.g. PostgreSQL."
)
_master_key_file = click.option(
    "--master-key-file",
    envvar=["PASSBACK_MASTER_KEY_FILE"],
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    show_default="DATA_DIR/master.key",
    help="The key the store's secrets are wrapped under (made, mode 0600, for a new "
    "store); or its text in PASSBACK_MASTER_KEY. Keep it out of database backups.",
)
_agent_config = click.option(
    "--config",
    "config_path",
    envvar=["PASSBACK_AGENT_CONFIG"],
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("/etc/passback/agent.toml"),
    show_default=True,
    help="The agent's config file (written by onboarding, mode 0600).",
)
_insecure_dev = click.option(
    "--insecure-dev", is_flag=True, help="Allow an http:// server (development only)."
)


@click.group(context_settings={"auto_envvar_prefix": "PASSBACK", "max_content_width": 100})
@click.version_option(__version__, prog_name="passback")
@click.option("-v", "--verbose", is_flag=True, help="Log more.")
def main(verbose: bool) -> None:
    """Self-service password reset with writeback to Active Directory."""
    # Log lines carry text from clients and agents: one record stays one line.
    handler = logging.StreamHandler()
    handler.setFormatter(PrintableFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, handlers=[handler])


# -- server -----------------------------------------------------------------


@main.command()
@_data_dir
@_database
@_master_key_file
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
    "--code-ttl",
    default=300,
    show_default=True,
    type=click.IntRange(60, 3600),
    help="Seconds a one-time code is valid.",
)
@click.option(
    "--public-url",
    default=None,
    help="https://… users reach the portal at (for emails); other host names are refused "
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
    help="Days a support record is kept.",
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
    help="Seconds a client has to send a request's line and headers "
    "(and a new connection to start sending).",
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
    code_ttl: int,
    public_url: str | None,
    operation_ttl: int,
    reply_timeout: float,
    support_retention_days: int,
    forwarded_allow_ips: str,
    tls_handshake_timeout: float,
    header_timeout: float,
    keep_alive_timeout: int,
    max_connections: int,
    relay_handshakes: int,
    relay_handshakes_per_address: int,
) -> None:
    """Run the Passback server: portal at /portal/<slug>/, API, relay hub at /relay/v1."""
    if (tls_cert is None) != (tls_key is None):
        raise click.UsageError("give both --tls-cert and --tls-key")
    if tls_cert is None and not insecure_dev:
        raise click.UsageError(
            "the server speaks TLS: give --tls-cert and --tls-key "
            "(make a pair with `passback tls create`), or --insecure-dev for plain HTTP"
        )
    with _session(data_dir, database_url) as session:
        master_key = _master_key(session, data_dir, master_key_file)
    url = _database_url(data_dir, database_url)
    settings = ServerSettings(
        database_url=url,
        smtp_host=smtp_host,
        smtp_port=smtp_port,
        smtp_from=smtp_from,
        smtp_security=smtp_security,
        smtp_username=smtp_username,
        smtp_password=smtp_password,
        code_ttl=code_ttl,
        public_url=public_url,
        operation_ttl=operation_ttl,
        reply_timeout=reply_timeout,
        support_retention_days=support_retention_days,
        relay_handshakes=relay_handshakes,
        relay_handshakes_per_address=relay_handshakes_per_address,
    )
    limits = listen.ConnectionLimits(
        tls_handshake_timeout=tls_handshake_timeout,
        header_timeout=header_timeout,
        keep_alive_timeout=keep_alive_timeout,
        max_connections=max_connections,
    )
    # Forwarded headers only from the proxies named: anyone else could forge them.
    proxies: dict[str, Any] = (
        {"proxy_headers": True, "forwarded_allow_ips": forwarded_allow_ips}
        if forwarded_allow_ips.strip()
        else {"proxy_headers": False}
    )
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


# -- tenants ----------------------------------------------------------------


@main.group()
def tenant() -> None:
    """Create tenants and their tokens."""


@tenant.command("create")
@click.argument("name")
@click.option("--slug", default=None, help="The portal's URL part; default: from NAME.")
@_data_dir
@_database
@_master_key_file
def tenant_create(
    name: str,
    slug: str | None,
    data_dir: Path,
    database_url: str | None,
    master_key_file: Path | None,
) -> None:
    """Create a tenant; prints its admin API token and a one-time onboarding
    token. They are shown once and stored only hashed."""
    with _session(data_dir, database_url) as session:
        master_key = _master_key(session, data_dir, master_key_file)
        try:
            created = create_tenant(session, name, slug, master_key=master_key)
        except (ValueError, SlugTaken) as exc:
            raise click.ClickException(str(exc)) from exc
        session.commit()
    click.echo(f"tenant id:        {created.tenant_id}")
    click.echo(f"portal:           /portal/{created.slug}/")
    click.echo(f"admin API token:  {created.admin_token}")
    click.echo(f"onboarding token: {created.onboarding_token}")
    click.echo("Keep these now: they are not shown again.", err=True)


@tenant.command("onboarding-token")
@click.argument("tenant_id")
@_data_dir
@_database
def tenant_onboarding_token(tenant_id: str, data_dir: Path, database_url: str | None) -> None:
    """A new one-time onboarding token for another agent of TENANT_ID."""
    with _session(data_dir, database_url) as session:
        try:
            token = new_onboarding_token(session, tenant_id)
        except UnknownTenant as exc:
            raise click.ClickException(f"no tenant {tenant_id}") from exc
        session.commit()
    click.echo(token)


# -- master key ---------------------------------------------------------------


@main.group("master-key")
def master_key_group() -> None:
    """The key the store's secrets are wrapped under."""


@master_key_group.command("rotate")
@_data_dir
@_database
@_master_key_file
@click.option(
    "--new-key-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the new key here (must not exist). Default: replace --master-key-file "
    "once every secret is moved; needed when the key is in PASSBACK_MASTER_KEY.",
)
def master_key_rotate(
    data_dir: Path,
    database_url: str | None,
    master_key_file: Path | None,
    new_key_file: Path | None,
) -> None:
    """Wrap every stored secret under a new master key, in one transaction.

    Stop every server node first, and start them with the new key after."""
    key_file = master_key_file or data_dir / keyring.MASTER_KEY_FILE
    from_environment = bool(os.environ.get(keyring.MASTER_KEY_ENV))
    if from_environment and new_key_file is None:
        raise click.UsageError(
            f"the key comes from {keyring.MASTER_KEY_ENV}: give --new-key-file for the new one"
        )
    target = new_key_file or key_file.with_name(key_file.name + ".new")
    with _session(data_dir, database_url) as session:
        try:
            old = keyring.master_key(
                key_file, environment=os.environ.get(keyring.MASTER_KEY_ENV), may_create=False
            )
            keyring.seal_store(session, old)
            new = MasterKey.generate()
            # The new key is on disk before any secret depends on it.
            keyring.write_key_file(target, new)
            moved = keyring.rewrap_store(session, old, new)
        except KeyringError as exc:
            raise click.ClickException(str(exc)) from exc
    if new_key_file is None:
        target.replace(key_file)
        target = key_file
    click.echo(f"moved {moved} secrets from master key {old.key_id} to {new.key_id}")
    click.echo(
        f"new key: {target}"
        + (" (put its text in PASSBACK_MASTER_KEY)" if from_environment else "")
    )
    click.echo("Start every server node with the new key; the old one opens nothing now.", err=True)


# -- support ------------------------------------------------------------------


@main.group()
def support() -> None:
    """Look up what happened behind a support code (SPEC E2)."""


@support.command("show")
@click.argument("code")
@_data_dir
@_database
def support_show(code: str, data_dir: Path, database_url: str | None) -> None:
    """Print the record of support CODE: when, tenant, user, request, outcome,
    agent event."""
    # A lookup reads only: no migration, no new database file or folder.
    if database_url is None and not (data_dir / "passback.db").is_file():
        raise click.ClickException(f"no Passback database in {data_dir}")
    engine = create_engine(_database_url(data_dir, database_url))
    try:
        if not sqlalchemy.inspect(engine).has_table(SupportRecord.__tablename__):
            raise click.ClickException(
                "this database has no support records (its schema is missing or older "
                "than this version): start `passback server` on it once, which migrates it"
            )
        found = lookup(session_factory(engine), code)
    except ValueError as exc:
        raise click.ClickException(f"'{printable(code)}' is not a support code (a UUID)") from exc
    finally:
        engine.dispose()
    if found is None:
        raise click.ClickException(f"no record has the support code {code}")
    r = found.record
    lines = [
        ("support code", r.code),
        ("time", local(r.created_at)),
        ("tenant", f"{found.tenant} {r.tenant_id}" if found.tenant else r.tenant_id),
        ("user", f"{found.user} {r.user_id}" if found.user else r.user_id),
        ("username typed", r.username),
        ("request", f"{r.method} {r.path}"),
        ("request id", r.request_id),
        ("operation", found.operation),
        ("error", f"{r.error} (HTTP {r.status})"),
        ("message shown", r.message),
        ("note", r.note),
        ("agent", r.agent_id),
        ("agent event", _event_name(r.event_id)),
    ]
    # Most fields hold what a client typed (a username, a path): escape what
    # would break the line or drive the terminal.
    for label, value in lines:
        if value:
            click.echo(f"{label + ':':<16}{printable(value)}")
    if r.event_id:
        click.echo(
            "The agent's own record of the event is in its event log (events.jsonl next to "
            "its config); search it for the request id."
        )


def _event_name(event_id: int | None) -> str | None:
    if not event_id:
        return None
    try:
        return f"{event_id} {EventId(event_id).name}"
    except ValueError:
        return f"{event_id} (not in this version's catalogue)"


# -- certificates -------------------------------------------------------------


@main.group()
def tls() -> None:
    """Certificates for the server."""


@tls.command("create")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option(
    "--host",
    "hosts",
    multiple=True,
    default=["localhost", "127.0.0.1"],
    show_default=True,
    envvar="PASSBACK_TLS_CREATE_HOST",
)
def tls_create(out: Path, hosts: tuple[str, ...]) -> None:
    """A private CA and a server certificate (ca.pem, server.pem, server.key)."""
    files = certs.create(out, list(hosts))
    click.echo(f"CA (give it to agents as --server-ca-file): {files.ca}")
    click.echo(f"server certificate: {files.cert}")
    click.echo(f"server key:         {files.key}")


# -- agent --------------------------------------------------------------------


@main.group()
def agent() -> None:
    """The on-premises agent that writes passwords to the directory."""


@agent.command("onboard")
@click.option(
    "--server",
    "server_url",
    required=True,
    envvar="PASSBACK_AGENT_ONBOARD_SERVER",
    help="https://host:port of the server.",
)
@click.option(
    "--token", required=True, help="One-time onboarding token (or PASSBACK_AGENT_ONBOARD_TOKEN)."
)
@click.option("--name", default=socket.gethostname, show_default="host name")
@click.option("--ldap-url", required=True, help="ldaps://dc.example.org")
@click.option("--bind-dn", required=True, help="The service account's DN.")
@click.option(
    "--bind-password-file",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="File holding the service account's password.",
)
@click.option("--search-base", required=True, help="Where the users live, e.g. OU=Staff,DC=…")
@click.option(
    "--ldap-ca-file",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="CA that signed the DC's LDAPS certificate.",
)
@click.option(
    "--ldap-tls-name", default=None, help="Name on the DC's certificate, if not the URL's host."
)
@click.option(
    "--server-ca-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="CA that signed the server's certificate, if not a public one.",
)
@_agent_config
@_insecure_dev
def agent_onboard(
    server_url: str,
    token: str,
    name: str,
    ldap_url: str,
    bind_dn: str,
    bind_password_file: Path,
    search_base: str,
    ldap_ca_file: Path,
    ldap_tls_name: str | None,
    server_ca_file: Path | None,
    config_path: Path,
    insecure_dev: bool,
) -> None:
    """Register this agent with the server and write its config (mode 0600)."""
    directory = DirectoryConfig(
        ldap_url=ldap_url,
        bind_dn=bind_dn,
        bind_password_file=bind_password_file.resolve(),
        search_base=search_base,
        ca_file=ldap_ca_file.resolve(),
        tls_server_name=ldap_tls_name,
    )
    request = OnboardRequest(
        server_url=server_url,
        token=token,
        name=name,
        directory=directory,
        config_path=config_path.resolve(),
        server_ca_file=server_ca_file.resolve() if server_ca_file else None,
        insecure_dev=insecure_dev,
    )
    events = EventLog(config_path.resolve().parent / "events.jsonl")
    try:
        config = onboard(request, check_directory=check_directory, events=events)
    except OnboardingError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        events.close()
    click.echo(f"agent {config.agent_id} onboarded to tenant {config.tenant_id}")
    click.echo(f"config written to {config.path} (mode 0600)")
    click.echo(f"run it with: passback agent run --config {config.path}")


@agent.command("run")
@_agent_config
@_insecure_dev
def agent_run(config_path: Path, insecure_dev: bool) -> None:
    """Connect out to the relay and apply password operations until stopped."""
    try:
        config = agent_config.load(config_path)
        runner = Agent(config, insecure_dev=insecure_dev)
    except (agent_config.ConfigError, AgentStartError, InsecureTransport) as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        asyncio.run(serve(runner))
    except LinkRefused as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(EXIT_REFUSED)
    finally:
        runner.close()


# -- demo ---------------------------------------------------------------------


@main.command()
@click.option(
    "--dir",
    "directory",
    envvar="PASSBACK_DEMO_DIR",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path(".demo"),
    show_default=True,
    help="Folder for everything the demo makes (started afresh on each run).",
)
@click.option("--port", default=8443, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--dc-address",
    default="127.0.0.1",
    show_default=True,
    help="Loopback address the demo's AD DC listens on (ports 389, 636).",
)
def demo(directory: Path, port: int, dc_address: str) -> None:
    """Run a demo on this machine (as root): a Samba AD DC with demo users, the
    server with its portal, a mail catcher for its email, a tenant and an agent.
    Prints how to use it; Ctrl-C stops it all."""
    if logging.getLogger().getEffectiveLevel() > logging.DEBUG:
        # The demo prints its own progress ("mail.log" is the mail catcher's aiosmtpd).
        for name in ("passback", "httpx", "alembic", "mail.log"):
            logging.getLogger(name).setLevel(logging.WARNING)
    try:
        run_demo(directory, port=port, dc_address=dc_address, out=click.echo)
    except DemoError as exc:
        raise click.ClickException(str(exc)) from exc


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
