"""The sliding-window rate limit of username lookups (SPEC T2)."""

from __future__ import annotations

import datetime as dt

import pytest

from passback.server import ratelimit
from passback.server.ratelimit import SlidingWindowLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.now, dt.UTC)


async def test_limit_per_key_within_the_window() -> None:
    clock = Clock()
    limiter = SlidingWindowLimiter(3, 60, clock)
    assert [await limiter.allow("a") for _ in range(4)] == [True, True, True, False]
    assert await limiter.allow("b")  # another address has its own count
    clock.now += 59
    assert not await limiter.allow("a")
    clock.now += 1  # the first hits leave the window
    assert await limiter.allow("a")


async def test_refused_hits_do_not_count() -> None:
    clock = Clock()
    limiter = SlidingWindowLimiter(1, 10, clock)
    assert await limiter.allow("a")
    for _ in range(5):
        clock.now += 1
        assert not await limiter.allow("a")
    clock.now += 5
    assert await limiter.allow("a")


async def test_memory_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ratelimit, "MAX_KEYS", 3)
    limiter = SlidingWindowLimiter(1, 60, Clock())
    for key in "abcd":
        assert await limiter.allow(key)
    assert await limiter.allow("a")  # forgotten as the stalest


async def test_a_flood_of_fresh_keys_does_not_lift_a_block(monkeypatch: pytest.MonkeyPatch) -> None:
    """T1: past the memory bound the stalest key is forgotten, but not one at
    its limit (an account's failed sign-ins): fresh keys cannot push it out."""
    monkeypatch.setattr(ratelimit, "MAX_KEYS", 3)
    clock = Clock()
    limiter = SlidingWindowLimiter(2, 60, clock)
    assert await limiter.allow("target") and await limiter.allow("target")
    for n in range(10):
        clock.now += 1
        assert await limiter.allow(f"flood-{n}")
    assert not await limiter.allow("target")  # still at its limit
    clock.now += 60
    for n in range(3):
        assert await limiter.allow(f"later-{n}")
    assert await limiter.allow("target")  # its window passed: forgotten like any other


async def test_when_every_scanned_key_blocks_the_stalest_goes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(ratelimit, "MAX_KEYS", 2)
    monkeypatch.setattr(ratelimit, "EVICTION_SCAN", 2)
    limiter = SlidingWindowLimiter(1, 60, Clock())
    for key in "abc":
        assert await limiter.allow(key)
    assert await limiter.allow("a")  # the stalest, though at its limit
    assert not await limiter.allow("c")


def test_bad_limits() -> None:
    with pytest.raises(ValueError):
        SlidingWindowLimiter(0, 60)


@pytest.mark.parametrize(
    ("host", "key"),
    [
        ("192.0.2.7", "192.0.2.7"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),
        ("::ffff:192.0.2.7", "192.0.2.7"),
        ("unknown", "unknown"),
    ],
)
def test_address_key_groups_ipv6_by_64(host: str, key: str) -> None:
    assert ratelimit.address_key(host) == key


async def test_a_failure_counter_reserves_then_refunds() -> None:
    """Sign-in throttles (T2): ``allow`` counts an attempt before it is made,
    ``refund`` gives it back when it succeeded, ``add`` counts even past the
    limit, and the window forgets old failures."""
    clock = Clock()
    failures = SlidingWindowLimiter(2, 60, clock)
    assert await failures.allow("k")
    await failures.refund("k")  # it succeeded
    assert await failures.allow("k") and await failures.allow("k")
    assert not await failures.allow("k")  # full
    await failures.refund("nobody")  # nothing to give back: no harm
    await failures.add("k")  # past the limit: still full, nothing grows
    assert not await failures.allow("k") and await failures.allow("other")
    clock.now += 61
    assert await failures.allow("k")
