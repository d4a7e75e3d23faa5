"""How many relay links may be in their handshake at once (SPEC S1).

A relay link costs a TLS session, a task and link state until its agent has
authenticated, and authenticating hashes a secret in a worker thread. Anyone
who can reach the server can open such links, so they are counted per client
address and overall, and an upgrade past either count is refused before any
link state exists. Authenticated links are not counted: an agent's link is
never refused because strangers are knocking.
"""

from __future__ import annotations

#: Unauthenticated links one address may hold: a host runs one or two agents,
#: and a few more cover several hosts behind one NAT address.
MAX_HANDSHAKES_PER_ADDRESS = 8
#: Unauthenticated links overall: enough for many agents returning together
#: after a restart (their backoff spreads them), few enough to cost little.
MAX_HANDSHAKES = 64


class HandshakeGate:
    """Counts handshakes in flight; ``enter`` says whether one more may start."""

    def __init__(
        self, total: int = MAX_HANDSHAKES, per_address: int = MAX_HANDSHAKES_PER_ADDRESS
    ) -> None:
        if total < 1 or per_address < 1:
            raise ValueError("handshake limits must be at least 1")
        self._total = total
        self._per_address = per_address
        self._by_address: dict[str, int] = {}
        self._in_flight = 0

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def enter(self, address: str) -> bool:
        """Admit one more handshake from ``address``; False: over a limit,
        nothing was counted and ``leave`` must not be called."""
        held = self._by_address.get(address, 0)
        if self._in_flight >= self._total or held >= self._per_address:
            return False
        self._by_address[address] = held + 1
        self._in_flight += 1
        return True

    def leave(self, address: str) -> None:
        """A handshake admitted by ``enter`` ended (authenticated or not)."""
        held = self._by_address[address] - 1
        if held:
            self._by_address[address] = held
        else:
            del self._by_address[address]  # an address that left holds no memory
        self._in_flight -= 1
