"""The agent's configuration file (TOML), written at onboarding with mode 0600
(SPEC L1) because it holds the relay secret and the tenant's package key.

Relative paths in the file are relative to the file's own folder, so a config
folder can be moved whole. Reading is strict: a missing or mistyped field is a
``ConfigError`` that names the file and the field (EVENTS 32005).
"""

from __future__ import annotations

import dataclasses
import enum
import os
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import tomli_w

from passback.crypto.errors import KeyFormatError
from passback.crypto.keys import PackageKey


class ConfigError(Exception):
    """The config file cannot be read, parsed or written."""


class DirectoryKind(enum.StrEnum):
    """Which kind of directory the agent writes to; it picks the adapter."""

    ACTIVE_DIRECTORY = "active_directory"  # Active Directory, or Samba as an AD DC


@dataclasses.dataclass(frozen=True)
class DirectoryConfig:
    ldap_url: str
    bind_dn: str
    bind_password_file: Path
    search_base: str
    ca_file: Path  # the CA that signed the DC's LDAPS certificate
    tls_server_name: str | None = None
    #: Bound LDAPS connections kept to each DC; a sync holds one while it runs.
    pool_size: int = 2
    kind: DirectoryKind = DirectoryKind.ACTIVE_DIRECTORY

    def bind_password(self) -> str:
        try:
            return self.bind_password_file.read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            raise ConfigError(
                f"cannot read the service account's password file {self.bind_password_file}: "
                f"{exc.strerror}"
            ) from exc


@dataclasses.dataclass(frozen=True)
class AgentConfig:
    path: Path
    agent_id: str
    tenant_id: str
    name: str
    server_url: str  # https://host:port of the Passback server
    relay_path: str
    relay_secret: str = dataclasses.field(repr=False)
    package_keys: tuple[PackageKey, ...]
    private_key_file: Path
    state_dir: Path
    event_log: Path
    directory: DirectoryConfig
    server_ca_file: Path | None = None

    @property
    def relay_url(self) -> str:
        parts = urlsplit(self.server_url)
        scheme = {"https": "wss", "http": "ws"}[parts.scheme]
        return f"{scheme}://{parts.netloc}{self.relay_path}"

    @property
    def plain_transport(self) -> bool:
        return urlsplit(self.server_url).scheme == "http"


def load(path: Path) -> AgentConfig:
    """Read and check the config file.

    Raises:
        ConfigError: unreadable, not TOML, or a field missing or wrong.
    """
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from exc
    base = path.parent
    reader = _Reader(path, raw)
    server_url = reader.text("server", "url")
    if urlsplit(server_url).scheme not in ("https", "http"):
        raise ConfigError(f"{path}: server.url must start with https:// (or http:// for dev)")
    keys = []
    for item in reader.table_list("keys", "package"):
        try:
            keys.append(PackageKey.from_b64(str(item.get("id", "")), str(item.get("key", ""))))
        except KeyFormatError as exc:
            raise ConfigError(f"{path}: keys.package: {exc}") from exc
    if not keys:
        raise ConfigError(f"{path}: keys.package holds no key")
    return AgentConfig(
        path=path,
        agent_id=reader.text("agent", "id"),
        tenant_id=reader.text("agent", "tenant_id"),
        name=reader.text("agent", "name"),
        server_url=server_url,
        relay_path=reader.text("server", "relay_path"),
        relay_secret=reader.text("server", "relay_secret"),
        server_ca_file=reader.path(base, "server", "ca_file", optional=True),
        package_keys=tuple(keys),
        private_key_file=_required(reader.path(base, "agent", "private_key_file")),
        state_dir=_required(reader.path(base, "agent", "state_dir")),
        event_log=_required(reader.path(base, "agent", "event_log")),
        directory=DirectoryConfig(
            ldap_url=reader.text("directory", "ldap_url"),
            bind_dn=reader.text("directory", "bind_dn"),
            bind_password_file=_required(reader.path(base, "directory", "bind_password_file")),
            search_base=reader.text("directory", "search_base"),
            ca_file=_required(reader.path(base, "directory", "ca_file")),
            tls_server_name=reader.text("directory", "tls_server_name", optional=True) or None,
            pool_size=reader.integer("directory", "pool_size", default=2, low=2, high=32),
            kind=reader.kind("directory", "kind"),
        ),
    )


