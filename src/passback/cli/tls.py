"""``passback tls``: certificates for the server."""

from __future__ import annotations

from pathlib import Path

import click

from passback.crypto import certs


@click.group()
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
