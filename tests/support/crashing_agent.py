"""An agent that is killed (SIGKILL) right after the directory accepted a
password and before it answers: the worst moment for exactly-once (SPEC S5, L4).

Usage: python -m tests.support.crashing_agent CONFIG
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import Any

from passback.agent import config as agent_config
from passback.agent.directory.base import DirectoryUser
from passback.agent.service import Agent, open_directory, serve


class DieAfterWrite:
    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def reset_password(
        self, user: DirectoryUser, new_password: str, *, unlock: bool, must_change: bool = False
    ) -> None:
        self._inner.reset_password(user, new_password, unlock=unlock)
        os.kill(os.getpid(), signal.SIGKILL)


if __name__ == "__main__":
    config = agent_config.load(Path(sys.argv[1]))
    agent = Agent(config, directory=DieAfterWrite(open_directory(config.directory)))
    asyncio.run(serve(agent))
