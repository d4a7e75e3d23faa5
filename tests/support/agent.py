"""An agent's configuration for unit tests, every file in one folder."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from passback.agent.config import AgentConfig, DirectoryConfig
from passback.crypto.keys import PackageKey


def config(folder: Path, **changes: Any) -> AgentConfig:
    base = AgentConfig(
        path=folder / "agent.toml",
        agent_id="a",
        tenant_id="t",
        name="n",
        server_url="https://passback.example.test",
        relay_path="/relay/v1",
        relay_secret="pbr_x",
        package_keys=(PackageKey.generate(),),
        private_key_file=folder / "agent.key",
        state_dir=folder / "state",
        event_log=folder / "events.jsonl",
        directory=DirectoryConfig("ldaps://dc", "CN=svc", folder / "pw", "DC=x", folder / "ca"),
    )
    return dataclasses.replace(base, **changes)
