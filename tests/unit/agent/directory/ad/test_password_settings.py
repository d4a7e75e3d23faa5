"""Lockout settings as the directory stores them (U4): a fine-grained policy's
or the domain's; one the service account cannot read is an error naming the
right, never "no lockout"."""

from __future__ import annotations

import pytest

from passback.agent.directory.ad.password_settings import (
    DOMAIN_READ_RIGHT,
    PSO_READ_RIGHT,
    lockout_from_domain,
    lockout_from_pso,
)
from passback.agent.directory.base import DirectoryConfigError, LockoutPolicy

THIRTY_MINUTES = str(-30 * 60 * 10_000_000).encode()  # a negative interval of 100 ns


def test_the_domains_lockout() -> None:
    attrs = {"lockoutThreshold": [b"5"], "lockOutObservationWindow": [THIRTY_MINUTES]}
    assert lockout_from_domain("DC=x", attrs) == LockoutPolicy(5, 1800)
    never = {"lockoutThreshold": [b"0"], "lockOutObservationWindow": [b"0"]}
    assert lockout_from_domain("DC=x", never) == LockoutPolicy(0, 0)


def test_a_psos_lockout() -> None:
    attrs = {
        "cn": [b"staff"],
        "msDS-LockoutThreshold": [b"10"],
        "msDS-LockoutObservationWindow": [THIRTY_MINUTES],
    }
    assert lockout_from_pso("CN=staff", attrs) == LockoutPolicy(10, 1800)


def test_unreadable_settings_name_the_right() -> None:
    with pytest.raises(DirectoryConfigError, match="lockoutThreshold") as domain:
        lockout_from_domain("DC=x", {"lockOutObservationWindow": [THIRTY_MINUTES]})
    assert DOMAIN_READ_RIGHT in str(domain.value)
    with pytest.raises(DirectoryConfigError, match="msDS-LockoutThreshold") as pso:
        lockout_from_pso("CN=staff", {"cn": [b"staff"]})
    assert PSO_READ_RIGHT in str(pso.value)
