"""When the agent dials the relay again after losing it (SPEC S9, EVENTS 32014)."""

from __future__ import annotations

import random
from collections.abc import Iterator

from passback.protocol.errors import CloseCode

#: First retry soon: most drops are a proxy cutting an idle or old connection.
INITIAL_DELAY = 1.0
#: Never wait longer than this between attempts: an outage should end quickly
#: for users once the network is back.
MAX_DELAY = 60.0
FACTOR = 2.0


def backoff(
    initial: float = INITIAL_DELAY,
    maximum: float = MAX_DELAY,
    factor: float = FACTOR,
    rng: random.Random | None = None,
) -> Iterator[float]:
    """Delays with "full jitter": uniform in [0, cap], the cap doubling up to
    ``maximum``, so that many agents cut off together do not return together."""
    rand = rng or random.Random()  # noqa: S311 - jitter, not a secret
    cap = initial
    while True:
        yield rand.uniform(initial / 2, cap)
        cap = min(cap * factor, maximum)


def should_retry(close_code: CloseCode | int | None) -> bool:
    """Dial again after the link ended this way? ``None`` means the socket
    broke without a close frame, which is always worth another try."""
    if close_code is None:
        return True
    try:
        return CloseCode(close_code).retry
    except ValueError:
        return True
