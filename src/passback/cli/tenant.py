"""``passback tenant``: create tenants and their tokens."""

from __future__ import annotations

from pathlib import Path

import click

from passback.cli import store
from passback.server.errors import SlugTaken, UnknownTenant
from passback.server.tenants import create_tenant, new_onboarding_token, set_banned


@click.group()
def tenant() -> None:
    """Create tenants and their tokens."""


@tenant.command("create")
@click.argument("name")
@click.option("--slug", default=None, help="The portal's URL part; default: from NAME.")
@store.data_dir_option
@store.database_option
@store.master_key_file_option
def tenant_create(
    name: str,
    slug: str | None,
    data_dir: Path,
    database_url: str | None,
    master_key_file: Path | None,
) -> None:
    """Create a tenant; prints its admin API token and a one-time onboarding
    token. They are shown once and stored only hashed."""
    with store.open_session(data_dir, database_url) as session:
        master_key = store.master_key(session, data_dir, master_key_file)
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
@store.data_dir_option
@store.database_option
def tenant_onboarding_token(tenant_id: str, data_dir: Path, database_url: str | None) -> None:
    """A new one-time onboarding token for another agent of TENANT_ID."""
    with store.open_session(data_dir, database_url) as session:
        try:
            token = new_onboarding_token(session, tenant_id)
        except UnknownTenant as exc:
            raise click.ClickException(f"no tenant {tenant_id}") from exc
        session.commit()
    click.echo(token)


@tenant.command("password-policy")
@click.argument("tenant_id")
@click.option(
    "--refuse-common/--allow-common",
    default=None,
    help="Refuse common and easily guessed passwords before they reach the directory "
    "(on for a new tenant).",
)
@click.option(
    "--banned-word",
    "banned_words",
    multiple=True,
    help="A word no password may contain, besides the tenant's name and slug "
    "(repeat it; replaces the tenant's list).",
)
@click.option("--clear-banned-words", is_flag=True, help="Remove the tenant's own words.")
@store.data_dir_option
@store.database_option
def tenant_password_policy(
    tenant_id: str,
    refuse_common: bool | None,
    banned_words: tuple[str, ...],
    clear_banned_words: bool,
    data_dir: Path,
    database_url: str | None,
) -> None:
    """Set what TENANT_ID refuses as too easy to guess; prints the result."""
    if banned_words and clear_banned_words:
        raise click.UsageError("give --banned-word or --clear-banned-words, not both")
    words = [] if clear_banned_words else list(banned_words) or None
    with store.open_session(data_dir, database_url) as session:
        try:
            row = set_banned(session, tenant_id, refuse_common=refuse_common, banned_words=words)
        except UnknownTenant as exc:
            raise click.ClickException(f"no tenant {tenant_id}") from exc
        except ValueError as exc:
            raise click.ClickException(str(exc)) from exc
        refusing, own = row.refuse_common, row.banned_words.splitlines()
        session.commit()
    click.echo(f"refuse common passwords: {'yes' if refusing else 'no'}")
    click.echo(f"banned words:            {', '.join(own) or '(none besides name and slug)'}")
