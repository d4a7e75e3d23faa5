"""The agent as a running service: its parts put together from its config."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import Callable

from passback.agent.config import AgentConfig, ConfigError, DirectoryConfig, DirectoryKind
from passback.agent.directory.ad.active_directory import ActiveDirectory
from passback.agent.directory.ad.settings import ADSettings
from passback.agent.directory.base import Directory, DirectoryError
from passback.agent.events import EventId, EventLog, Level
from passback.agent.journal import Journal
from passback.agent.link import RelayClient
from passback.agent.writeback import Writeback
from passback.crypto.errors import KeyFormatError
from passback.crypto.keys import private_key_from_pem

#: The journal forgets requests older than its retention; look once an hour.
JOURNAL_PRUNE_INTERVAL = 3600
#: A DC that was down at start is asked for its capabilities again this often.
CAPABILITIES_RETRY = 60


class AgentStartError(Exception):
    """The agent cannot start; the message names the cause (event 6800 family)."""


def active_directory_settings(config: DirectoryConfig) -> ADSettings:
    return ADSettings(
        ldap_url=config.ldap_url,
        bind_dn=config.bind_dn,
        bind_password=config.bind_password(),
        ca_file=str(config.ca_file),
        search_base=config.search_base,
        tls_server_name=config.tls_server_name,
        pool_size=config.pool_size,
    )


def open_active_directory(config: DirectoryConfig) -> Directory:
    return ActiveDirectory(active_directory_settings(config))


#: The adapter that opens each kind of directory (``directory.kind`` in the config).
ADAPTERS: dict[DirectoryKind, Callable[[DirectoryConfig], Directory]] = {
    DirectoryKind.ACTIVE_DIRECTORY: open_active_directory,
}


def open_directory(config: DirectoryConfig) -> Directory:
    """The adapter for ``config.kind``; nothing is contacted yet.

    Raises:
        ConfigError: the bind password file cannot be read.
        DirectoryConfigError: a setting makes no sense for this kind.
    """
    return ADAPTERS[config.kind](config)


def check_directory(config: DirectoryConfig) -> None:
    """Bind and read the rootDSE with these settings; raise if that fails."""
    directory = open_directory(config)
    try:
        directory.capabilities()
    finally:
        directory.close()


class Agent:
    """Everything one agent process runs, built from its config."""

    def __init__(
        self,
        config: AgentConfig,
        *,
        directory: Directory | None = None,
        events: EventLog | None = None,
        insecure_dev: bool = False,
    ) -> None:
        self.config = config
        self.events = events or EventLog(config.event_log)
        try:
            key = private_key_from_pem(config.private_key_file.read_bytes())
        except OSError as exc:
            self.events.emit(EventId.ConfigurationError, str(exc), level=Level.ERROR)
            raise AgentStartError(f"cannot read the agent key: {exc}") from exc
        except KeyFormatError as exc:
            self.events.emit(EventId.CryptoError, str(exc), level=Level.ERROR)
            raise AgentStartError(f"the agent key is unusable: {exc}") from exc
        try:
            self.directory = directory or open_directory(config.directory)
        except (ConfigError, DirectoryError) as exc:
            self.events.emit(EventId.ConfigurationError, str(exc), level=Level.ERROR)
            raise AgentStartError(str(exc)) from exc
        self.journal = Journal(config.state_dir / "journal.db")
        self.writeback = Writeback(
            tenant_id=config.tenant_id,
            agent_id=config.agent_id,
            agent_key=key,
            package_keys={k.key_id: k for k in config.package_keys},
            directory=self.directory,
            journal=self.journal,
            events=self.events,
        )
        self._history_on_reset = False
        self.client = RelayClient(
            config,
            self.writeback,
            self.directory,
            self.events,
            insecure_dev=insecure_dev,
            history_on_reset=lambda: self._history_on_reset,
        )

    def _read_capabilities(self) -> bool:
        try:
            caps = self.directory.capabilities()
        except DirectoryError as exc:
            # Not fatal: the DC may come back; operations answer
            # "directory unavailable" meanwhile, and this is tried again.
            self.events.emit(
                EventId.ADConfigurationError,
                f"cannot read the directory's capabilities: {exc}",
                level=Level.ERROR,
            )
            return False
        self._history_on_reset = caps.history_on_reset
        if not caps.history_on_reset:
            self.events.emit(
                EventId.ADConfigurationError,
                "the directory does not advertise the policy-hints control: "
                "password history is not enforced on resets",
                level=Level.WARNING,
                pdc=caps.writes_to,
            )
        return True

    async def _watch_capabilities(self) -> None:
        while not await asyncio.to_thread(self._read_capabilities):
            await asyncio.sleep(CAPABILITIES_RETRY)

    async def run(self, stop: asyncio.Event) -> None:
        background = [
            asyncio.ensure_future(self._watch_capabilities()),
            asyncio.ensure_future(self._prune_journal()),
        ]
        try:
            await self.client.run(stop)
        finally:
            for task in background:
                task.cancel()
            self.events.emit(
                EventId.WriteBackServiceStopped,
                "agent stopped; operations fail until it returns",
                level=Level.WARNING,
            )

    async def _prune_journal(self) -> None:
        while True:
            try:
                await asyncio.to_thread(self.journal.prune, int(time.time()))
            except Exception as exc:  # noqa: BLE001 - retried next round, and said
                self.events.emit(
                    EventId.ConfigurationError,
                    f"pruning the journal failed: {type(exc).__name__}: {exc}",
                    level=Level.WARNING,
                )
            await asyncio.sleep(JOURNAL_PRUNE_INTERVAL)

    def close(self) -> None:
        self.directory.close()
        self.journal.close()
        self.events.close()


async def serve(agent: Agent) -> None:
    """Run until SIGINT/SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await agent.run(stop)
