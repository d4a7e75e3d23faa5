"""``passback demo``: the whole product on one machine (:mod:`passback.demo`).

The demo is an optional extra (``passback[demo]``): it is imported when the
command runs, so that the server and the agent never load it or need it.
"""

from __future__ import annotations

import logging
from pathlib import Path

import click

#: The top-level modules the ``demo`` extra installs beyond Passback's own
#: dependencies (the mail catcher's SMTP server).
EXTRA_MODULES = frozenset({"aiosmtpd"})
INSTALL_HINT = (
    "the demo needs Passback's 'demo' extra: pip install 'passback[demo]' "
    "(scripts/setup installs it)"
)


@click.command()
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
    # Imported here, not at the top: `passback server` and `passback agent` load
    # this module too, and must neither load the demo nor need its extra.
    try:
        from passback.demo.run import DemoError
        from passback.demo.run import run as run_demo
    except ModuleNotFoundError as exc:
        if (exc.name or "").partition(".")[0] not in EXTRA_MODULES:
            raise
        raise click.ClickException(INSTALL_HINT) from exc
    if logging.getLogger().getEffectiveLevel() > logging.DEBUG:
        # The demo prints its own progress ("mail.log" is the mail catcher's aiosmtpd).
        for name in ("passback", "httpx", "alembic", "mail.log"):
            logging.getLogger(name).setLevel(logging.WARNING)
    try:
        run_demo(directory, port=port, dc_address=dc_address, out=click.echo)
    except DemoError as exc:
        raise click.ClickException(str(exc)) from exc
