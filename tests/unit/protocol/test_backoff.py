"""passback.protocol.backoff: when the agent dials again (S9, EVENTS 32014)."""

from __future__ import annotations

import itertools
import random

import pytest

from passback.protocol.backoff import FACTOR, INITIAL_DELAY, MAX_DELAY, backoff, should_retry
from passback.protocol.errors import CloseCode


def test_none_means_the_socket_broke() -> None:
    assert should_retry(None) is True


@pytest.mark.parametrize("code", [4001, 4004, 4006, CloseCode.AUTH_FAILED])
def test_final_codes(code: int) -> None:
    assert should_retry(code) is False


@pytest.mark.parametrize("code", [1000, 1001, 1009, 1011, 4002, 4005, 4008, CloseCode.NORMAL])
def test_normal_codes(code: int) -> None:
    assert should_retry(code) is True


@pytest.mark.parametrize("code", [0, 1006, 3000, 4003, 4999, -1])
def test_unknown_codes_are_retried(code: int) -> None:
    assert should_retry(code) is True


def test_delays_stay_within_half_initial_and_the_doubling_cap() -> None:
    delays = list(itertools.islice(backoff(rng=random.Random(1)), 200))
    for attempt, delay in enumerate(delays):
        cap = min(INITIAL_DELAY * FACTOR**attempt, MAX_DELAY)
        assert INITIAL_DELAY / 2 <= delay <= cap


def test_cap_doubles_up_to_the_maximum() -> None:
    """With an rng that always picks the top, the delays show the cap itself."""

    class Top(random.Random):
        def uniform(self, a: float, b: float) -> float:
            return b

    delays = list(itertools.islice(backoff(1.0, 10.0, 2.0, rng=Top()), 7))
    assert delays == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0, 10.0]


def test_jitter_spreads_agents() -> None:
    delays = list(itertools.islice(backoff(rng=random.Random(7)), 50))[10:]
    assert len(set(delays)) == len(delays)
    assert max(delays) > MAX_DELAY / 2 > min(delays)


def test_seeded_rng_is_deterministic() -> None:
    first = list(itertools.islice(backoff(rng=random.Random(42)), 20))
    again = list(itertools.islice(backoff(rng=random.Random(42)), 20))
    assert first == again


def test_without_rng_it_still_works() -> None:
    delay = next(backoff())
    assert INITIAL_DELAY / 2 <= delay <= INITIAL_DELAY
