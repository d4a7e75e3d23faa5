"""A whole Passback deployment run the way an operator runs it: the
``passback`` command in subprocesses (server with TLS, tenants, agents), every
process's output kept in files so tests can search them (SPEC S7)."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tests.support.samba import TIMEOUT_FACTOR, SambaDC

PASSBACK = [sys.executable, "-m", "passback"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(condition: Any, timeout: float, what: str, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout * TIMEOUT_FACTOR
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(interval)


@dataclasses.dataclass
class Tenant:
    tenant_id: str
    admin_token: str
    onboarding_token: str


@dataclasses.dataclass
class AgentProcess:
    config: Path
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def events(self) -> Path:
        return self.config.parent / "events.jsonl"

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(10 * TIMEOUT_FACTOR)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class Deployment:
    """Server + agents for one test module; everything under ``root``."""

    def __init__(
        self,
        root: Path,
        dc: SambaDC | None,
        smtp_port: int | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        """Args:
        dc: the directory agents are onboarded for; None: a server alone.
        smtp_port: an SMTP server on 127.0.0.1 (plain) for the portal's codes.
        host: the name in the server's URL (``localhost`` where passkeys are
            used: a site's passkeys need a host name, not an address).
        """
        self.root = root
        self.dc = dc
        self.smtp_port = smtp_port
        self.data = root / "server-data"
        self.tls = root / "tls"
        self.port = free_port()
        self.url = f"https://{host}:{self.port}"
        self.server: subprocess.Popen[bytes] | None = None
        self.server_options: tuple[str, ...] = ()
        self.agents: list[AgentProcess] = []
        self.password_file = root / "svc-password"
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1"}

    # -- the passback command ---------------------------------------------

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [*PASSBACK, *args],
            capture_output=True,
            text=True,
            timeout=120 * TIMEOUT_FACTOR,
            env=self.env,
            check=False,
        )
        with (self.root / "cli.log").open("a") as log:
            log.write(f"$ passback {' '.join(args)}\n{done.stdout}{done.stderr}\n")
        if check and done.returncode != 0:
            raise AssertionError(f"passback {args[0]} failed: {done.stdout}{done.stderr}")
        return done

    def start_server(self, *options: str) -> None:
        """Start ``passback server`` with TLS; ``options`` are added to its command
        line (and kept for :meth:`restart_server`)."""
        self.server_options = options
        if not (self.tls / "server.pem").exists():
            self.cli(
                "tls",
                "create",
                "--out",
                str(self.tls),
                "--host",
                "127.0.0.1",
                "--host",
                "localhost",
            )
        log = (self.root / "server.log").open("ab")
        self.server = subprocess.Popen(
            [
                *PASSBACK,
                "server",
                "--data-dir",
                str(self.data),
                "--port",
                str(self.port),
                "--tls-cert",
                str(self.tls / "server.pem"),
                "--tls-key",
                str(self.tls / "server.key"),
                *self._smtp_options(),
                *options,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=self.env,
        )
        log.close()
        wait_for(self._healthy, 30, "the server to answer /healthz")

    def _smtp_options(self) -> list[str]:
        if self.smtp_port is None:
            return []
        return [
            "--smtp-host",
            "127.0.0.1",
            "--smtp-port",
            str(self.smtp_port),
            "--smtp-security",
            "none",
            "--smtp-from",
            "passback@passback.test",
            "--public-url",
            self.url,
        ]

    def _healthy(self) -> bool:
        assert self.server is not None
        if self.server.poll() is not None:
            raise AssertionError(f"server exited: {(self.root / 'server.log').read_text()}")
        try:
            with self.http() as client:
                return client.get("/healthz").status_code == 200
        except httpx.TransportError:
            return False

    def spki_hash(self) -> str:
        """The server certificate's public key hash (SHA-256, base64), as
        Chromium's ``--ignore-certificate-errors-spki-list`` takes it."""
        cert = x509.load_pem_x509_certificate((self.tls / "server.pem").read_bytes())
        spki = cert.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return base64.b64encode(hashlib.sha256(spki).digest()).decode()

    def http(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        trust = ssl.create_default_context(cafile=str(self.tls / "ca.pem"))
        return httpx.Client(base_url=self.url, verify=trust, headers=headers, timeout=90)

    def create_tenant(self, name: str) -> Tenant:
        out = self.cli("tenant", "create", name, "--data-dir", str(self.data)).stdout
        found = dict(re.findall(r"^([a-z API]+?):\s+(\S+)$", out, re.M))
        return Tenant(found["tenant id"], found["admin API token"], found["onboarding token"])

    def connected_tenant(self, name: str, agent: str) -> Tenant:
        """A new tenant with one agent onboarded on the DC's managed OU, running
        and connected."""
        tenant = self.create_tenant(name)
        self.onboard(tenant, agent, self.dc.managed_ou)
        self.start_agent(agent)
        self.wait_connected(tenant)
        return tenant

    def onboard(
        self,
        tenant: Tenant,
        name: str,
        search_base: str,
        token: str | None = None,
        check: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        assert self.dc is not None, "a deployment without a DC onboards no agent"
        self.password_file.write_text(self.dc.service_password)
        self.password_file.chmod(0o600)
        return self.cli(
            "agent",
            "onboard",
            "--server",
            self.url,
            "--token",
            token or tenant.onboarding_token,
            "--name",
            name,
            "--ldap-url",
            self.dc.ldaps_url,
            "--ldap-tls-name",
            self.dc.tls_name,
            "--ldap-ca-file",
            self.dc.ca_file,
            "--bind-dn",
            self.dc.service_dn,
            "--bind-password-file",
            str(self.password_file),
            "--search-base",
            search_base,
            "--server-ca-file",
            str(self.tls / "ca.pem"),
            "--config",
            str(self.config_path(name)),
            check=check,
        )

    def config_path(self, name: str) -> Path:
        return self.root / "agents" / name / "agent.toml"

    def start_agent(self, name: str, command: list[str] | None = None) -> AgentProcess:
        config = self.config_path(name)
        log_path = config.parent / f"agent-{len(self.agents)}.log"
        log = log_path.open("wb")
        process = subprocess.Popen(
            command or [*PASSBACK, "agent", "run", "--config", str(config)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=self.env,
        )
        log.close()
        agent = AgentProcess(config, process, log_path)
        self.agents.append(agent)
        return agent

    # -- the admin API ------------------------------------------------------

    def connected_agents(self, tenant: Tenant) -> list[dict[str, Any]]:
        with self.http(tenant.admin_token) as client:
            response = client.get("/api/v1/agents")
        response.raise_for_status()
        return [a for a in response.json() if a["connected"]]

    def wait_connected(self, tenant: Tenant, count: int = 1) -> None:
        wait_for(lambda: len(self.connected_agents(tenant)) >= count, 30, "the agent to connect")

    def wait_disconnected(self, tenant: Tenant) -> None:
        wait_for(lambda: not self.connected_agents(tenant), 30, "the agent to disconnect")

    def usernames(self, tenant: Tenant) -> set[str]:
        with self.http(tenant.admin_token) as client:
            response = client.get("/api/v1/users")
        response.raise_for_status()
        return {u["sam_account_name"] for u in response.json()}

    def sync(self, tenant: Tenant, *expected: str) -> None:
        """Ask the tenant's agents for a full sync and wait until ``expected`` are known."""
        with self.http(tenant.admin_token) as client:
            assert client.post("/api/v1/sync").status_code == 202
        wait_for(lambda: set(expected) <= self.usernames(tenant), 30, f"sync of {expected}")

    def reset(self, tenant: Tenant, user: str, password: str, **extra: Any) -> httpx.Response:
        with self.http(tenant.admin_token) as client:
            return client.post(
                f"/api/v1/users/{user}/password-reset",
                json={"new_password": password, **extra},
            )

    # -- teardown and inspection ----------------------------------------------

    def restart_server(self) -> None:
        """Stop the server (SIGINT) and start it again on the same port and data."""
        self.stop_server()
        self.start_server(*self.server_options)

    def stop(self) -> None:
        for agent in self.agents:
            agent.stop()
        self.stop_server()

    def stop_server(self) -> None:
        if self.server is not None and self.server.poll() is None:
            self.server.send_signal(signal.SIGINT)
            try:
                self.server.wait(10 * TIMEOUT_FACTOR)
            except subprocess.TimeoutExpired:
                self.server.kill()
                self.server.wait()

    def server_rss(self) -> int:
        """The server process's resident memory in bytes (VmRSS)."""
        assert self.server is not None
        status = Path(f"/proc/{self.server.pid}/status").read_text()
        kb = re.search(r"^VmRSS:\s+(\d+) kB$", status, re.M)
        assert kb is not None, status
        return int(kb.group(1)) * 1024

    def files(self) -> Iterator[Path]:
        """Every file the deployment wrote: logs, database, configs, state."""
        yield from (p for p in self.root.rglob("*") if p.is_file())
