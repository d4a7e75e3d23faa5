"""passback.agent.link: the pure parts of the asyncio relay client (S4, S9).
The link itself runs against a real hub in the integration tests."""

from __future__ import annotations

import dataclasses
import ssl
from pathlib import Path
from typing import Any, cast

import pytest

from passback.agent.config import AgentConfig, DirectoryConfig
from passback.agent.link import (
    MAX_INCOMING,
    PING_INTERVAL,
    PING_TIMEOUT,
    InsecureTransport,
    LinkRefused,
    RelayClient,
    tls_context,
)
from passback.crypto.certs import create
from passback.crypto.keys import PackageKey
from passback.protocol.errors import CloseCode
from passback.protocol.messages import MAX_CONTROL_FRAME, MAX_OPERATION_FRAME


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


def test_keepalive_is_well_inside_proxy_idle_cuts() -> None:
    """S9: proxies cut idle TCP after 2–3 minutes."""
    assert PING_INTERVAL + PING_TIMEOUT < 120


def test_incoming_bound_fits_every_frame_the_hub_sends() -> None:
    assert max(MAX_CONTROL_FRAME, MAX_OPERATION_FRAME) <= MAX_INCOMING


def test_link_refused() -> None:
    error = LinkRefused(CloseCode.AUTH_FAILED, "authentication failed")
    assert str(error) == "the relay refused this agent (4004 authentication failed)"
    assert error.code is CloseCode.AUTH_FAILED
    assert error.reason == "authentication failed"


def test_plain_transport_needs_the_development_flag(tmp_path: Path) -> None:
    """S4: the agent refuses ws:// unless started with --insecure-dev."""
    plain = config(tmp_path, server_url="http://127.0.0.1:8000")
    unused = cast(Any, None)
    with pytest.raises(InsecureTransport, match="--insecure-dev"):
        RelayClient(plain, unused, unused, unused)


def test_tls_context_with_the_system_store(tmp_path: Path) -> None:
    context = tls_context(config(tmp_path))
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert context.check_hostname
    assert context.minimum_version is ssl.TLSVersion.TLSv1_2


def test_tls_context_with_a_private_ca(tmp_path: Path) -> None:
    files = create(tmp_path / "tls", ["localhost"])
    context = tls_context(config(tmp_path, server_ca_file=files.ca))
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert any("Passback private CA" in str(c.get("subject")) for c in context.get_ca_certs())
