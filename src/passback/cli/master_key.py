"""``passback master-key``: the key the store's secrets are wrapped under."""

from __future__ import annotations

import os
from pathlib import Path

import click

from passback.cli import store
from passback.crypto.masterkey import MasterKey
from passback.server import keyring
from passback.server.errors import KeyringError


@click.group("master-key")
def master_key_group() -> None:
    """The key the store's secrets are wrapped under."""


@master_key_group.command("rotate")
@store.data_dir_option
@store.database_option
@store.master_key_file_option
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
    with store.open_session(data_dir, database_url) as session:
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
