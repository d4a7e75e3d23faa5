"""What the rootDSE and the FSMO attributes tell about a domain (SPEC W4, W7). Pure."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from ldap3.utils.dn import to_dn

from passback.agent.directory.base import MAX_PASSWORD_UTF16_UNITS, DirectoryCapabilities

#: LDAP_SERVER_POLICY_HINTS_OID (Windows Server 2012 R2 and later) and its
#: deprecated predecessor; with one, AD enforces history on a reset too.
POLICY_HINTS_OID = "1.2.840.113556.1.4.2239"
POLICY_HINTS_DEPRECATED_OID = "1.2.840.113556.1.4.2066"

#: Control value: BER SEQUENCE { INTEGER 1 } (flags = enforce policy).
POLICY_HINTS_VALUE = b"\x30\x03\x02\x01\x01"

ROOT_DSE_ATTRIBUTES = ["supportedControl", "defaultNamingContext", "dnsHostName"]


@dataclasses.dataclass(frozen=True)
class Domain:
    """What the agent learns about its domain once, from the rootDSE and the
    domain's FSMO role owner."""

    policy_hints_oid: str | None  # 1.2.840.113556.1.4.2239 / ...2066, or None
    pdc_host: str  # dNSHostName of the PDC emulator (W7)
    domain_dn: str

    @property
    def capabilities(self) -> DirectoryCapabilities:
        hints = self.policy_hints_oid is not None
        return DirectoryCapabilities(
            history_on_reset=hints,
            max_password_length=MAX_PASSWORD_UTF16_UNITS,
            policy_hints=hints,
            writes_to=self.pdc_host,
        )


def policy_hints_oid(supported_controls: Iterable[str]) -> str | None:
    """The policy-hints control to send, preferring the current OID; None if neither."""
    controls = set(supported_controls)
    for oid in (POLICY_HINTS_OID, POLICY_HINTS_DEPRECATED_OID):
        if oid in controls:
            return oid
    return None


def parent_dn(dn: str) -> str:
    """``CN=NTDS Settings,CN=DC1,CN=Servers,…`` → ``CN=DC1,CN=Servers,…``."""
    parts = to_dn(dn)
    if len(parts) < 2:
        raise ValueError(f"{dn!r} has no parent")
    return ",".join(parts[1:])


def same_host(a: str, b: str) -> bool:
    return a.rstrip(".").lower() == b.rstrip(".").lower()
