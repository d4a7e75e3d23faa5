"""passback.agent.config: the agent's TOML config, written 0600 (L1, E3 32005)."""

from __future__ import annotations

import dataclasses
import stat
import tomllib
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from passback.agent.config import (
    AgentConfig,
    ConfigError,
    DirectoryConfig,
    DirectoryKind,
    dump,
    load,
    save,
    write_private,
)
from passback.crypto.keys import PackageKey

SECRET = "pbr_relay-secret-do-not-log"


def make_config(folder: Path, **changes: Any) -> AgentConfig:
    config = AgentConfig(
        path=folder / "agent.toml",
        agent_id="8a6e0804-2bd0-4672-b79d-d97027f9071a",
        tenant_id="0c1f6a9e-5d8b-4a3c-9e2f-7b6d5c4a3b2e",
        name="dc-site-1",
        server_url="https://passback.example.test:8443",
        relay_path="/relay/v1",
        relay_secret=SECRET,
        package_keys=(PackageKey.generate(), PackageKey.generate()),
        private_key_file=folder / "agent.key",
        state_dir=folder / "state",
        event_log=folder / "logs" / "events.jsonl",
        directory=DirectoryConfig(
            ldap_url="ldaps://dc1.example.test",
            bind_dn="CN=svc-passback,OU=Service,DC=example,DC=test",
            bind_password_file=folder / "bind.pw",
            search_base="OU=Passback Users,DC=example,DC=test",
            ca_file=folder / "dc-ca.pem",
            tls_server_name="dc1.example.test",
        ),
        server_ca_file=folder / "server-ca.pem",
    )
    return dataclasses.replace(config, **changes)


def write_raw(path: Path, raw: dict[str, Any]) -> Path:
    path.write_text(tomli_w.dumps(raw), encoding="utf-8")
    return path


