"""``passback agent``: onboard the on-premises agent and run it.

Both commands read the agent's config file, named by ``--config`` or
``PASSBACK_AGENT_CONFIG``.
"""

from __future__ import annotations

import asyncio
import socket
import sys
from pathlib import Path

import click

from passback.agent import config as agent_config
from passback.agent.config import DirectoryConfig
from passback.agent.events import EventLog
from passback.agent.link import InsecureTransport, LinkRefused
from passback.agent.onboard import OnboardingError, OnboardRequest, onboard
from passback.agent.service import Agent, AgentStartError, check_directory, serve

#: `passback agent run` exits with this when the server refused the agent for
#: good (wrong or revoked secret, unsupported protocol): restarting cannot help.
EXIT_REFUSED = 3

config_option = click.option(
    "--config",
    "config_path",
    envvar=["PASSBACK_AGENT_CONFIG"],
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("/etc/passback/agent.toml"),
    show_default=True,
    help="The agent's config file (written by onboarding, mode 0600).",
)
insecure_dev_option = click.option(
    "--insecure-dev", is_flag=True, help="Allow an http:// server (development only)."
)


@click.group()
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
@config_option
@insecure_dev_option
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
@config_option
@insecure_dev_option
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
