"""A Samba AD DC on a loopback address, provisioned into a folder: the demo's
directory, and the one the tests run against (``tests/support/samba.py``).

What :meth:`SambaDC.start` sets up:

- a fresh domain (realm, NetBIOS domain and host name from the constructor; the
  domain DN follows the realm) whose LDAP/LDAPS and KDC listen on one loopback
  address only (``interfaces = <address>/8``, ``bind interfaces only``), with its
  own pid, ncalrpc, winbindd and ntp-signd folders, so several DCs can run side
  by side on 127.0.0.1, 127.0.0.2, …;
- LDAPS on ``<address>:636`` with Samba's self-made CA
  (``<root>/private/tls/ca.pem``) and a certificate whose CN is the DC's DNS name
  (no SAN): clients check that name, whatever address they dial;
- optionally ``old password allowed period = 0`` (an old password stops binding
  at once; tests want that, a demo shows the usual behaviour);
- the managed OU and a service account in it: a plain user (not an admin),
  delegated on that OU, inherited to user objects, with exactly the Reset
  Password control right (00299570-…), write property on ``pwdLastSet``
  (bf967a0a-…) and on ``lockoutTime`` (28630ebf-…);
- read access for the service account to fine-grained password policies: the
  ``CN=Password Settings Container`` is readable by Domain Admins only by default,
  so the account gets Read Property + List on it, inherited to
  msDS-PasswordSettings objects (see :func:`pso_read_sddl`).

Everything else the agent reads (rootDSE, the domain head's password settings,
``fSMORoleOwner``, user attributes, ``tokenGroups``, ``msDS-ResultantPSO``) is
readable by Authenticated Users on Samba 4.17.

Needs root (ports 389/636 and Samba's own checks) and the Debian package ``samba``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import ipaddress
import os
import secrets
import shutil
import signal
import socket
import ssl
import string
import subprocess
import time
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import ldap3
from cryptography import x509
from cryptography.x509.oid import NameOID
from ldap3.core.exceptions import LDAPBindError, LDAPException
from ldap3.protocol.formatters.formatters import format_sid

from passback.agent.directory.ldap.tls import PinnedTls, verifying_context

LDAP_PORT = 389
LDAPS_PORT = 636
SERVICE_ACCOUNT = "svc-passback"

# Schema GUIDs (MS-ADA/MS-ADTS) for the delegation (S105: GUIDs, not passwords).
RESET_PASSWORD_RIGHT = "00299570-246d-11d0-a768-00aa006e0529"  # noqa: S105
ATTR_PWD_LAST_SET = "bf967a0a-0de6-11d0-a285-00aa003049e2"  # noqa: S105
ATTR_LOCKOUT_TIME = "28630ebf-41d5-11d1-a9c1-0000f80367c1"
CLASS_USER = "bf967aba-0de6-11d0-a285-00aa003049e2"
CLASS_PASSWORD_SETTINGS = "3bcd9db8-f84b-451c-952f-6c52b81f9ec6"  # noqa: S105

#: Debian packages a DC needs. Only ``samba`` pulls in the daemon; the other three
#: are mere *Recommends* of it, so ``--no-install-recommends`` leaves them out and
#: provisioning fails (no ``samba-ad-provision`` data, no DSDB or ``acl_xattr`` module).
DEBIAN_PACKAGES = ("samba", "samba-ad-provision", "samba-dsdb-modules", "samba-vfs-modules")

UF_ACCOUNTDISABLE = 0x2
UF_NORMAL_ACCOUNT = 0x200
LDAP_INVALID_CREDENTIALS = 49


class SambaError(RuntimeError):
    """A DC step failed; the message says which and where to look."""


@dataclasses.dataclass(frozen=True)
class DirectoryUser:
    """A user created in the DC; ``password`` is the one it was given."""

    name: str  # sAMAccountName
    dn: str
    object_guid: bytes
    password: str = dataclasses.field(repr=False)


def random_password(avoid: str = "") -> str:
    """A random password that meets AD's complexity rule (three character classes,
    no ``avoid`` — e.g. the account name — inside it)."""
    while True:
        password = secrets.token_urlsafe(18) + "-" + secrets.choice(string.ascii_uppercase)
        password += secrets.choice(string.ascii_lowercase) + secrets.choice(string.digits)
        if not avoid or avoid.lower() not in password.lower():
            return password


def missing_packages(packages: Sequence[str] | None = None) -> list[str]:
    """The ``packages`` (default :data:`DEBIAN_PACKAGES`) that dpkg does not have
    installed, decided as ``scripts/setup`` decides it.

    Where there is no dpkg (not Debian), only the two commands are looked for."""
    if shutil.which("dpkg-query") is None:
        return [c for c in ("samba", "samba-tool") if shutil.which(c) is None]
    missing = []
    for package in DEBIAN_PACKAGES if packages is None else packages:
        status = subprocess.run(  # noqa: S603 - fixed command, package names from a constant
            ["dpkg-query", "-W", "-f=${Status}", package],  # noqa: S607
            capture_output=True,
            text=True,
            check=False,
        ).stdout
        if not status.endswith(" ok installed"):
            missing.append(package)
    return missing


def check_prerequisites() -> None:
    """Raise :class:`SambaError` naming what is missing to provision a DC here."""
    missing = missing_packages()
    if missing:
        raise SambaError(
            f"a Samba AD DC cannot be provisioned here: missing {' '.join(missing)}; "
            f"install with `apt-get install --no-install-recommends {' '.join(missing)}` "
            "(or run scripts/setup, which installs everything Passback needs)"
        )


def domain_dn(realm: str) -> str:
    """``EXAMPLE.ORG`` → ``DC=example,DC=org``."""
    return ",".join(f"DC={part}" for part in realm.lower().split("."))


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


def loopback_address(address: str) -> str:
    """``address`` if it is an IPv4 loopback address (127.0.0.0/8), else ValueError."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        raise ValueError(f"{address!r} is not an IP address") from None
    if ip.version != 4 or not ip.is_loopback:
        raise ValueError(f"{address} is not an IPv4 loopback address (127.0.0.0/8)")
    return str(ip)


