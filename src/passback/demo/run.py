"""``passback demo``: the whole product on one machine, the way an operator runs it.

1. a fresh Samba AD DC on a loopback address (``DIR/dc``), realm
   ``DEMO.PASSBACK.TEST``, with ``OU=Staff`` holding the service account and
   three demo users: alice (ordinary), bob (disabled), carol (a Domain Admin);
   each with a ``mail`` address in the realm's domain;
2. a private CA and server certificate (``DIR/tls``);
3. a mail catcher (:mod:`passback.demo.mailcatcher`) on loopback, which keeps
   the server's email as ``DIR/mail/<n>-<recipient>.eml`` and prints one line
   per message (with the one-time code: a demo only convenience);
4. a tenant with the slug ``demo``, made the way ``passback tenant create``
   makes it (``DIR/server``);
5. the server, as ``passback server …`` in a subprocess (``DIR/server.log``),
   sending the portal's codes to the catcher; the portal is at
   ``https://localhost:PORT/portal/demo/``;
6. an agent onboarded with a one-time token (``DIR/agent/agent.toml``) and run
   as ``passback agent run …`` in a subprocess (``DIR/agent.log``);

then it waits until the agent is connected and has synced the demo users, prints
how to use it, and runs until SIGINT or SIGTERM, which stop the agent, the server,
the mail catcher and the DC. Every password is random; the ones the operator may want are in
files under ``DIR`` (mode 0600). A second run stops what an earlier one left
running and starts afresh.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import fcntl
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import httpx
import pyotp
from sqlalchemy import select

from passback.agent.config import DirectoryConfig, write_private
from passback.agent.events import EventLog
from passback.agent.onboard import OnboardingError, OnboardRequest, onboard
from passback.agent.service import check_directory
from passback.crypto import certs
from passback.demo.mailcatcher import MailCatcher
from passback.demo.samba import (
    SambaDC,
    SambaError,
    loopback_address,
    random_password,
)
from passback.demo.samba import (
    check_prerequisites as check_samba,
)
from passback.server.console import admins
from passback.server.console.roles import Role
from passback.server.keyring import MASTER_KEY_FILE, master_key, store_master_key
from passback.server.notify.phone_outbox import read_outbox
from passback.server.portal import registrations
from passback.server.portal.gates.questions import QUESTIONS
from passback.server.store.engine import create_engine, session_factory
from passback.server.store.migrate import upgrade
from passback.server.store.models import DirectoryUser, utcnow
from passback.server.tenants import CreatedTenant, create_tenant

REALM = "DEMO.PASSBACK.TEST"
NETBIOS_DOMAIN = "DEMO"
OU = "OU=Staff"
TENANT = "Demo"
SLUG = "demo"
#: The domain of the demo users' mail addresses and of the server's sender.
MAIL_DOMAIN = REALM.lower()
AGENT_NAME = "demo-agent"
#: alice's security answers (a demo: printed so that anyone can try the gate).
ALICE_ANSWERS = {"first_pet": "Rex", "birth_city": "Lisbon", "first_school": "Demo School"}
SERVER_HOST = "127.0.0.1"
#: The name in the demo's URL: passkeys are made for a host name, never an address.
SERVER_NAME = "localhost"
READY_TIMEOUT = 90.0
STOP_TIMEOUT = 15.0

#: The demo users: an ordinary one, a disabled one, a Domain Admin (protected).
ALICE, BOB, CAROL = "alice", "bob", "carol"
#: alice's numbers in the directory (fictional: 555-01xx), as an admin types them.
ALICE_MOBILE = "+1 425 555 0142"
ALICE_OFFICE = "+1 425 555 0100 ext. 42"
#: Where the portal asks for help when no code reaches a user (G5).
HELP_DESK = f"helpdesk@{MAIL_DOMAIN}"
#: The console's first administrator, set up by the demo (a ready authenticator
#: key is printed: for the demo only).
CONSOLE_ADMIN = f"admin@{MAIL_DOMAIN}"


class DemoError(Exception):
    """The demo cannot start; the message says why and what to do."""


class _Stop(Exception):
    """SIGINT or SIGTERM arrived."""


@dataclasses.dataclass(frozen=True)
class Layout:
    """Where everything of one demo lives."""

    root: Path

    @property
    def dc(self) -> Path:
        return self.root / "dc"

    @property
    def tls(self) -> Path:
        return self.root / "tls"

    @property
    def mail(self) -> Path:
        return self.root / "mail"

    @property
    def phone(self) -> Path:
        """The outbox of texts and calls (one JSON file per message)."""
        return self.root / "phone"

    @property
    def phone_provider(self) -> Path:
        return self.root / "phone-provider.toml"

    @property
    def server_data(self) -> Path:
        return self.root / "server"

    @property
    def agent(self) -> Path:
        return self.root / "agent"

    @property
    def agent_config(self) -> Path:
        return self.agent / "agent.toml"

    @property
    def events(self) -> Path:
        return self.agent / "events.jsonl"

    @property
    def service_password(self) -> Path:
        return self.agent / "svc-password"

    @property
    def admin_password(self) -> Path:
        return self.root / "dc-administrator-password"

    @property
    def console_password(self) -> Path:
        return self.root / "console-password"

    @property
    def admin_token(self) -> Path:
        return self.root / "admin-token"

    @property
    def server_log(self) -> Path:
        return self.root / "server.log"

    @property
    def agent_log(self) -> Path:
        return self.root / "agent.log"

    def pid_file(self, name: str) -> Path:
        return self.root / f"{name}.pid"


def check_prerequisites() -> None:
    """Refuse early, and say why, when the demo cannot run here."""
    if os.geteuid() != 0:
        raise DemoError(
            "the demo needs root: its Samba AD DC binds ports 389 and 636 "
            "(run it as root, or with sudo)"
        )
    try:
        check_samba()
    except SambaError as exc:
        raise DemoError(f"the demo's directory is a Samba AD DC, and {exc}") from None


def run(
    directory: Path,
    port: int = 8443,
    dc_address: str = "127.0.0.1",
    out: Callable[[str], None] = print,
) -> None:
    """Bring the demo up, print how to use it, and run until SIGINT/SIGTERM.

    Raises:
        DemoError: the demo could not start (everything it started is stopped).
    """
    check_prerequisites()
    try:
        dc_address = loopback_address(dc_address)
    except ValueError as exc:
        raise DemoError(f"--dc-address: {exc}") from exc
    layout = Layout(directory.resolve())
    demo = _Demo(layout, port, dc_address, out)
    with _only_demo_in(layout.root), _stop_on_signals():
        try:
            demo.start()
            out(demo.summary())
            demo.wait()
        except _Stop:
            out("\nStopping the demo …")
        except (SambaError, OnboardingError, OSError, httpx.HTTPError) as exc:
            raise DemoError(str(exc)) from exc
        finally:
            demo.stop()
    out("Demo stopped: agent, server, mail catcher and DC are down.")


@contextlib.contextmanager
def _only_demo_in(root: Path) -> Iterator[None]:
    """Hold ``root/demo.lock`` while the demo runs: a second demo in the same
    folder would stop this one's parts. The lock goes with the process, so a
    crashed demo leaves none behind."""
    root.mkdir(parents=True, exist_ok=True)
    lock = root / "demo.lock"
    with lock.open("a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            raise DemoError(
                f"a demo is already running in {root} (pid {f.read().strip() or '?'}); "
                "stop it first (Ctrl-C there), or give another --dir and --port"
            ) from None
        f.truncate(0)
        f.write(f"{os.getpid()}\n")
        f.flush()
        try:
            yield
        finally:
            f.truncate(0)


@contextlib.contextmanager
def _stop_on_signals() -> Iterator[None]:
    """Turn SIGINT and SIGTERM into :class:`_Stop` while the demo runs."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise _Stop(signal.Signals(signum).name)

    before = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, previous in before.items():
            signal.signal(sig, previous)


