"""Rate limits (SPEC T2): the portal's username lookups per client address,
sign-in attempts per address, failed sign-ins per account and per device;
the console's; and the server's support records and connections per address.

``SlidingWindowLimiter`` keeps its counts in this process (one server node),
behind the seam ``types.RateLimiter``. Several nodes will share counts in Redis behind the
same interface (ARCHITECTURE, "Scale-out").
"""

from __future__ import annotations

import asyncio
import collections
import ipaddress

from passback.server.store.models import utcnow
from passback.server.types import Clock

#: An IPv6 client is counted by its /64: one host usually holds a whole /64
#: and could otherwise take a fresh address for every hit.
IPV6_PREFIX = 64

#: Keys tracked at once; past this the stalest key is forgotten, so a flood
#: of client addresses cannot exhaust memory …
MAX_KEYS = 100_000
#: … but not one at its limit, of the stalest this many: a flood of fresh
#: keys cannot lift a block (an account's failed sign-ins) by pushing it out.
EVICTION_SCAN = 64


def address_key(host: str) -> str:
    """The limiter's key for a client address: itself for IPv4 (and anything
    that is not an address), its /64 network for IPv6."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, IPV6_PREFIX), strict=False))
    return str(address)


class SlidingWindowLimiter:
    """At most ``limit`` hits per key in any ``window`` seconds."""

    def __init__(self, limit: int, window: float, clock: Clock = utcnow) -> None:
        if limit < 1 or window <= 0:
            raise ValueError("a rate limit needs limit ≥ 1 and window > 0")
        self.limit = limit
        self.window = window
        self._clock = clock
        self._hits: collections.OrderedDict[str, collections.deque[float]] = (
            collections.OrderedDict()
        )
        self._lock = asyncio.Lock()

    async def allow(self, key: str) -> bool:
        """Count one hit of ``key`` if it has hits left; whether it had."""
        return await self._hit(key)

    async def refund(self, key: str) -> None:
        """Take back the latest hit of ``key`` (an attempt counted before it was
        known to fail, which then succeeded)."""
        async with self._lock:
            hits = self._hits.get(key)
            if hits:
                hits.pop()

    async def add(self, key: str) -> None:
        """Count one hit of ``key`` even past the limit."""
        await self._hit(key, force=True)

    async def _hit(self, key: str, *, force: bool = False) -> bool:
        async with self._lock:
            now = self._clock().timestamp()
            hits = self._hits.pop(key, None) or collections.deque()
            while hits and hits[0] <= now - self.window:
                hits.popleft()
            allowed = len(hits) < self.limit
            if allowed or force:
                hits.append(now)
                while len(hits) > self.limit:  # what is past the limit changes nothing
                    hits.popleft()
            if hits:
                self._hits[key] = hits  # most recent last
            while len(self._hits) > MAX_KEYS:
                self._forget_one(now)
            return allowed

    def _forget_one(self, now: float) -> None:
        """Forget the stalest key that is not at its limit within the window,
        of the ``EVICTION_SCAN`` stalest; the stalest, if all of them are."""
        victim = next(iter(self._hits))
        for scanned, (key, hits) in enumerate(self._hits.items()):
            if scanned >= EVICTION_SCAN:
                break
            if len(hits) < self.limit or hits[0] <= now - self.window:
                victim = key
                break
        del self._hits[victim]
