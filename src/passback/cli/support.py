"""``passback support``: what happened behind a support code (SPEC E2)."""

from __future__ import annotations

from pathlib import Path

import click
import sqlalchemy

from passback.agent.events import EventId
from passback.cli import store
from passback.printable import printable
from passback.server.store.engine import create_engine, session_factory
from passback.server.store.models import SupportRecord
from passback.server.support import local, lookup


@click.group()
def support() -> None:
    """Look up what happened behind a support code (SPEC E2)."""


@support.command("show")
@click.argument("code")
@store.data_dir_option
@store.database_option
def support_show(code: str, data_dir: Path, database_url: str | None) -> None:
    """Print the record of support CODE: when, tenant, user, request, outcome,
    agent event."""
    # A lookup reads only: no migration, no new database file or folder.
    if database_url is None and not (data_dir / "passback.db").is_file():
        raise click.ClickException(f"no Passback database in {data_dir}")
    engine = create_engine(store.database_url(data_dir, database_url))
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
        ("message shown", f"{r.message} (shown in {r.language})" if r.language else r.message),
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
