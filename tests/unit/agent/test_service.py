"""passback.agent.service: the agent's parts put together."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path
from typing import Any

import pytest

from passback.agent import service
from passback.agent.config import DirectoryKind
from passback.agent.directory.ad.active_directory import ActiveDirectory
from passback.agent.directory.base import DirectoryCapabilities, DirectoryUnavailable
from passback.agent.events import EventLog
from passback.agent.service import Agent
from passback.crypto import certs
from passback.crypto.keys import private_key_to_pem
from tests.support.agent import config
from tests.support.directory import FakeDirectory


class ComesBack(FakeDirectory):
    """Down for the first ``down`` questions, then a DC with policy hints."""

    def __init__(self, down: int) -> None:
        super().__init__()
        self.down = down

    def capabilities(self) -> DirectoryCapabilities:
        if self.down:
            self.down -= 1
            raise DirectoryUnavailable("LDAPS refused")
        return DirectoryCapabilities(
            history_on_reset=True,
            max_password_length=256,
            policy_hints=True,
            writes_to="dc1.example.test",
        )


def make_agent(tmp_path: Path, directory: FakeDirectory, agent_key: Any) -> Agent:
    agent_config = config(tmp_path)
    agent_config.private_key_file.write_bytes(private_key_to_pem(agent_key))
    return Agent(agent_config, directory=directory, events=EventLog(agent_config.event_log))


async def test_capabilities_are_read_again_when_the_dc_was_down(
    tmp_path: Path, agent_key: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """W4: whether history is enforced on resets is known once the DC answers,
    even if it did not answer when the agent started."""
    monkeypatch.setattr(service, "CAPABILITIES_RETRY", 0.01)
    agent = make_agent(tmp_path, ComesBack(down=2), agent_key)
    try:
        async with asyncio.timeout(5):
            await agent._watch_capabilities()
        assert agent._history_on_reset is True
        ids = [line for line in (tmp_path / "events.jsonl").read_text().splitlines()]
        assert sum('"id": 33009' in line for line in ids) == 2
    finally:
        agent.close()


def test_the_directory_kind_picks_the_adapter(tmp_path: Path) -> None:
    directory_config = config(tmp_path).directory
    (tmp_path / "pw").write_text("s3rvice-Pw\n")
    ca = certs.create(tmp_path / "tls", ["dc"]).ca
    directory_config = dataclasses.replace(directory_config, ca_file=ca)
    assert directory_config.kind is DirectoryKind.ACTIVE_DIRECTORY
    assert set(service.ADAPTERS) == set(DirectoryKind)
    directory = service.open_directory(directory_config)
    try:
        assert isinstance(directory, ActiveDirectory)
    finally:
        directory.close()
