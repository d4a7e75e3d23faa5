"""TLS for LDAPS: one verifying context built once, TCP_NODELAY on every socket.

ldap3 builds a new SSL context (and reads the CA file) on every connection and
leaves Nagle's algorithm on; against a Samba DC on loopback that cost about
25 ms (the CA file) and 40 ms (a delayed ACK on the first exchange) per
connection.
"""

from __future__ import annotations

import socket
import ssl
from typing import Any

import ldap3

from passback.agent.directory.base import DirectoryConfigError


def verifying_context(ca_file: str) -> ssl.SSLContext:
    """A client context that trusts only ``ca_file`` and checks the server's name.

    Raises:
        DirectoryConfigError: the CA file cannot be read.
    """
    try:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca_file)
    except (OSError, ssl.SSLError) as exc:
        raise DirectoryConfigError(f"cannot load the CA file {ca_file!r}: {exc}") from exc
    context.verify_mode = ssl.CERT_REQUIRED
    context.check_hostname = True
    # DC certificates made by Samba carry the name in the CN only, no SAN.
    context.hostname_checks_common_name = True
    return context


class PinnedTls(ldap3.Tls):  # type: ignore[misc]  # ldap3 is untyped
    """ldap3 TLS settings that wrap with a prebuilt context and an expected name."""

    def __init__(self, context: ssl.SSLContext, server_name: str) -> None:
        super().__init__(validate=ssl.CERT_REQUIRED, valid_names=[server_name])
        self._context = context
        self._server_name = server_name

    def wrap_socket(self, connection: Any, do_handshake: bool = False) -> None:
        raw: socket.socket = connection.socket
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # The name check happens in the handshake (check_hostname), not in ldap3.
        try:
            connection.socket = self._context.wrap_socket(
                raw,
                server_side=False,
                do_handshake_on_connect=do_handshake,
                server_hostname=self._server_name,
            )
        except BaseException:
            raw.close()  # ldap3 leaves it open when the handshake fails
            raise