class SambaDC:
    """Provision, run and stop a Samba AD DC in ``root`` (which must not hold an
    earlier DC: provisioning refuses to overwrite one).

    Attributes clients use: ``ldaps_url``, ``ca_file``, ``tls_name`` (known once
    started), ``domain_dn``, ``managed_ou``, ``service_dn``, ``service_password``,
    ``admin_dn``, ``admin_password``, ``realm``.
    """

    def __init__(
        self,
        root: Path,
        *,
        realm: str,
        netbios_domain: str,
        host_name: str = "DC1",
        address: str = "127.0.0.1",
        managed_ou: str = "OU=Staff",
        admin_password: str | None = None,
        service_account: str = SERVICE_ACCOUNT,
        service_password: str | None = None,
        old_password_allowed_period_zero: bool = False,
        password_settings: Sequence[str] = (),
        timeout_factor: float = 1.0,
    ) -> None:
        """``managed_ou`` is relative to the domain (``OU=Staff``).
        ``password_settings`` are extra ``samba-tool domain passwordsettings set``
        options (``--min-pwd-length=7``, …). Passwords not given are random."""
        self.root = root
        self.realm = realm.upper()
        self.netbios_domain = netbios_domain
        self.host_name = host_name
        self.address = loopback_address(address)
        self.domain_dn = domain_dn(realm)
        self.managed_ou = f"{managed_ou},{self.domain_dn}"
        self.ldaps_url = f"ldaps://{self.address}:{LDAPS_PORT}"
        self.ca_file = str(root / "private" / "tls" / "ca.pem")
        self.admin_dn = f"CN=Administrator,CN=Users,{self.domain_dn}"
        self.admin_password = admin_password or random_password("administrator")
        self.service_account = service_account
        self.service_dn = f"CN={service_account},{self.managed_ou}"
        self.service_password = service_password or random_password(service_account)
        self.old_password_allowed_period_zero = old_password_allowed_period_zero
        self.password_settings = tuple(password_settings)
        self.timeout_factor = timeout_factor
        self.tls_name = ""  # known once the DC has made its certificate
        self._admin: ldap3.Connection | None = None

    @property
    def smb_conf(self) -> str:
        return str(self.root / "etc" / "smb.conf")

    @property
    def pid_file(self) -> Path:
        return self.root / "run" / "samba.pid"

    @property
    def log_file(self) -> Path:
        return self.root / "log" / "samba.log"

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> None:
        """Provision, start and set up the DC; stop it again if any step fails.

        Raises:
            SambaError: a prerequisite is missing (before anything starts), or a step
                failed.
        """
        check_prerequisites()
        try:
            self.stop_stale()
            self._provision()
            self._start_daemon()
            self.tls_name = certificate_cn(self.root / "private" / "tls" / "cert.pem")
            self._set_up_directory()
        except BaseException:
            self.stop(remove=False)
            raise

    def stop_stale(self) -> None:
        """Stop a DC an earlier run left behind in ``root``; refuse to go on when
        something else holds this DC's LDAP ports."""
        for pid, _ in samba_processes_holding(str(self.root) + os.sep):
            terminate(pid, 10 * self.timeout_factor)
        self.check_ports_free()

    def check_ports_free(self) -> None:
        for port in (LDAP_PORT, LDAPS_PORT):
            if port_open(port, self.address):
                pids = [str(pid) for pid, _ in samba_processes_holding("")] or ["none"]
                raise SambaError(
                    f"{self.address}:{port} is already in use; stop what holds it first "
                    f"(samba daemon pids: {', '.join(pids)}; see `ss -ltnp`)"
                )

    def restart(self) -> None:
        """Stop and start the daemon: every client connection is closed by the DC."""
        with self.down():
            pass

    @contextlib.contextmanager
    def down(self) -> Iterator[None]:
        """The daemon stopped for the block, started again after (same data); every
        client connection is closed by the DC."""
        terminate(self.pid(), 10 * self.timeout_factor)
        try:
            yield
        finally:
            self._start_daemon()
            self._drop_admin()

    def stop(self, *, remove: bool = False) -> None:
        """Stop the daemon (if it runs); with ``remove``, delete ``root`` too."""
        self._drop_admin()
        if self.pid_file.exists():
            with contextlib.suppress(ValueError, OSError):
                terminate(self.pid(), 10 * self.timeout_factor)
        if remove:
            shutil.rmtree(self.root, ignore_errors=True)

    def _drop_admin(self) -> None:
        if self._admin is not None:
            with contextlib.suppress(LDAPException):
                self._admin.unbind()  # the DC may have dropped it; close our end
            self._admin = None

    def pid(self) -> int:
        """The daemon's pid, from its pid file."""
        return int(self.pid_file.read_text().split()[0])

    def running(self) -> bool:
        try:
            return _alive(self.pid())
        except (OSError, ValueError):
            return False

    def _start_daemon(self) -> None:
        # samba forks into the background (its own session) and returns.
        self._run(["samba", "-s", self.smb_conf, "-M", "single"])
        self._wait_for_ldaps()

    def _provision(self) -> None:
        r = self.root
        r.mkdir(parents=True, exist_ok=True)
        options = {
            # ip/mask: Samba takes an address on a local interface's network, and
            # binds just that address (lo holds all of 127.0.0.0/8).
            "interfaces": f"{self.address}/8",
            "bind interfaces only": "yes",
            "pid directory": f"{r}/run",
            "ncalrpc dir": f"{r}/ncalrpc",
            "winbindd socket directory": f"{r}/winbindd",
            "ntp signd socket directory": f"{r}/ntp_signd",
            "server services": "ldap, kdc",
            "log file": str(self.log_file),
        }
        args = [
            "samba-tool", "domain", "provision", f"--targetdir={r}", f"--realm={self.realm}",
            f"--domain={self.netbios_domain}", f"--host-name={self.host_name}",
            "--server-role=dc", "--dns-backend=NONE", "--use-rfc2307",
            f"--adminpass={self.admin_password}",
        ]  # fmt: skip
        args += [f"--option={k}={v}" for k, v in options.items()]
        self._run(args)
        if self.old_password_allowed_period_zero:
            # provision does not carry this one into smb.conf: add it by hand.
            conf = Path(self.smb_conf)
            text = conf.read_text()
            conf.write_text(
                text.replace("[global]\n", "[global]\n\told password allowed period = 0\n", 1)
            )
        if self.password_settings:
            self.samba_tool("domain", "passwordsettings", "set", *self.password_settings)

    def _wait_for_ldaps(self) -> None:
        timeout = 30 * self.timeout_factor
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if ldaps_answers(self.ca_file, self.address):
                return
            time.sleep(0.1)
        raise SambaError(
            f"Samba did not answer LDAPS on {self.address}:{LDAPS_PORT} within "
            f"{timeout:.0f} s; see {self.log_file}"
        )

    def _set_up_directory(self) -> None:
        self.create_ou(self.managed_ou)
        self._add_user(self.service_dn, self.service_account, self.service_password, {})
        sid = self.object_sid(self.service_dn)
        self.samba_tool(
            "dsacl", "set", f"--objectdn={self.managed_ou}", f"--sddl={delegation_sddl(sid)}"
        )
        pso_container = f"CN=Password Settings Container,CN=System,{self.domain_dn}"
        self.samba_tool(
            "dsacl", "set", f"--objectdn={pso_container}", f"--sddl={pso_read_sddl(sid)}"
        )

    # -- plumbing ----------------------------------------------------------

    def _run(self, args: list[str]) -> str:
        try:
            done = subprocess.run(  # noqa: S603 - fixed programs, our arguments
                args,
                capture_output=True,
                text=True,
                timeout=120 * self.timeout_factor,
                check=False,
            )
        except FileNotFoundError as exc:
            raise SambaError(f"{args[0]} is not installed (Debian package `samba`)") from exc
        if done.returncode != 0:
            raise SambaError(f"{args[0]} {args[1:3]} failed ({done.returncode}):\n{done.stderr}")
        return done.stdout

    def samba_tool(self, *args: str) -> str:
        """Run ``samba-tool`` on this DC's database (``-s`` always: without it
        samba-tool reads /etc/samba/smb.conf, another server's settings)."""
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
        """A connection bound as Administrator (for setting up, never for the agent)."""
        if self._admin is None or self._admin.closed:
            self._admin = self.connect(self.admin_dn, self.admin_password)
        return self._admin

    # -- directory content ---------------------------------------------------

    def create_ou(self, dn: str) -> None:
        admin = self.admin()
        _check(admin, admin.add(dn, ["top", "organizationalUnit"]))

    def create_user(
        self,
        name: str,
        password: str,
        *,
        ou: str | None = None,
        disabled: bool = False,
        domain_admin: bool = False,
        mail: str | None = None,
        given_name: str | None = None,
        surname: str | None = None,
        consistency_guid: bytes | None = None,
        mobile: str | None = None,
        telephone: str | None = None,
    ) -> DirectoryUser:
        """Create a user ``CN=<name>`` in ``ou`` (the managed OU by default)."""
        dn = f"CN={name},{ou or self.managed_ou}"
        attrs: dict[str, Any] = {}
        if mail is not None:
            attrs["mail"] = mail
        if mobile is not None:
            attrs["mobile"] = mobile
        if telephone is not None:
            attrs["telephoneNumber"] = telephone
        if given_name is not None:
            attrs["givenName"] = given_name
        if surname is not None:
            attrs["sn"] = surname
        if given_name or surname:
            attrs["displayName"] = " ".join(n for n in (given_name, surname) if n)
        if consistency_guid is not None:
            attrs["ms-DS-ConsistencyGuid"] = consistency_guid
        self._add_user(dn, name, password, attrs, disabled=disabled)
        if domain_admin:
            group = f"CN=Domain Admins,CN=Users,{self.domain_dn}"
            admin = self.admin()
            _check(admin, admin.modify(group, {"member": [(ldap3.MODIFY_ADD, [dn])]}))
        return DirectoryUser(name, dn, self.object_guid(dn), password)

    def _add_user(
        self,
        dn: str,
        name: str,
        password: str,
        attrs: dict[str, Any],
        *,
        disabled: bool = False,
    ) -> None:
        control = UF_NORMAL_ACCOUNT | (UF_ACCOUNTDISABLE if disabled else 0)
        values = {
            "sAMAccountName": name,
            "userPrincipalName": f"{name}@{self.realm.lower()}",
            "unicodePwd": encode_password(password),
            "userAccountControl": str(control),
            **attrs,
        }
        admin = self.admin()
        _check(admin, admin.add(dn, ["top", "person", "organizationalPerson", "user"], values))

    def delete_user(self, user: DirectoryUser | str) -> None:
        dn = user.dn if isinstance(user, DirectoryUser) else user
        admin = self.admin()
        _check(admin, admin.delete(dn))

    def set_consistency_guid(self, user: DirectoryUser, value: bytes) -> None:
        admin = self.admin()
        change = {"ms-DS-ConsistencyGuid": [(ldap3.MODIFY_REPLACE, [value])]}
        _check(admin, admin.modify(user.dn, change))

    def read(self, dn: str, *attributes: str) -> dict[str, list[object]]:
        """Raw attribute values of one object, read as Administrator."""
        admin = self.admin()
        _check(admin, admin.search(dn, "(objectClass=*)", ldap3.BASE, attributes=list(attributes)))
        raw: dict[str, Any] = admin.response[0]["raw_attributes"]
        return {k: list(v) for k, v in raw.items()}

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
            if conn.result["result"] == LDAP_INVALID_CREDENTIALS:  # also: locked, disabled
                return False
            raise SambaError(f"bind as {dn} failed: {conn.result}")
        finally:
            conn.unbind()


