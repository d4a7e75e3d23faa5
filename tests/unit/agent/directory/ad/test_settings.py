"""ADSettings: what the agent accepts as its way to the directory."""

from __future__ import annotations

import pytest

from passback.agent.directory.ad.settings import ADSettings
from passback.agent.directory.base import DirectoryConfigError


def settings(**changes: str) -> ADSettings:
    values = {
        "ldap_url": "ldaps://dc1.example.test",
        "bind_dn": "CN=svc-passback,OU=Service Accounts,DC=example,DC=test",
        "bind_password": "not-used-here",
        "ca_file": "/etc/passback/ca.pem",
        "search_base": "OU=Staff,DC=example,DC=test",
    } | changes
    return ADSettings(**values)


def test_a_dn_is_accepted() -> None:
    assert settings().bind_dn.startswith("CN=svc-passback")


@pytest.mark.parametrize("bind_dn", ["svc-passback@example.test", "EXAMPLE\\svc-passback", ""])
def test_bind_dn_must_be_a_dn(bind_dn: str) -> None:
    """W5: the agent reads its own account by this DN to refuse writing it;
    a UPN or a down-level name would bind but could not be read."""
    with pytest.raises(DirectoryConfigError, match="distinguished name"):
        settings(bind_dn=bind_dn)


def test_plain_ldap_is_refused() -> None:
    with pytest.raises(DirectoryConfigError, match="ldaps://"):
        settings(ldap_url="ldap://dc1.example.test")
