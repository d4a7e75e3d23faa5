"""A real Samba AD DC on loopback, provisioned into a temporary folder.

One DC serves a whole test session (provision ≈ 6 s, start ≈ 2 s, setup ≈ 3 s).
Facts this module relies on are in ARCHITECTURE.md, "Tests need real things".

What it sets up:

- realm ``PASSBACK.TEST``, NetBIOS domain ``PASSBACK``, host ``DC1``; LDAPS on
  127.0.0.1:636 with Samba's self-made CA (``<dir>/private/tls/ca.pem``) and a
  certificate whose CN is ``DC1.passback.test`` (no SAN);
- ``old password allowed period = 0`` so an old password stops binding at once;
- domain password settings for tests: complexity on, minimum length 7, history 0,
  minimum age 0, lockout after 3 bad passwords (so :meth:`SambaDC.lock_out` works);
- ``OU=Passback Users`` for managed users, and ``svc-passback``, a plain user
  (not an admin) delegated on that OU, inherited to user objects, with exactly:
  the Reset Password control right (00299570-…), write property on ``pwdLastSet``
  (bf967a0a-…) and on ``lockoutTime`` (28630ebf-…);
- read access for ``svc-passback`` to fine-grained password policies: the
  ``CN=Password Settings Container`` is readable by Domain Admins only by default,
  so the account gets Read Property + List on it, inherited to
  msDS-PasswordSettings objects (see :func:`pso_read_sddl`).

Everything else the agent reads (rootDSE, the domain head's password settings,
``fSMORoleOwner``, user attributes, ``tokenGroups``, ``msDS-ResultantPSO``) is
readable by Authenticated Users on Samba 4.17.

A DC left running by a crashed earlier run (its config under a temp folder named
``passback-samba-*``) is stopped before a new one starts; anything else on
389/636 is reported, never killed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path

import ldap3
from cryptography import x509
from cryptography.x509.oid import NameOID
from ldap3.core.exceptions import LDAPBindError, LDAPException
from ldap3.protocol.formatters.formatters import format_sid

from passback.agent.directory.tls import PinnedTls, verifying_context

REALM = "PASSBACK.TEST"
NETBIOS_DOMAIN = "PASSBACK"
HOST_NAME = "DC1"
DOMAIN_DN = "DC=passback,DC=test"
MANAGED_OU = f"OU=Passback Users,{DOMAIN_DN}"
ADMIN_PASSWORD = "Adm1n!Passw0rd-Test"  # test-only DC on loopback
SERVICE_ACCOUNT = "svc-passback"
SERVICE_PASSWORD = "Svc!Passback-Test-1"  # test-only DC on loopback
LDAPS_PORT = 636
TEMP_PREFIX = "passback-samba-"

#: Slow machines set this (e.g. 3) to stretch every wait in the test support code.
TIMEOUT_FACTOR = float(os.environ.get("PASSBACK_TEST_TIMEOUT_FACTOR", "1"))

# Schema GUIDs (MS-ADA/MS-ADTS) for the delegation.
RESET_PASSWORD_RIGHT = "00299570-246d-11d0-a768-00aa006e0529"
ATTR_PWD_LAST_SET = "bf967a0a-0de6-11d0-a285-00aa003049e2"
ATTR_LOCKOUT_TIME = "28630ebf-41d5-11d1-a9c1-0000f80367c1"
CLASS_USER = "bf967aba-0de6-11d0-a285-00aa003049e2"
CLASS_PASSWORD_SETTINGS = "3bcd9db8-f84b-451c-952f-6c52b81f9ec6"

LOCKOUT_THRESHOLD = 3
UF_ACCOUNTDISABLE = 0x2
UF_NORMAL_ACCOUNT = 0x200


def delegation_sddl(sid: str) -> str:
    """The ACEs that let ``sid`` reset passwords and unlock users in an OU."""
    return "".join(
        f"(OA;CIIO;{right};{guid};{CLASS_USER};{sid})"
        for right, guid in (
            ("CR", RESET_PASSWORD_RIGHT),
            ("WP", ATTR_PWD_LAST_SET),
            ("WP", ATTR_LOCKOUT_TIME),
        )
    )


def pso_read_sddl(sid: str) -> str:
    """The ACEs that let ``sid`` read fine-grained password policies (PSOs)."""
    return f"(A;;RPLCLO;;;{sid})(OA;CIIO;RPLCLO;;{CLASS_PASSWORD_SETTINGS};{sid})"


@dataclasses.dataclass(frozen=True)
class TestUser:
    """A user the tests created; ``password`` is its current test password."""

    __test__ = False  # not a pytest test class

    name: str  # sAMAccountName
    dn: str
    object_guid: bytes
    password: str


class SambaError(RuntimeError):
    pass


class SambaDC:
    """Provision, run and stop a Samba AD DC in ``root`` (a fresh temp dir by default).

    Attributes the agent's tests use: ``ldaps_url``, ``ca_file``, ``tls_name``,
    ``domain_dn``, ``managed_ou``, ``service_dn``, ``service_password``,
    ``admin_dn``, ``admin_password``, ``realm``.
    """

    def __init__(self, root: Path | None = None) -> None:
        self.root = root or Path(tempfile.mkdtemp(prefix=TEMP_PREFIX))
        self.realm = REALM
        self.domain_dn = DOMAIN_DN
        self.managed_ou = MANAGED_OU
        self.ldaps_url = f"ldaps://127.0.0.1:{LDAPS_PORT}"
        self.ca_file = str(self.root / "private" / "tls" / "ca.pem")
        self.admin_dn = f"CN=Administrator,CN=Users,{DOMAIN_DN}"
        self.admin_password = ADMIN_PASSWORD
        self.service_dn = f"CN={SERVICE_ACCOUNT},{MANAGED_OU}"
        self.service_password = SERVICE_PASSWORD
        self.tls_name = ""  # known once the DC has made its certificate
        self._admin: ldap3.Connection | None = None

    @property
    def smb_conf(self) -> str:
        return str(self.root / "etc" / "smb.conf")

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> None:
        """Provision, start and set up the DC; stop it again if any step fails."""
        try:
            stop_stale_samba()
            self._provision()
            self._run(["samba", "-s", self.smb_conf, "-M", "single"])
            self._wait_for_ldaps()
            self.tls_name = certificate_cn(self.root / "private" / "tls" / "cert.pem")
            self._set_up_directory()
        except BaseException:
            self.stop()
            raise

    def restart(self) -> None:
        """Stop and start the daemon: every client connection is closed by the DC."""
        terminate(int((self.root / "run" / "samba.pid").read_text().split()[0]))
        self._run(["samba", "-s", self.smb_conf, "-M", "single"])
        self._wait_for_ldaps()
        if self._admin is not None:
            with contextlib.suppress(LDAPException):
                self._admin.unbind()  # the DC dropped it; close our end
            self._admin = None

    def stop(self, *, remove: bool = True) -> None:
        if self._admin is not None:
            with contextlib.suppress(LDAPException):
                self._admin.unbind()
            self._admin = None
        pid_file = self.root / "run" / "samba.pid"
        if pid_file.exists():
            terminate(int(pid_file.read_text().split()[0]))
        if remove and not os.environ.get("PASSBACK_KEEP_SAMBA"):
            shutil.rmtree(self.root, ignore_errors=True)

    def _provision(self) -> None:
        r = self.root
        options = {
            "interfaces": "lo",
            "bind interfaces only": "yes",
            "pid directory": f"{r}/run",
            "ncalrpc dir": f"{r}/ncalrpc",
            "winbindd socket directory": f"{r}/winbindd",
            "ntp signd socket directory": f"{r}/ntp_signd",
            "server services": "ldap, kdc",
            "log file": f"{r}/log/samba.log",
        }
        args = [
            "samba-tool", "domain", "provision", f"--targetdir={r}", f"--realm={REALM}",
            f"--domain={NETBIOS_DOMAIN}", f"--host-name={HOST_NAME}", "--server-role=dc",
            "--dns-backend=NONE", "--use-rfc2307", f"--adminpass={ADMIN_PASSWORD}",
        ]  # fmt: skip
        args += [f"--option={k}={v}" for k, v in options.items()]
        self._run(args)
        # provision does not carry this one into smb.conf: add it by hand.
        conf = Path(self.smb_conf)
        text = conf.read_text()
        conf.write_text(
            text.replace("[global]\n", "[global]\n\told password allowed period = 0\n", 1)
        )
        self.samba_tool(
            "domain", "passwordsettings", "set", "--complexity=on", "--min-pwd-length=7",
            "--history-length=0", "--min-pwd-age=0", "--max-pwd-age=0",
            f"--account-lockout-threshold={LOCKOUT_THRESHOLD}",
            "--account-lockout-duration=30", "--reset-account-lockout-after=30",
        )  # fmt: skip

    def _wait_for_ldaps(self) -> None:
        deadline = time.monotonic() + 30 * TIMEOUT_FACTOR
        while time.monotonic() < deadline:
            if ldaps_answers(self.ca_file):
                return
            time.sleep(0.1)
        raise SambaError(f"Samba did not answer LDAPS within 30 s; see {self.root}/log")

    def _set_up_directory(self) -> None:
        admin = self.admin()
        _check(admin, admin.add(MANAGED_OU, ["top", "organizationalUnit"]))
        _check(
            admin,
            admin.add(
                self.service_dn,
                ["top", "person", "organizationalPerson", "user"],
                {
                    "sAMAccountName": SERVICE_ACCOUNT,
                    "userPrincipalName": f"{SERVICE_ACCOUNT}@{REALM.lower()}",
                    "unicodePwd": _encode_password(SERVICE_PASSWORD),
                    "userAccountControl": str(UF_NORMAL_ACCOUNT),
                },
            ),
        )
        sid = self.object_sid(self.service_dn)
        self.samba_tool(
            "dsacl", "set", f"--objectdn={MANAGED_OU}", f"--sddl={delegation_sddl(sid)}"
        )
        pso_container = f"CN=Password Settings Container,CN=System,{DOMAIN_DN}"
        self.samba_tool(
            "dsacl", "set", f"--objectdn={pso_container}", f"--sddl={pso_read_sddl(sid)}"
        )

    # -- plumbing ----------------------------------------------------------

    def _run(self, args: list[str]) -> str:
        done = subprocess.run(
            args, capture_output=True, text=True, timeout=120 * TIMEOUT_FACTOR, check=False
        )
        if done.returncode != 0:
            raise SambaError(f"{args[0]} {args[1:3]} failed ({done.returncode}):\n{done.stderr}")
        return done.stdout

    def samba_tool(self, *args: str) -> str:
        """Run ``samba-tool`` on this DC's database (``-s`` always, see ARCHITECTURE.md)."""
        return self._run(["samba-tool", *args, "-s", self.smb_conf, "-H", self._sam_ldb])

    @property
    def _sam_ldb(self) -> str:
        return str(self.root / "private" / "sam.ldb")

    def tls(self) -> ldap3.Tls:
        # ldap3's own name check calls the deprecated ssl.match_hostname; reuse ours.
        return PinnedTls(verifying_context(self.ca_file), self.tls_name)

    def connect(self, dn: str, password: str) -> ldap3.Connection:
        """A fresh connection bound as ``dn`` (raises LDAPBindError if refused)."""
        server = ldap3.Server(self.ldaps_url, tls=self.tls(), get_info=ldap3.NONE)
        conn = ldap3.Connection(server, dn, password, raise_exceptions=False)
        conn.open()
        if not conn.bind():
            conn.unbind()
            raise LDAPBindError(f"bind as {dn} refused: {conn.result['message']}")
        return conn

    def admin(self) -> ldap3.Connection:
        """A connection bound as Administrator (for test setup, never for the code under test)."""
        if self._admin is None or self._admin.closed:
            self._admin = self.connect(self.admin_dn, ADMIN_PASSWORD)
        return self._admin

    # -- helpers for tests ---------------------------------------------------

    def create_user(
        self,
        name: str | None = None,
        password: str = "Start!Passw0rd-1",
        *,
        disabled: bool = False,
        domain_admin: bool = False,
        consistency_guid: bytes | None = None,
        ou: str | None = None,
    ) -> TestUser:
        """Create a user (a unique name if none given) in the managed OU."""
        name = name or f"u{uuid.uuid4().hex[:12]}"
        dn = f"CN={name},{ou or MANAGED_OU}"
        attrs: dict[str, object] = {
            "sAMAccountName": name,
            "userPrincipalName": f"{name}@{REALM.lower()}",
            "mail": f"{name}@example.test",
            "unicodePwd": _encode_password(password),
            "userAccountControl": str(UF_NORMAL_ACCOUNT | (UF_ACCOUNTDISABLE if disabled else 0)),
        }
        if consistency_guid is not None:
            attrs["ms-DS-ConsistencyGuid"] = consistency_guid
        admin = self.admin()
        _check(admin, admin.add(dn, ["top", "person", "organizationalPerson", "user"], attrs))
        if domain_admin:
            group = f"CN=Domain Admins,CN=Users,{DOMAIN_DN}"
            _check(admin, admin.modify(group, {"member": [(ldap3.MODIFY_ADD, [dn])]}))
        return TestUser(name, dn, self.object_guid(dn), password)

    def delete_user(self, user: TestUser | str) -> None:
        dn = user.dn if isinstance(user, TestUser) else user
        admin = self.admin()
        _check(admin, admin.delete(dn))

    def set_consistency_guid(self, user: TestUser, value: bytes) -> None:
        admin = self.admin()
        change = {"ms-DS-ConsistencyGuid": [(ldap3.MODIFY_REPLACE, [value])]}
        _check(admin, admin.modify(user.dn, change))

    def read(self, dn: str, *attributes: str) -> dict[str, list[object]]:
        admin = self.admin()
        _check(admin, admin.search(dn, "(objectClass=*)", ldap3.BASE, attributes=list(attributes)))
        return {k: list(v) for k, v in admin.response[0]["raw_attributes"].items()}

    def object_guid(self, dn: str) -> bytes:
        value = self.read(dn, "objectGUID")["objectGUID"][0]
        assert isinstance(value, bytes)
        return value

    def object_sid(self, dn: str) -> str:
        return str(format_sid(self.read(dn, "objectSid")["objectSid"][0]))

    def can_bind(self, dn: str, password: str) -> bool:
        """Whether a simple bind over LDAPS as ``dn`` with ``password`` succeeds."""
        server = ldap3.Server(self.ldaps_url, tls=self.tls(), get_info=ldap3.NONE)
        conn = ldap3.Connection(server, dn, password, raise_exceptions=False)
        try:
            conn.open()
            if conn.bind():
                return True
            if conn.result["result"] == 49:  # invalidCredentials (also: locked, disabled)
                return False
            raise SambaError(f"bind as {dn} failed: {conn.result}")
        finally:
            conn.unbind()

    def lock_out(self, user: TestUser) -> None:
        """Lock ``user`` out the way a user does: bad passwords up to the threshold."""
        for i in range(LOCKOUT_THRESHOLD):
            assert not self.can_bind(user.dn, f"Wrong!Passw0rd-{i}")
        if not self.is_locked(user):
            raise SambaError(f"{user.name} is not locked after {LOCKOUT_THRESHOLD} bad binds")

    def is_locked(self, user: TestUser) -> bool:
        attrs = self.read(user.dn, "msDS-User-Account-Control-Computed")
        return bool(int(attrs["msDS-User-Account-Control-Computed"][0]) & 0x10)  # type: ignore[call-overload]

    @contextlib.contextmanager
    def domain_password_settings(self, **values: int | str) -> Iterator[None]:
        """Change domain-head password attributes (e.g. ``pwdHistoryLength=5``,
        ``minPwdAge=-864000000000``) for the duration of a ``with`` block."""
        before = self.read(DOMAIN_DN, *values)
        admin = self.admin()
        change = {k: [(ldap3.MODIFY_REPLACE, [str(v)])] for k, v in values.items()}
        _check(admin, admin.modify(DOMAIN_DN, change))
        try:
            yield
        finally:
            restore = {k: [(ldap3.MODIFY_REPLACE, before[k])] for k in values}
            _check(admin, admin.modify(DOMAIN_DN, restore))

    def create_pso(self, name: str, precedence: int = 10, **settings: str | int) -> str:
        """Create a fine-grained password policy; ``settings`` are samba-tool options
        without dashes, e.g. ``min_pwd_length=12``. Returns its DN."""
        opts = [f"--{k.replace('_', '-')}={v}" for k, v in settings.items()]
        self.samba_tool("domain", "passwordsettings", "pso", "create", name, str(precedence), *opts)
        return f"CN={name},CN=Password Settings Container,CN=System,{DOMAIN_DN}"

    def apply_pso(self, name: str, user: TestUser) -> None:
        self.samba_tool("domain", "passwordsettings", "pso", "apply", name, user.name)

    def delete_pso(self, name: str) -> None:
        self.samba_tool("domain", "passwordsettings", "pso", "delete", name)


