"""Schema migrations (Alembic), shipped inside the package and run by the server
at start, so an upgrade of the package upgrades the store with it."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    # Passed as an attribute, not an option: ini interpolation would mangle a
    # "%" in a database password.
    config.attributes["database_url"] = database_url
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    """Bring the store at ``database_url`` to ``revision`` (creating it if empty)."""
    command.upgrade(alembic_config(database_url), revision)
