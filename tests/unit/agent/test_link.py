"""passback.agent.link: the pure parts of the asyncio relay client (S4, S9).
The link itself runs against a real hub in the integration tests."""

from __future__ import annotations

import asyncio
import ssl
import time
import uuid
from pathlib import Path
from typing import Any, cast

import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import InvalidStatus
from websockets.http11 import Request, Response

from passback.agent.link import (
    MAX_INCOMING,
    PING_INTERVAL,
    PING_TIMEOUT,
    InsecureTransport,
    LinkRefused,
    RelayClient,
    _unknown,
    tls_context,
)
from passback.crypto.certs import create
from passback.crypto.envelope import Metadata, seal
from passback.crypto.keys import PackageKey
from passback.protocol.errors import CloseCode
from passback.protocol.messages import MAX_CONTROL_FRAME, MAX_OPERATION_FRAME
from passback.protocol.operations import Operation
from passback.protocol.outcomes import Outcome
from tests.support.agent import config


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


async def test_the_link_offers_no_compression(tmp_path: Path) -> None:
    """Frames cross uncompressed: sealed envelopes do not shrink."""
    offered: list[str | None] = []

    def refuse(connection: ServerConnection, request: Request) -> Response:
        offered.append(request.headers.get("Sec-WebSocket-Extensions"))
        return connection.respond(403, "no\n")

    async with serve(lambda ws: ws.close(), "127.0.0.1", 0, process_request=refuse) as server:
        port = server.sockets[0].getsockname()[1]
        plain = config(tmp_path, server_url=f"http://127.0.0.1:{port}")
        unused = cast(Any, None)
        client = RelayClient(plain, unused, unused, unused, insecure_dev=True)
        with pytest.raises(InvalidStatus):
            await client._session(asyncio.Event())
    assert offered == [None]


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


def test_an_operation_that_fails_inside_the_agent_is_answered_unknown(
    agent_key: Any,
) -> None:
    """If the agent itself fails mid-operation (its journal, its log), the caller
    learns at once that the outcome is unknown, not after a timeout (W1)."""
    now = int(time.time())
    rid = str(uuid.uuid4())
    meta = Metadata(str(uuid.uuid4()), str(uuid.uuid4()), rid, Operation.RESET, b"a", now, now + 9)
    envelope = seal(
        meta, ["S3cret-pass"], agent_key=agent_key.public_key(), package_key=PackageKey.generate()
    )
    result = _unknown(envelope)
    assert result is not None
    assert (result.request_id, result.outcome, result.event_id) == (
        rid,
        Outcome.OUTCOME_UNKNOWN,
        32000,
    )
    assert _unknown(b"garbage") is None