def dump(config: AgentConfig) -> dict[str, Any]:
    def rel(p: Path | None) -> str:
        if p is None:
            return ""
        try:
            return str(p.relative_to(config.path.parent))
        except ValueError:
            return str(p)

    d = config.directory
    return {
        "agent": {
            "id": config.agent_id,
            "tenant_id": config.tenant_id,
            "name": config.name,
            "private_key_file": rel(config.private_key_file),
            "state_dir": rel(config.state_dir),
            "event_log": rel(config.event_log),
        },
        "server": {
            "url": config.server_url,
            "relay_path": config.relay_path,
            "relay_secret": config.relay_secret,
            "ca_file": rel(config.server_ca_file),
        },
        "keys": {"package": [{"id": k.key_id, "key": k.to_b64()} for k in config.package_keys]},
        "directory": {
            "kind": str(d.kind),
            "ldap_url": d.ldap_url,
            "bind_dn": d.bind_dn,
            "bind_password_file": rel(d.bind_password_file),
            "search_base": d.search_base,
            "ca_file": rel(d.ca_file),
            "tls_server_name": d.tls_server_name or "",
            "pool_size": d.pool_size,
        },
    }


def save(config: AgentConfig) -> None:
    """Write the file atomically with mode 0600."""
    write_private(config.path, tomli_w.dumps(dump(config)).encode("utf-8"))


def write_private(path: Path, data: bytes) -> None:
    """Write a secret file: 0600 from its first byte, replaced atomically."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o600)  # O_CREAT's mode does not apply to an existing file
        os.replace(tmp, path)
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror}") from exc


def _required(value: Path | None) -> Path:
    assert value is not None  # optional=False never returns None
    return value


class _Reader:
    def __init__(self, path: Path, raw: dict[str, Any]) -> None:
        self._path = path
        self._raw = raw

    def _get(self, section: str, key: str, optional: bool) -> Any:
        table = self._raw.get(section)
        if not isinstance(table, dict):
            if optional:
                return None
            raise ConfigError(f"{self._path}: section [{section}] is missing")
        if key not in table and not optional:
            raise ConfigError(f"{self._path}: {section}.{key} is missing")
        return table.get(key)

    def text(self, section: str, key: str, *, optional: bool = False) -> str:
        value = self._get(section, key, optional)
        if value is None and optional:
            return ""
        if not isinstance(value, str) or (not value and not optional):
            raise ConfigError(f"{self._path}: {section}.{key} must be a non-empty string")
        return value

    def integer(self, section: str, key: str, *, default: int, low: int, high: int) -> int:
        value = self._get(section, key, True)
        if value is None:
            return default
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise ConfigError(f"{self._path}: {section}.{key} must be a whole number {low}..{high}")
        return value

    def kind(self, section: str, key: str) -> DirectoryKind:
        """Files written before the key existed name no kind: Active Directory."""
        value = self._get(section, key, True)
        if value is None:
            return DirectoryKind.ACTIVE_DIRECTORY
        try:
            return DirectoryKind(value)
        except ValueError:
            known = ", ".join(k.value for k in DirectoryKind)
            raise ConfigError(
                f"{self._path}: {section}.{key} must be one of: {known} (got {value!r})"
            ) from None

    def path(self, base: Path, section: str, key: str, *, optional: bool = False) -> Path | None:
        value = self.text(section, key, optional=optional)
        if not value:
            return None
        p = Path(value)
        return p if p.is_absolute() else base / p

    def table_list(self, section: str, key: str) -> list[dict[str, Any]]:
        value = self._get(section, key, False)
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise ConfigError(f"{self._path}: {section}.{key} must be a list of tables")
        return value