def encode_password(password: str) -> bytes:
    """A password as ``unicodePwd`` wants it: quoted, UTF-16-LE."""
    return f'"{password}"'.encode("utf-16-le")


def _check(conn: ldap3.Connection, ok: bool) -> None:
    if not ok:
        raise SambaError(f"LDAP setup step failed: {conn.result}")


def certificate_cn(path: Path) -> str:
    """The CN of a PEM certificate (Samba's has no SAN: clients check this name)."""
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
    """Whether something accepts TCP connections on ``host:port``."""
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=1):
        return True
    return False


def samba_processes_holding(prefix: str) -> Iterator[tuple[int, list[str]]]:
    """Samba daemons (found by executable: Samba rewrites its argv, e.g. "samba:
    root process") holding open a file whose path starts with ``prefix``, each
    with those files. An empty prefix matches every samba daemon."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if Path(os.readlink(entry / "exe")).name != "samba":
                continue
            files = [os.readlink(fd) for fd in (entry / "fd").iterdir()]
        except OSError:
            continue
        held = [f for f in files if f.startswith(prefix)]
        if held or not prefix:
            yield int(entry.name), held


def terminate(pid: int, timeout: float = 10.0) -> None:
    """SIGTERM, wait up to ``timeout``, then SIGKILL; a pid that is gone or a
    zombie counts as stopped."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    killed = False
    while _alive(pid):
        if time.monotonic() > deadline:
            if killed:
                raise SambaError(f"process {pid} did not stop")
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + 5
            killed = True
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"
