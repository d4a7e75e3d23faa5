"""A failed onboarding leaves no stray private key (set-up issue): the new key is
written as agent.key.new and removed again when the server refuses the token,
cannot be reached, or its CA file is missing."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from passback.agent.config import DirectoryConfig
from passback.agent.events import EventLog
from passback.agent.onboard import OnboardingError, OnboardRequest, onboard


class _Refuses(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(401)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def refusing_server() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Refuses)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _request(folder: Path, server_url: str, **extra: object) -> OnboardRequest:
    return OnboardRequest(
        server_url=server_url,
        token="pbo_wrong",
        name="agent-1",
        directory=DirectoryConfig(
            ldap_url="ldaps://dc1.example.test",
            bind_dn="CN=svc,DC=example,DC=test",
            bind_password_file=folder / "bind.pw",
            search_base="DC=example,DC=test",
            ca_file=folder / "dc-ca.pem",
        ),
        config_path=folder / "agent.toml",
        insecure_dev=True,
        **extra,  # type: ignore[arg-type]
    )


def _onboard(request: OnboardRequest, folder: Path) -> None:
    events = EventLog(folder / "events.jsonl")
    try:
        onboard(request, check_directory=lambda _d: None, events=events)
    finally:
        events.close()


def test_refused_token_leaves_no_key(tmp_path: Path, refusing_server: str) -> None:
    with pytest.raises(OnboardingError, match="refused the onboarding token"):
        _onboard(_request(tmp_path, refusing_server), tmp_path)
    assert not (tmp_path / "agent.key.new").exists()
    assert not (tmp_path / "agent.key").exists()


def test_missing_server_ca_leaves_no_key(tmp_path: Path, refusing_server: str) -> None:
    https_url = refusing_server.replace("http://", "https://")
    request = _request(tmp_path, https_url, server_ca_file=tmp_path / "missing-ca.pem")
    with pytest.raises(OnboardingError, match="cannot use the server's CA file"):
        _onboard(request, tmp_path)
    assert not (tmp_path / "agent.key.new").exists()


def test_a_failed_reonboarding_keeps_the_old_key(tmp_path: Path, refusing_server: str) -> None:
    (tmp_path / "agent.key").write_text("old key")
    with pytest.raises(OnboardingError):
        _onboard(_request(tmp_path, refusing_server), tmp_path)
    assert (tmp_path / "agent.key").read_text() == "old key"
    assert not (tmp_path / "agent.key.new").exists()
