"""The ``passback`` command: server, tenants, agent, certificates.

Every option can also come from the environment as ``PASSBACK_<COMMAND>_<OPTION>``
(e.g. ``PASSBACK_AGENT_ONBOARD_TOKEN``), which keeps secrets off command lines;
the agent's ``--config`` is ``PASSBACK_AGENT_CONFIG`` for both agent commands.

One module per command group; the options of the commands that open the store
are in :mod:`passback.cli.store`. ``passback demo`` imports the demo only when
it runs: the server and the agent never load it.
"""

from __future__ import annotations

import logging

import click

from passback import __version__
from passback.cli import agent, demo, master_key, server, support, tenant, tls
from passback.printable import PrintableFormatter

__all__ = ["main"]


@click.group(context_settings={"auto_envvar_prefix": "PASSBACK", "max_content_width": 100})
@click.version_option(__version__, prog_name="passback")
@click.option("-v", "--verbose", is_flag=True, help="Log more.")
def main(verbose: bool) -> None:
    """Self-service password reset with writeback to Active Directory."""
    # Log lines carry text from clients and agents: one record stays one line.
    handler = logging.StreamHandler()
    handler.setFormatter(PrintableFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, handlers=[handler])


main.add_command(server.server)
main.add_command(tenant.tenant)
main.add_command(master_key.master_key_group)
main.add_command(support.support)
main.add_command(tls.tls)
main.add_command(agent.agent)
main.add_command(demo.demo)
