"""The store's secrets are wrapped under the master key (issue "Hardening" 1):
a copy of the database — its file, log and shared memory — holds no package key
and no portal key, so it opens no envelope and checks no one-time code offline."""

from __future__ import annotations

import base64
import datetime as dt
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result

from passback import cli
from passback.crypto.keys import key_id_for
from passback.crypto.masterkey import MasterKey
from passback.server import keyring
from passback.server.errors import KeyringError
from passback.server.store import create_engine, session_factory, upgrade
from passback.server.store.models import ServerSecret, StoredPackageKey

CLEAR_PACKAGE_KEY = bytes(range(32))


def _cli(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli.main, list(args), env=env)


def _secrets(data: Path, key: MasterKey) -> list[bytes]:
    """Every stored secret, opened with ``key``."""
    engine = create_engine(f"sqlite:///{data / 'passback.db'}")
    try:
        with session_factory(engine)() as db:
            keys = [
                keyring.open_package_key(key, r).secret
                for r in db.scalars(sa.select(StoredPackageKey))
            ]
            portal = [
                keyring.open_server_secret(key, r) for r in db.scalars(sa.select(ServerSecret))
            ]
    finally:
        engine.dispose()
    return keys + portal


def _files_hold(data: Path, secret: bytes) -> list[str]:
    forms = [secret, base64.b64encode(secret), base64.urlsafe_b64encode(secret)]
    return [
        f"{path.name}: {form[:8]!r}…"
        for path in data.glob("passback.db*")
        for form in forms
        if form in path.read_bytes()
    ]


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return tmp_path / "data"


def test_tenant_create_makes_a_private_key_and_stores_no_secret_in_clear(data: Path) -> None:
    result = _cli("tenant", "create", "Acme", "--data-dir", str(data))
    assert result.exit_code == 0, result.output
    key_file = data / keyring.MASTER_KEY_FILE
    assert key_file.stat().st_mode & 0o777 == 0o600
    secrets = _secrets(data, MasterKey.from_text(key_file.read_text()))
    assert len(secrets) == 2  # the tenant's package key and the portal key
    for secret in secrets:
        assert _files_hold(data, secret) == []


def test_a_store_from_an_earlier_version_is_wrapped_and_its_clear_copies_wiped(
    data: Path,
) -> None:
    data.mkdir()
    url = f"sqlite:///{data / 'passback.db'}"
    upgrade(url, "0003")
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(
            sa.text("INSERT INTO tenants (id, name, slug, created_at, unlock_on_reset) "
                    "VALUES ('t1', 'Old', 'old', :now, 1)"),
            {"now": dt.datetime.now(dt.UTC).isoformat()},
        )  # fmt: skip
        connection.execute(
            sa.text(
                "INSERT INTO package_keys (tenant_id, key_id, key_b64, created_at) "
                "VALUES ('t1', :kid, :key, :now)"
            ),
            {
                "kid": key_id_for(CLEAR_PACKAGE_KEY),
                "key": base64.b64encode(CLEAR_PACKAGE_KEY).decode(),
                "now": dt.datetime.now(dt.UTC).isoformat(),
            },
        )
        portal = base64.b64decode(
            connection.execute(sa.text("SELECT value_b64 FROM server_secrets")).scalar_one()
        )
    engine.dispose()
    assert _files_hold(data, CLEAR_PACKAGE_KEY)  # the earlier version kept it in clear

    result = _cli("tenant", "create", "New", "--data-dir", str(data))
    assert result.exit_code == 0, result.output
    key = MasterKey.from_text((data / keyring.MASTER_KEY_FILE).read_text())
    assert CLEAR_PACKAGE_KEY in _secrets(data, key) and portal in _secrets(data, key)
    assert _files_hold(data, CLEAR_PACKAGE_KEY) == []
    assert _files_hold(data, portal) == []