def test_round_trip(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    save(config)
    assert load(config.path) == config


def test_round_trip_without_optional_fields(tmp_path: Path) -> None:
    directory = dataclasses.replace(make_config(tmp_path).directory, tls_server_name=None)
    config = make_config(tmp_path, server_ca_file=None, directory=directory)
    save(config)
    assert load(config.path) == config


def test_relative_paths_are_relative_to_the_config_folder(tmp_path: Path) -> None:
    """A config folder can be moved whole."""
    config = make_config(tmp_path / "a")
    save(config)
    raw = dump(config)
    assert raw["agent"]["private_key_file"] == "agent.key"
    assert raw["agent"]["event_log"] == str(Path("logs") / "events.jsonl")
    moved = tmp_path / "b"
    (tmp_path / "a").rename(moved)
    loaded = load(moved / "agent.toml")
    assert loaded.private_key_file == moved / "agent.key"
    assert loaded.directory.ca_file == moved / "dc-ca.pem"


def test_absolute_paths_stay_absolute(tmp_path: Path) -> None:
    elsewhere = Path("/etc/passback/agent.key")
    config = make_config(tmp_path / "conf", private_key_file=elsewhere)
    save(config)
    assert dump(config)["agent"]["private_key_file"] == str(elsewhere)
    assert load(config.path).private_key_file == elsewhere


def test_file_mode_is_0600(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    save(config)
    assert stat.S_IMODE(config.path.stat().st_mode) == 0o600


def test_file_mode_is_0600_over_an_existing_file(tmp_path: Path) -> None:
    """L1: the relay secret and package keys are never readable by others."""
    config = make_config(tmp_path)
    config.path.write_text("old")
    config.path.chmod(0o644)
    stale = tmp_path / ".agent.toml.tmp"
    stale.write_text("left by a crash")
    stale.chmod(0o644)
    save(config)
    assert stat.S_IMODE(config.path.stat().st_mode) == 0o600
    assert not stale.exists()
    assert load(config.path) == config


def test_write_private_failure(tmp_path: Path) -> None:
    (tmp_path / "agent.toml").mkdir()  # the target is a folder: the rename fails
    with pytest.raises(ConfigError, match="cannot write"):
        write_private(tmp_path / "agent.toml", b"data")


def test_write_private_failure_to_create_the_folder(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="cannot write"):
        write_private(tmp_path / "file" / "agent.toml", b"data")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load(tmp_path / "nope.toml")


@pytest.mark.parametrize("content", [b"this is [not toml", b"a = \xff\xfe"])
def test_bad_toml(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "agent.toml"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match="not valid TOML"):
        load(path)


@pytest.fixture
def raw(tmp_path: Path) -> dict[str, Any]:
    return dump(make_config(tmp_path))


@pytest.mark.parametrize("section", ["agent", "server", "keys", "directory"])
def test_missing_section(tmp_path: Path, raw: dict[str, Any], section: str) -> None:
    del raw[section]
    with pytest.raises(ConfigError, match=rf"\[{section}\] is missing"):
        load(write_raw(tmp_path / "agent.toml", raw))


def test_section_that_is_not_a_table(tmp_path: Path, raw: dict[str, Any]) -> None:
    raw["agent"] = "x"
    with pytest.raises(ConfigError, match=r"\[agent\] is missing"):
        load(write_raw(tmp_path / "agent.toml", raw))


@pytest.mark.parametrize(
    ("section", "key"),
    [
        ("agent", "id"),
        ("agent", "tenant_id"),
        ("agent", "name"),
        ("agent", "private_key_file"),
        ("agent", "state_dir"),
        ("agent", "event_log"),
        ("server", "url"),
        ("server", "relay_path"),
        ("server", "relay_secret"),
        ("keys", "package"),
        ("directory", "ldap_url"),
        ("directory", "bind_dn"),
        ("directory", "bind_password_file"),
        ("directory", "search_base"),
        ("directory", "ca_file"),
    ],
)
def test_missing_key(tmp_path: Path, raw: dict[str, Any], section: str, key: str) -> None:
    del raw[section][key]
    with pytest.raises(ConfigError, match=rf"{section}\.{key} is missing") as info:
        load(write_raw(tmp_path / "agent.toml", raw))
    assert str(tmp_path / "agent.toml") in str(info.value)


@pytest.mark.parametrize(
    ("section", "key"),
    [("agent", "id"), ("server", "relay_secret"), ("agent", "state_dir"), ("directory", "bind_dn")],
)
@pytest.mark.parametrize("value", ["", 42, ["x"]])
def test_empty_or_not_a_string(
    tmp_path: Path, raw: dict[str, Any], section: str, key: str, value: Any
) -> None:
    raw[section][key] = value
    with pytest.raises(ConfigError, match=rf"{section}\.{key} must be a non-empty string"):
        load(write_raw(tmp_path / "agent.toml", raw))


def test_optional_keys_may_be_absent(tmp_path: Path, raw: dict[str, Any]) -> None:
    del raw["server"]["ca_file"]
    del raw["directory"]["tls_server_name"]
    config = load(write_raw(tmp_path / "agent.toml", raw))
    assert config.server_ca_file is None
    assert config.directory.tls_server_name is None


@pytest.mark.parametrize(
    "url", ["ftp://passback.example.test", "wss://passback.example.test", "passback.example.test"]
)
def test_bad_server_url_scheme(tmp_path: Path, raw: dict[str, Any], url: str) -> None:
    raw["server"]["url"] = url
    with pytest.raises(ConfigError, match=r"server\.url must start with https://"):
        load(write_raw(tmp_path / "agent.toml", raw))


@pytest.mark.parametrize(
    "item",
    [
        {"id": "0011223344556677", "key": "not base64!"},
        {"id": "0011223344556677", "key": "AAAA"},
        {"id": "0011223344556677", "key": PackageKey.generate().to_b64()},
        {"key": PackageKey.generate().to_b64()},
        {},
    ],
)
def test_bad_package_key(tmp_path: Path, raw: dict[str, Any], item: dict[str, str]) -> None:
    raw["keys"]["package"].append(item)
    with pytest.raises(ConfigError, match=r"keys\.package: ") as info:
        load(write_raw(tmp_path / "agent.toml", raw))
    if "key" in item:
        assert item["key"] not in str(info.value)


def test_no_keys(tmp_path: Path, raw: dict[str, Any]) -> None:
    raw["keys"]["package"] = []
    with pytest.raises(ConfigError, match="holds no key"):
        load(write_raw(tmp_path / "agent.toml", raw))


@pytest.mark.parametrize("value", ["key", ["key"], {"id": "x"}])
def test_keys_not_a_list_of_tables(tmp_path: Path, raw: dict[str, Any], value: Any) -> None:
    raw["keys"]["package"] = value
    with pytest.raises(ConfigError, match="must be a list of tables"):
        load(write_raw(tmp_path / "agent.toml", raw))


@pytest.mark.parametrize(
    ("url", "relay", "plain"),
    [
        ("https://passback.example.test:8443", "wss://passback.example.test:8443/relay/v1", False),
        ("https://passback.example.test", "wss://passback.example.test/relay/v1", False),
        ("http://127.0.0.1:8000", "ws://127.0.0.1:8000/relay/v1", True),
    ],
)
def test_relay_url(tmp_path: Path, url: str, relay: str, plain: bool) -> None:
    config = make_config(tmp_path, server_url=url)
    assert config.relay_url == relay
    assert config.plain_transport is plain


def test_repr_hides_secrets(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    text = repr(config)
    assert SECRET not in text
    for key in config.package_keys:
        assert key.to_b64() not in text
        assert key.key_id in text


def test_bind_password(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    config.directory.bind_password_file.write_text("s3rvice-Pw\r\n", encoding="utf-8")
    assert config.directory.bind_password() == "s3rvice-Pw"


def test_bind_password_file_missing(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    with pytest.raises(ConfigError, match="cannot read the service account's password file"):
        config.directory.bind_password()


def test_pool_size_defaults_and_bounds(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    save(config)
    raw = tomllib.loads(config.path.read_text())
    assert load(config.path).directory.pool_size == 2
    del raw["directory"]["pool_size"]
    assert load(write_raw(config.path, raw)).directory.pool_size == 2  # older files
    raw["directory"]["pool_size"] = 6
    assert load(write_raw(config.path, raw)).directory.pool_size == 6
    for bad in (1, 33, "4", True, 2.5):
        raw["directory"]["pool_size"] = bad
        with pytest.raises(ConfigError, match=r"directory\.pool_size"):
            load(write_raw(config.path, raw))


def test_directory_kind_defaults_to_active_directory(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    save(config)
    raw = tomllib.loads(config.path.read_text())
    assert raw["directory"]["kind"] == "active_directory"
    assert load(config.path).directory.kind is DirectoryKind.ACTIVE_DIRECTORY
    del raw["directory"]["kind"]
    loaded = load(write_raw(config.path, raw))  # files written before the key existed
    assert loaded.directory.kind is DirectoryKind.ACTIVE_DIRECTORY


@pytest.mark.parametrize("bad", ["openldap", "ActiveDirectory", "", 1, True])
def test_an_unknown_directory_kind_is_refused(tmp_path: Path, bad: Any) -> None:
    config = make_config(tmp_path)
    save(config)
    raw = tomllib.loads(config.path.read_text())
    raw["directory"]["kind"] = bad
    with pytest.raises(ConfigError, match=r"directory\.kind must be one of: active_directory"):
        load(write_raw(config.path, raw))
