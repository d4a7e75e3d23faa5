"""The store a command works on: the options that name it (``--data-dir``,
``--database-url``, ``--master-key-file``) and opening it with its master key."""

from __future__ import annotations

import os
from pathlib import Path

import click
from sqlalchemy.orm import Session

from passback.crypto.masterkey import MasterKey
from passback.server import keyring
from passback.server.errors import KeyringError
from passback.server.store.engine import create_engine, session_factory
from passback.server.store.migrate import upgrade

DEFAULT_DATA_DIR = Path("passback-data")


def database_url(data_dir: Path, given: str | None) -> str:
    """``given`` (``--database-url``), or the SQLite file in ``data_dir``."""
    if given:
        return given
    # The data folder holds tenant keys: only its owner may enter it.
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    data_dir.chmod(0o700)
    return f"sqlite:///{(data_dir / 'passback.db').resolve()}"


def open_session(data_dir: Path, given_url: str | None) -> Session:
    """A session on the store, migrated to the latest schema first."""
    url = database_url(data_dir, given_url)
    upgrade(url)
    return session_factory(create_engine(url))()


def master_key(session: Session, data_dir: Path, key_file: Path | None) -> MasterKey:
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


data_dir_option = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_DATA_DIR,
    show_default=True,
    help="Folder for the embedded SQLite database (made mode 0700; files 0600).",
)
database_option = click.option(
    "--database-url", default=None, help="SQLAlchemy URL (overrides --data-dir), e.g. PostgreSQL."
)
master_key_file_option = click.option(
    "--master-key-file",
    envvar=["PASSBACK_MASTER_KEY_FILE"],
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    show_default="DATA_DIR/master.key",
    help="The key the store's secrets are wrapped under (made, mode 0600, for a new "
    "store); or its text in PASSBACK_MASTER_KEY. Keep it out of database backups.",
)
