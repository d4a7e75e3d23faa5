"""``passback support show`` only reads (L3) and prints what a client typed on
one line."""

from __future__ import annotations

import uuid
from pathlib import Path

import sqlalchemy as sa
from click.testing import CliRunner

from passback import cli
from passback.server import support
from passback.server.store import create_engine, session_factory, upgrade


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