class _Demo:
    def __init__(self, layout: Layout, port: int, dc_address: str, out: Callable[[str], None]):
        self.layout = layout
        self.port = port
        self.url = f"https://{SERVER_NAME}:{port}"
        self.out = out
        self.dc = SambaDC(
            layout.dc,
            realm=REALM,
            netbios_domain=NETBIOS_DOMAIN,
            address=dc_address,
            managed_ou=OU,
        )
        self.mail = MailCatcher(layout.mail, echo=out)
        self.server: subprocess.Popen[bytes] | None = None
        self.agent: subprocess.Popen[bytes] | None = None
        self.tenant: CreatedTenant | None = None
        # Random, and without the tenant's name, which the server refuses in a password.
        self.new_password = random_password(avoid=SLUG)
        self.alice_password = ""
        self.totp_secret = ""
        self.console_password = ""
        self.console_secret = ""
        self._stopped = threading.Event()

    # -- start -------------------------------------------------------------

    def start(self) -> None:
        layout = self.layout
        layout.root.mkdir(parents=True, exist_ok=True)
        self._stop_leftovers()
        if not _port_free(SERVER_HOST, self.port):
            raise DemoError(f"{SERVER_HOST}:{self.port} is in use; choose another with --port")
        for folder in (
            layout.dc,
            layout.tls,
            layout.mail,
            layout.phone,
            layout.server_data,
            layout.agent,
        ):
            shutil.rmtree(folder, ignore_errors=True)
        for log in (layout.server_log, layout.agent_log):
            log.unlink(missing_ok=True)

        self.out(f"Provisioning a Samba AD DC ({REALM}) in {layout.dc} …")
        self.dc.start()
        write_private(layout.admin_password, (self.dc.admin_password + "\n").encode())
        self._create_users()

        self.out("Starting the Passback server and a mail catcher for its email …")
        files = certs.create(layout.tls, [SERVER_HOST, SERVER_NAME])
        layout.phone_provider.write_text(f'provider = "outbox"\nfolder = "{layout.phone}"\n')
        self.mail.start()
        self.tenant = self._create_tenant()
        write_private(layout.admin_token, (self.tenant.admin_token + "\n").encode())
        self.server = self._spawn(
            "server",
            [
                "server",
                "--data-dir", str(layout.server_data),
                "--host", SERVER_HOST,
                "--port", str(self.port),
                "--tls-cert", str(files.cert),
                "--tls-key", str(files.key),
                "--smtp-host", "127.0.0.1",
                "--smtp-port", str(self.mail.port),
                "--smtp-security", "none",
                "--smtp-from", f"passback-demo@{MAIL_DOMAIN}",
                "--public-url", self.url,
                "--phone-provider", str(layout.phone_provider),
            ],
            layout.server_log,
        )  # fmt: skip
        self._wait_for(self._server_healthy, "the server to answer /healthz")

        self.out("Onboarding and starting the agent …")
        self._onboard()
        self.agent = self._spawn(
            "agent", ["agent", "run", "--config", str(layout.agent_config)], layout.agent_log
        )
        self._wait_for(self._agent_connected, "the agent to connect")
        self._wait_for(self._users_synced, "the agent to sync the demo users", sync=True)
        self._set_up_gates()

    def _set_up_gates(self) -> None:
        """The tenant allows every method (one gate) and names a help desk,
        and alice has an app and questions registered, as she would in My
        account → Security info (her phone numbers come from the directory)."""
        with self._client() as client:
            changed = client.patch(
                "/api/v1/policy",
                json={
                    "methods": [
                        "email",
                        "mobile_sms",
                        "mobile_voice",
                        "office_voice",
                        "totp",
                        "questions",
                        "passkey",
                    ],
                    "admin_contacts": [HELP_DESK],
                },
            )
        changed.raise_for_status()
        url = f"sqlite:///{self.layout.server_data / 'passback.db'}"
        key = master_key(
            self.layout.server_data / MASTER_KEY_FILE, environment=None, may_create=False
        )
        engine = create_engine(url)
        try:
            with session_factory(engine)() as db, db.begin():
                alice = db.scalar(
                    select(DirectoryUser).where(DirectoryUser.sam_account_name == ALICE)
                )
                if alice is None:
                    raise DemoError("alice was not synced")
                # Set up a minute ago, so that the code of now was never taken.
                earlier = utcnow() - dt.timedelta(minutes=1)
                secret = registrations.pending_totp(db, key, alice.tenant_id, alice.id, earlier)
                if secret is None or not registrations.confirm_totp(
                    db, key, alice.tenant_id, alice.id, pyotp.TOTP(secret).at(earlier), earlier
                ):
                    raise DemoError("could not register alice's authenticator")
                registrations.set_questions(db, alice.tenant_id, alice.id, ALICE_ANSWERS, earlier)
        finally:
            engine.dispose()
        self.totp_secret = secret

    def _stop_leftovers(self) -> None:
        """Stop the server and agent an earlier demo in this folder left running
        (the DC's leftovers are found by :meth:`SambaDC.stop_stale`)."""
        for name in ("agent", "server"):
            pid_file = self.layout.pid_file(name)
            with contextlib.suppress(OSError, ValueError):
                pid = int(pid_file.read_text().strip())
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
                if b"passback" in cmdline and any(
                    str(self.layout.root).encode() in a for a in cmdline
                ):
                    self.out(f"Stopping the {name} an earlier demo left running (pid {pid}) …")
                    os.kill(pid, signal.SIGTERM)
                    _wait_gone(pid, STOP_TIMEOUT)
            pid_file.unlink(missing_ok=True)
        self.dc.stop_stale()

    def _create_users(self) -> None:
        dc = self.dc
        for name, given, disabled, domain_admin in (
            (ALICE, "Alice", False, False),
            (BOB, "Bob", True, False),
            (CAROL, "Carol", False, True),
        ):
            password = random_password(name)
            if name == ALICE:
                self.alice_password = password
            dc.create_user(
                name,
                password,
                given_name=given,
                surname="Demo",
                mail=f"{name}@{MAIL_DOMAIN}",
                mobile=ALICE_MOBILE if name == ALICE else None,
                telephone=ALICE_OFFICE if name == ALICE else None,
                disabled=disabled,
                domain_admin=domain_admin,
            )

    def _create_tenant(self) -> CreatedTenant:
        """What ``passback tenant create --admin-email`` does, and the set-up
        its link leads to, done here: the console's first administrator."""
        self.layout.server_data.mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{self.layout.server_data / 'passback.db'}"
        upgrade(url)
        with session_factory(create_engine(url))() as session:
            key_file = self.layout.server_data / MASTER_KEY_FILE
            key = store_master_key(session, key_file, environment=None)
            created = create_tenant(session, TENANT, SLUG, master_key=key)
            now = utcnow()
            invited = admins.invite(
                session,
                created.tenant_id,
                email=CONSOLE_ADMIN,
                name="Demo Administrator",
                role=Role.TENANT_ADMIN,
                invited_by=None,
                master=key,
                now=now,
            )
            row = admins.by_setup_token(session, created.tenant_id, invited.token, now)
            self.console_secret = admins.totp_secret(key, row)
            self.console_password = random_password()
            admins.complete_setup(
                session,
                row,
                password=self.console_password,
                confirm=self.console_password,
                # The step before now: the code of now stays free for the first sign-in.
                code=pyotp.TOTP(self.console_secret).at(now.timestamp() - 30),
                master=key,
                now=now,
            )
            session.commit()
        write_private(self.layout.console_password, (self.console_password + "\n").encode())
        return created

    def _onboard(self) -> None:
        layout = self.layout
        assert self.tenant is not None
        write_private(layout.service_password, (self.dc.service_password + "\n").encode())
        request = OnboardRequest(
            server_url=self.url,
            token=self.tenant.onboarding_token,
            name=AGENT_NAME,
            directory=DirectoryConfig(
                ldap_url=self.dc.ldaps_url,
                bind_dn=self.dc.service_dn,
                bind_password_file=layout.service_password,
                search_base=self.dc.managed_ou,
                ca_file=Path(self.dc.ca_file),
                tls_server_name=self.dc.tls_name,
            ),
            config_path=layout.agent_config,
            server_ca_file=layout.tls / "ca.pem",
        )
        events = EventLog(layout.events)
        try:
            onboard(request, check_directory=check_directory, events=events)
        finally:
            events.close()

    def _spawn(self, name: str, args: list[str], log_path: Path) -> subprocess.Popen[bytes]:
        with log_path.open("ab") as log:
            process = subprocess.Popen(  # noqa: S603 - this Python, our own arguments
                [sys.executable, "-m", "passback", *args],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
                # Its own session: a Ctrl-C in the terminal reaches only the demo,
                # which then stops the parts in order.
                start_new_session=True,
            )
        self.layout.pid_file(name).write_text(f"{process.pid}\n")
        return process

    # -- waiting -------------------------------------------------------------

    def _wait_for(self, ready: Callable[[], bool], what: str, *, sync: bool = False) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        asked = time.monotonic()
        while not ready():
            self._check_children()
            now = time.monotonic()
            if now > deadline:
                raise DemoError(
                    f"timed out waiting for {what}; see {self.layout.server_log} "
                    f"and {self.layout.agent_log}"
                )
            if sync and now - asked > 10:
                self._api("POST", "/api/v1/sync")  # nudge: a full sync now
                asked = now
            time.sleep(0.2)

    def _check_children(self) -> None:
        for name, process, log in (
            ("server", self.server, self.layout.server_log),
            ("agent", self.agent, self.layout.agent_log),
        ):
            if process is not None and process.poll() is not None:
                raise DemoError(
                    f"the {name} exited ({process.returncode}):\n{_tail(log)}\n(all of it: {log})"
                )

    def _client(self) -> httpx.Client:
        assert self.tenant is not None
        return httpx.Client(
            base_url=self.url,
            verify=ssl.create_default_context(cafile=str(self.layout.tls / "ca.pem")),
            headers={"Authorization": f"Bearer {self.tenant.admin_token}"},
            timeout=10,
        )

    def _api(self, method: str, path: str) -> Any:
        with self._client() as client:
            response = client.request(method, path)
        response.raise_for_status()
        return response.json()

    def _server_healthy(self) -> bool:
        try:
            with self._client() as client:
                return client.get("/healthz").status_code == 200
        except httpx.TransportError:
            return False

    def _agent_connected(self) -> bool:
        return any(a.get("connected") for a in self._api("GET", "/api/v1/agents"))

    def _users_synced(self) -> bool:
        names = {u.get("sam_account_name") for u in self._api("GET", "/api/v1/users")}
        return {ALICE, BOB, CAROL} <= names

    def wait(self) -> None:
        """Until a signal (raised as :class:`_Stop`) or a part dies; shows each
        text and call the server sends, as the mail catcher shows mails."""
        shown = 0
        while True:
            messages = read_outbox(self.layout.phone)
            for message in messages[shown:]:
                kind = "Text" if message["channel"] == "sms" else "Call"
                self.out(f"{kind} to {message['to']}: {message['text']}")
            shown = len(messages)
            self._check_children()
            if not self.dc.running():
                raise DemoError(f"the Samba DC stopped; see {self.dc.log_file}")
            time.sleep(1)

    # -- stop ----------------------------------------------------------------

    def stop(self) -> None:
        """Stop agent, server, mail catcher and DC; safe to call at any point of
        start()."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        # A second Ctrl-C while stopping must not leave parts running.
        with _signals_ignored():
            for name, process, sig in (
                ("agent", self.agent, signal.SIGTERM),
                ("server", self.server, signal.SIGINT),
            ):
                if process is not None:
                    _stop_process(process, sig)
                self.layout.pid_file(name).unlink(missing_ok=True)
            self.mail.stop()
            self.dc.stop()

    @property
    def portal_url(self) -> str:
        return f"{self.url}/portal/{SLUG}/"

    def summary(self) -> str:
        assert self.tenant is not None
        layout, dc, token = self.layout, self.dc, self.tenant.admin_token
        ca = layout.tls / "ca.pem"
        reset = f"{self.url}/api/v1/users/{ALICE}/password-reset"
        return "\n".join(
            [
                "",
                "Passback demo is running.",
                "",
                f"Self-service portal: open it in a browser and sign in as {ALICE}",
                "",
                f"    {self.portal_url}",
                "",
                f"  Reset or unlock {ALICE}'s password there: the tenant allows the email code,",
                "  a text or a call to her phones, an authenticator app, security questions and",
                "  a passkey (one of them is asked).",
                f"  {ALICE}'s mobile is {ALICE_MOBILE}, her office phone {ALICE_OFFICE}: type",
                f"  the number in full; texts and calls land in {layout.phone}/ and show here.",
                f"  {ALICE}'s authenticator key is {self.totp_secret}; a code of now:",
                f"    {sys.executable} -c \\",
                f"      \"import pyotp; print(pyotp.TOTP('{self.totp_secret}').now())\"",
                f"  {ALICE}'s security answers:",
                *(f"    {QUESTIONS[k]} {v}" for k, v in ALICE_ANSWERS.items()),
                "  Ask for two gates instead (then back with --gates 1):",
                f"    {Path(sys.executable).parent / 'passback'} tenant policy \\",
                f"      {self.tenant.tenant_id} \\",
                f"      --data-dir {layout.server_data} --gates 2",
                f"  My account ({self.portal_url}signin): {ALICE} / {self.alice_password}",
                "  A passkey is set up there (Security info); browsers use passkeys only on",
                f"  pages whose certificate they trust: trust {ca} first.",
                "",
                "  The browser warns that the connection is not private: the demo's",
                "  certificate comes from its own private CA. Accept the warning for",
                f"  this demo, or trust {ca} in the browser.",
                f"  The one-time code goes by email to {ALICE}@{MAIL_DOMAIN}: read it in",
                f"  {layout.mail}/ (one .eml file per message); codes are also shown here.",
                f"  No code? After 10 seconds the page offers to ask the help desk ({HELP_DESK}).",
                "",
                f"Admin console: sign in as {CONSOLE_ADMIN}",
                "",
                f"    {self.url}/console/{SLUG}/",
                "",
                f"  Password {self.console_password}; authenticator key {self.console_secret}",
                "  (add it to an authenticator app, or take a code of now:",
                f"    {sys.executable} -c \\",
                f"      \"import pyotp; print(pyotp.TOTP('{self.console_secret}').now())\")",
                '  Search people, reset with "must change at next logon", unlock, revoke the',
                "  agent, read reports and download them as CSV.",
                "",
                "Demo users (the same in the portal and the API):",
                f"  {ALICE:<6} an ordinary account: a reset goes through to the directory",
                f"  {BOB:<6} disabled: the agent refuses the reset (409, code disabled)",
                f"  {CAROL:<6} a Domain Admin: the agent refuses the reset (409, code protected)",
                "",
                "What runs:",
                f"  Server     {self.url}   (API docs: {self.url}/docs)",
                f"  CA         {ca}   (the demo's private CA)",
                f"  Admin API  token {token}",
                f"  Directory  Samba AD DC {REALM} at {dc.ldaps_url} (certificate {dc.tls_name})",
                f"             users in {dc.managed_ou}",
                f"  Agent      {AGENT_NAME}, connected out to the server ({layout.agent_config})",
                f"  Email      caught on 127.0.0.1:{self.mail.port}, kept in {layout.mail}/",
                "",
                f"Reset {ALICE}'s password through the admin API (then try {BOB} and {CAROL}):",
                "",
                f"  curl --cacert {ca} \\",
                f"    -H 'Authorization: Bearer {token}' \\",
                "    -H 'Content-Type: application/json' \\",
                f'    -d \'{{"new_password": "{self.new_password}"}}\' \\',
                f"    {reset}",
                "",
                "Logs:",
                f"  server                      {layout.server_log}",
                f"  agent                       {layout.agent_log}",
                f"  agent events                {layout.events}",
                f"  directory (Samba DC)        {dc.log_file}",
                "Secrets (mode 0600):",
                f"  admin API token             {layout.admin_token}",
                f"  console password            {layout.console_password}",
                f"  DC Administrator password   {layout.admin_password}",
                "",
                "Press Ctrl-C to stop the demo (agent, server, mail catcher and DC).",
            ]
        )


@contextlib.contextmanager
def _signals_ignored() -> Iterator[None]:
    before = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, previous in before.items():
            signal.signal(sig, previous)


def _stop_process(process: subprocess.Popen[bytes], sig: int) -> None:
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_gone(pid: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while Path(f"/proc/{pid}").exists():
        if time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            return
        time.sleep(0.1)


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
