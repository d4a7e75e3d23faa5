"""How the agent reaches one Active Directory domain."""

from __future__ import annotations

import dataclasses
import urllib.parse

from ldap3.core.exceptions import LDAPInvalidDnError
from ldap3.utils.dn import parse_dn

from passback.agent.directory.base import DirectoryConfigError

LDAPS_DEFAULT_PORT = 636


@dataclasses.dataclass(frozen=True, kw_only=True)
class ADSettings:
    """Connection settings; only ``ldaps://`` is accepted (passwords cross this link).

    ``bind_dn`` must be a DN, not a UPN or ``DOMAIN\\name``: the agent reads the
    account by it to know which user it must never write (W5).

    Raises:
        DirectoryConfigError: on a plain ``ldap://`` URL or a nonsensical value.
    """

    ldap_url: str
    bind_dn: str
    bind_password: str = dataclasses.field(repr=False)
    ca_file: str
    search_base: str
    tls_server_name: str | None = None  # default: the host of ldap_url
    pool_size: int = 2
    connect_timeout: float = 5.0
    operation_timeout: float = 10.0

    def __post_init__(self) -> None:
        url = urllib.parse.urlsplit(self.ldap_url)
        if url.scheme.lower() != "ldaps":
            raise DirectoryConfigError(
                f"ldap_url must use ldaps:// (got {url.scheme or 'no'} scheme): "
                "passwords are never sent over plain LDAP"
            )
        if not url.hostname:
            raise DirectoryConfigError(f"ldap_url has no host: {self.ldap_url!r}")
        try:
            parse_dn(self.bind_dn)
        except LDAPInvalidDnError as exc:
            raise DirectoryConfigError(
                f"bind_dn must be the service account's distinguished name, such as "
                f"CN=svc-passback,OU=Service Accounts,DC=example,DC=org (got {self.bind_dn!r}: "
                f"{exc})"
            ) from exc
        if self.pool_size < 1:
            raise DirectoryConfigError("pool_size must be at least 1")
        if self.connect_timeout <= 0 or self.operation_timeout <= 0:
            raise DirectoryConfigError("timeouts must be positive")

    @property
    def host(self) -> str:
        host = urllib.parse.urlsplit(self.ldap_url).hostname
        assert host is not None  # checked in __post_init__
        return host

    @property
    def port(self) -> int:
        return urllib.parse.urlsplit(self.ldap_url).port or LDAPS_DEFAULT_PORT

    @property
    def tls_name(self) -> str:
        return self.tls_server_name or self.host
