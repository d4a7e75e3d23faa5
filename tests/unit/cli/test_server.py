"""``passback server`` trusts forwarded headers only from the proxies named (M3)
and keeps its data folder private."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from passback import cli
from passback.server import listen


@pytest.fixture
def uvicorn_run(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    def run(app: object, **kwargs: Any) -> None:
        seen.update(kwargs)

    monkeypatch.setattr(cli.server.listen, "serve", run)
    return seen


def test_server_trusts_no_proxy_by_default(uvicorn_run: dict[str, Any], tmp_path: Path) -> None:
    result = CliRunner().invoke(cli.main, ["server", "--insecure-dev", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert uvicorn_run["proxy_headers"] is False
    assert "forwarded_allow_ips" not in uvicorn_run


def test_server_trusts_the_proxies_named(uvicorn_run: dict[str, Any], tmp_path: Path) -> None:
    args = ["server", "--insecure-dev", "--data-dir", str(tmp_path)]
    result = CliRunner().invoke(cli.main, [*args, "--forwarded-allow-ips", "10.0.0.5,fd00::/8"])
    assert result.exit_code == 0, result.output
    assert uvicorn_run["proxy_headers"] is True
    assert uvicorn_run["forwarded_allow_ips"] == "10.0.0.5,fd00::/8"


@pytest.mark.parametrize(
    ("options", "share"),
    [
        ([], listen.MAX_CONNECTIONS_PER_ADDRESS),
        (["--max-connections-per-address", "7"], 7),
        # Behind trusted proxies every client has a proxy's address.
        (["--forwarded-allow-ips", "10.0.0.5", "--max-connections", "500"], 500),
        (["--forwarded-allow-ips", "10.0.0.5", "--max-connections-per-address", "7"], 7),
    ],
)
def test_an_address_share_of_the_connections(
    uvicorn_run: dict[str, Any], tmp_path: Path, options: list[str], share: int
) -> None:
    args = ["server", "--insecure-dev", "--data-dir", str(tmp_path), *options]
    result = CliRunner().invoke(cli.main, args)
    assert result.exit_code == 0, result.output
    assert uvicorn_run["limits"].max_connections_per_address == share


def test_server_makes_its_data_folder_private(uvicorn_run: dict[str, Any], tmp_path: Path) -> None:
    fresh, existing = tmp_path / "fresh", tmp_path / "existing"
    existing.mkdir(mode=0o755)
    for folder in (fresh, existing):
        result = CliRunner().invoke(
            cli.main, ["server", "--insecure-dev", "--data-dir", str(folder)]
        )
        assert result.exit_code == 0, result.output
        assert folder.stat().st_mode & 0o777 == 0o700
        assert (folder / "passback.db").stat().st_mode & 0o777 == 0o600


def test_the_command_loads_the_server_app_only_to_serve() -> None:
    """Every ``passback`` command but ``server`` starts without the web app
    (the agent's own process too): half the start-up time, and less memory."""
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, passback.cli, passback.cli.agent; "
            "print(sorted(m for m in sys.modules if m.partition('.')[0] == 'fastapi' "
            "or m == 'passback.server.app' or m.endswith('_pages') or m.endswith('.pages')))",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("options", "warned"),
    [([], True), (["--public-url", "https://sspr.acme.test"], False)],
)
def test_a_server_without_a_public_url_warns(
    uvicorn_run: dict[str, Any], tmp_path: Path, options: list[str], warned: bool
) -> None:
    """Without --public-url code mails carry no link, and past a user's hourly
    caps no code can be sent (T1): a real deployment is told at start."""
    (tmp_path / "tls.crt").write_text("not read: the server is not started")
    (tmp_path / "tls.key").write_text("not read")
    tls = ["--tls-cert", str(tmp_path / "tls.crt"), "--tls-key", str(tmp_path / "tls.key")]
    args = ["server", "--data-dir", str(tmp_path / "data"), *tls, *options]
    result = CliRunner().invoke(cli.main, args)
    assert result.exit_code == 0, result.output
    assert ("warning: no --public-url" in result.stderr) is warned
