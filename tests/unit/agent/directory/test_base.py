"""When a verify keeps clear of the directory's lockout (U4, T1):
``LockoutPolicy.near``."""

from __future__ import annotations

import dataclasses

import pytest

from passback.agent.directory.base import (
    CLOCK_SKEW,
    LOCKOUT_RESERVE,
    DirectoryUser,
    LockoutPolicy,
)

NOW = 1_700_000_000.0
USER = DirectoryUser(
    dn="CN=x",
    anchor=b"\0" * 16,
    sam_account_name="x",
    user_principal_name=None,
    mail=None,
    enabled=True,
    locked=False,
    protection=None,
    password_stamp=0,
)


def failed(count: int, seconds_ago: float = 60, *, locked: bool = False) -> DirectoryUser:
    return dataclasses.replace(
        USER, bad_password_count=count, bad_password_at=int(NOW - seconds_ago), locked=locked
    )


@pytest.mark.parametrize(
    ("threshold", "allowed"),
    # failures counted for which one more bind is still tried
    [(3, [0]), (5, [0, 1]), (10, [0, 1, 2, 3, 4, 5, 6])],
)
def test_a_bind_leaves_the_owner_their_reserve(threshold: int, allowed: list[int]) -> None:
    policy = LockoutPolicy(threshold, 1800)
    tried = [count for count in range(threshold + 1) if not policy.near(failed(count), NOW)]
    assert tried == allowed
    # after the last bind tried fails, the owner still has the reserve before the lockout
    assert threshold - (allowed[-1] + 1) - 1 >= min(LOCKOUT_RESERVE, threshold - 2)


def test_no_lockout_old_failures_and_a_locked_account_are_not_near() -> None:
    assert not LockoutPolicy(0, 1800).near(failed(50), NOW)  # the domain never locks
    # the window over, the DC's and the agent's clocks apart by up to CLOCK_SKEW
    assert not LockoutPolicy(5, 1800).near(failed(4, seconds_ago=1800 + CLOCK_SKEW), NOW)
    assert LockoutPolicy(5, 1800).near(failed(4, seconds_ago=1799 + CLOCK_SKEW), NOW)
    no_time = dataclasses.replace(failed(4), bad_password_at=0)  # taken to count
    assert LockoutPolicy(5, 1800).near(no_time, NOW)
    unread = dataclasses.replace(failed(4), bad_password_count=None)
    assert not LockoutPolicy(5, 1800).near(unread, NOW)  # binds; the agent warns
    assert LockoutPolicy(5, 0).near(failed(4, seconds_ago=10**8), NOW)  # counted until a logon
    assert not LockoutPolicy(5, 1800).near(failed(5, locked=True), NOW)  # the bind says so


def test_the_owners_own_browser_keeps_no_reserve_but_never_locks() -> None:
    """Reserve 0 (a verify from the owner's own browser): tried up to the
    failure before the one that locks, never that one."""
    policy = LockoutPolicy(5, 1800)
    tried = [count for count in range(6) if not policy.near(failed(count), NOW, reserve=0)]
    assert tried == [0, 1, 2, 3]  # a failure at 3 leaves the count at 4: not locked