def test_a_wrapped_store_needs_its_key(data: Path) -> None:
    assert _cli("tenant", "create", "Acme", "--data-dir", str(data)).exit_code == 0
    key_file = data / keyring.MASTER_KEY_FILE
    key_file.rename(data / "elsewhere.key")
    result = _cli("tenant", "create", "Beta", "--data-dir", str(data))
    assert result.exit_code == 1
    assert f"no master key at {key_file}" in result.output
    assert not key_file.exists()  # never a new key for a store that has one

    other = data / "other.key"
    keyring.write_key_file(other, MasterKey.generate())
    result = _cli(
        "tenant", "create", "Beta", "--data-dir", str(data), "--master-key-file", str(other)
    )
    assert result.exit_code == 1
    assert "wrapped under master key" in result.output

    result = _cli("tenant", "create", "Beta", "--data-dir", str(data),
                  env={keyring.MASTER_KEY_ENV: (data / "elsewhere.key").read_text()})  # fmt: skip
    assert result.exit_code == 0, result.output


def test_a_malformed_key_is_refused(data: Path) -> None:
    result = _cli("tenant", "create", "Acme", "--data-dir", str(data),
                  env={keyring.MASTER_KEY_ENV: "not a key"})  # fmt: skip
    assert result.exit_code == 1
    assert f"{keyring.MASTER_KEY_ENV}: a master key is base64 text" in result.output


def test_rotate_moves_every_secret_and_replaces_the_key_file(data: Path) -> None:
    assert _cli("tenant", "create", "Acme", "--data-dir", str(data)).exit_code == 0
    assert _cli("tenant", "create", "Beta", "--data-dir", str(data)).exit_code == 0
    key_file = data / keyring.MASTER_KEY_FILE
    old = MasterKey.from_text(key_file.read_text())
    before = sorted(_secrets(data, old))

    result = _cli("master-key", "rotate", "--data-dir", str(data))
    assert result.exit_code == 0, result.output
    new = MasterKey.from_text(key_file.read_text())
    assert new.key_id != old.key_id
    assert f"moved 3 secrets from master key {old.key_id} to {new.key_id}" in result.output
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert not list(data.glob("*.new"))
    assert sorted(_secrets(data, new)) == before
    with pytest.raises(KeyringError):
        _secrets(data, old)


def test_rotate_with_the_key_in_the_environment_writes_a_new_file(data: Path) -> None:
    env = {keyring.MASTER_KEY_ENV: MasterKey.generate().export()}
    assert _cli("tenant", "create", "Acme", "--data-dir", str(data), env=env).exit_code == 0
    result = _cli("master-key", "rotate", "--data-dir", str(data), env=env)
    assert result.exit_code == 2
    assert "give --new-key-file" in result.output
    target = data.parent / "new.key"
    args = ["master-key", "rotate", "--data-dir", str(data), "--new-key-file", str(target)]
    result = _cli(*args, env=env)
    assert result.exit_code == 0, result.output
    assert len(_secrets(data, MasterKey.from_text(target.read_text()))) == 2


def test_rotate_refuses_without_the_current_key(data: Path) -> None:
    assert _cli("tenant", "create", "Acme", "--data-dir", str(data)).exit_code == 0
    (data / keyring.MASTER_KEY_FILE).unlink()
    result = _cli("master-key", "rotate", "--data-dir", str(data))
    assert result.exit_code == 1
    assert "no master key at" in result.output


def test_write_key_file_never_overwrites(tmp_path: Path) -> None:
    path = tmp_path / "k"
    keyring.write_key_file(path, MasterKey.generate())
    with pytest.raises(KeyringError, match="cannot create"):
        keyring.write_key_file(path, MasterKey.generate())


def test_unreadable_key_file(tmp_path: Path) -> None:
    path = tmp_path / "k"
    path.write_text("AAAA")
    with pytest.raises(KeyringError, match="cannot read the master key"):
        keyring.master_key(path, environment=None, may_create=True)
