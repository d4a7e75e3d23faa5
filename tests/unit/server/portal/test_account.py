"""An account's password checks run in turn (U4, T1): parallel wrong
passwords cannot together pass the agent's lockout guard."""

from __future__ import annotations

import asyncio

from passback.server.portal.account import ChecksInTurn


async def test_checks_of_one_account_run_in_turn_others_alongside() -> None:
    turns = ChecksInTurn()
    inside = {"jdoe": 0, "ana": 0}
    most = {"jdoe": 0, "ana": 0}
    overlapped = False

    async def check(user: str) -> None:
        nonlocal overlapped
        async with turns.held(user):
            inside[user] += 1
            most[user] = max(most[user], inside[user])
            overlapped = overlapped or all(inside.values())
            await asyncio.sleep(0.01)
            inside[user] -= 1

    await asyncio.gather(*(check("jdoe") for _ in range(4)), check("ana"))
    assert most == {"jdoe": 1, "ana": 1} and overlapped
    assert turns._locks == {}  # nothing kept once nobody holds or waits
