"""The server-side commands: ``passback server`` trusts forwarded headers only
from the proxies named (M3); ``passback support show`` only reads (L3) and
prints what a client typed on one line."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from passback import cli
from passback.server import support
from passback.server.store import create_engine, session_factory, upgrade


@pytest.fixture
def uvicorn_run(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    def run(app: object, **kwargs: Any) -> None:
        seen.update(kwargs)

    monkeypatch.setattr(cli.listen, "serve", run)
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


def test_support_show_does_not_make_or_migrate_a_database(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    result = CliRunner().invoke(
        cli.main, ["support", "show", str(uuid.uuid4()), "--data-dir", str(missing)]
    )
    assert result.exit_code == 1
    assert "no Passback database" in result.output
    assert not missing.exists()

    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(url, "0001")  # before support records existed
    result = CliRunner().invoke(
        cli.main, ["support", "show", str(uuid.uuid4()), "--database-url", url]
    )
    assert result.exit_code == 1
    assert "has no support records" in result.output
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            version = connection.execute(sa.text("SELECT version_num FROM alembic_version"))
            assert version.scalar_one() == "0001"  # not migrated by a lookup
    finally:
        engine.dispose()


def test_support_show_escapes_what_a_client_typed(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'passback.db'}"
    upgrade(url)
    engine = create_engine(url)
    forged = "jdoe\r\nerror:          ok (HTTP 200)\x1b[2J\u202e"
    try:
        code = support.record(
            session_factory(engine),
            support.Incident(
                "user_not_found", 404, "No such user.", path=f"/portal/{forged}/", username=forged
            ),
        )
    finally:
        engine.dispose()
    result = CliRunner().invoke(cli.main, ["support", "show", code, "--database-url", url])
    assert result.exit_code == 0, result.output
    assert "\r" not in result.output and "\x1b" not in result.output
    assert "\u202e" not in result.output
    escaped = "jdoe\\r\\nerror:          ok (HTTP 200)\\x1b[2J\\u202e"
    assert f"username typed: {escaped}\n" in result.output
    assert f"request:        GET /portal/{escaped}/\n" in result.output
    assert [line for line in result.output.splitlines() if line.startswith("error:")] == [
        "error:          user_not_found (HTTP 404)"
    ]
