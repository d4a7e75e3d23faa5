"""``passback tenant``: create tenants and their tokens."""

from __future__ import annotations

from pathlib import Path

import click

from passback.cli import store
from passback.server.errors import SlugTaken, UnknownTenant
from passback.server.tenants import create_tenant, new_onboarding_token


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