def _encode_password(password: str) -> bytes:
    return f'"{password}"'.encode("utf-16-le")


def _check(conn: ldap3.Connection, ok: bool) -> None:
    if not ok:
        raise SambaError(f"LDAP setup step failed: {conn.result}")


def certificate_cn(path: Path) -> str:
    with warnings.catch_warnings():
        # Samba's self-made certificate has a serial number cryptography frowns upon.
        warnings.simplefilter("ignore")
        cert = x509.load_pem_x509_certificate(path.read_bytes())
    return str(cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)


def ldaps_answers(ca_file: str, host: str = "127.0.0.1", port: int = LDAPS_PORT) -> bool:
    """Whether a TLS handshake with the DC completes (name not checked: we learn it here)."""
    if not Path(ca_file).exists():
        return False
    context = ssl.create_default_context(cafile=ca_file)
    context.check_hostname = False
    try:
        with socket.create_connection((host, port), timeout=2) as sock, context.wrap_socket(sock):
            return True
    except OSError:
        return False


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=1):
        return True
    return False


def _samba_processes() -> Iterator[tuple[int, list[str]]]:
    """Samba daemons (it rewrites its argv, e.g. "samba: root process"), with the
    files they hold open."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if Path(os.readlink(entry / "exe")).name != "samba":
                continue
            files = [os.readlink(fd) for fd in (entry / "fd").iterdir()]
        except OSError:
            continue
        yield int(entry.name), files


def stop_stale_samba() -> None:
    """Stop a DC that an earlier, crashed test run left behind (it holds files in a
    ``passback-samba-*`` temp folder); refuse to start next to anything else that
    holds the LDAP ports."""
    ours = str(Path(tempfile.gettempdir()) / TEMP_PREFIX)
    for pid, files in _samba_processes():
        stale = {Path(f[len(ours) :].split("/")[0]) for f in files if f.startswith(ours)}
        if stale:
            terminate(pid)
            for name in stale:
                shutil.rmtree(f"{ours}{name}", ignore_errors=True)
    for port in (389, LDAPS_PORT):
        if port_open(port):
            pids = [str(pid) for pid, _ in _samba_processes()] or ["none"]
            raise SambaError(
                f"127.0.0.1:{port} is already in use, not by a test DC of ours; stop it first "
                f"(samba daemon pids: {', '.join(pids)}; see `ss -ltnp`)"
            )


def terminate(pid: int) -> None:
    """SIGTERM, wait, then SIGKILL; a pid that is gone or a zombie counts as stopped."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10 * TIMEOUT_FACTOR
    while _alive(pid):
        if time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + 5 * TIMEOUT_FACTOR
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"
