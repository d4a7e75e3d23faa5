"""The tests' Samba AD DC: :class:`passback.demo.samba.SambaDC` with test settings
and a few test-only helpers.

One DC serves a whole test session (provision ≈ 6 s, start ≈ 2 s, setup ≈ 3 s).
What the product module sets up is described there; on top of that:

- realm ``PASSBACK.TEST``, NetBIOS domain ``PASSBACK``, host ``DC1``; LDAPS on
  127.0.0.1:636, certificate CN ``DC1.passback.test`` (no SAN);
- ``old password allowed period = 0`` so an old password stops binding at once;
- domain password settings for tests: complexity on, minimum length 7, history 0,
  minimum age 0, lockout after 5 bad passwords (so :meth:`SambaDC.lock_out` works);
- ``OU=Passback Users`` for managed users, with ``svc-passback`` delegated on it;
- fixed, test-only passwords (a DC on loopback that lives for one session).

A DC left running by a crashed earlier run (its files under a temp folder named
``passback-samba-*``) is stopped before a new one starts; anything else on
389/636 is reported, never killed.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import ldap3

from passback.demo.samba import (
    LDAPS_PORT,
    SERVICE_ACCOUNT,
    DirectoryUser,
    SambaError,
    certificate_cn,
    check_prerequisites,
    delegation_sddl,
    ldaps_answers,
    port_open,
    pso_read_sddl,
    samba_processes_holding,
)
from passback.demo.samba import SambaDC as _ProductDC
from passback.demo.samba import terminate as _terminate

__all__ = [
    "ADMIN_PASSWORD",
    "DOMAIN_DN",
    "LDAPS_PORT",
    "LOCKOUT_THRESHOLD",
    "MANAGED_OU",
    "REALM",
    "SERVICE_ACCOUNT",
    "SERVICE_PASSWORD",
    "TIMEOUT_FACTOR",
    "SambaDC",
    "SambaError",
    "TestUser",
    "certificate_cn",
    "check_prerequisites",
    "delegation_sddl",
    "ldaps_answers",
    "port_open",
    "pso_read_sddl",
    "stop_stale_samba",
    "terminate",
]

REALM = "PASSBACK.TEST"
NETBIOS_DOMAIN = "PASSBACK"
HOST_NAME = "DC1"
DOMAIN_DN = "DC=passback,DC=test"
MANAGED_OU = f"OU=Passback Users,{DOMAIN_DN}"
ADMIN_PASSWORD = "Adm1n!Passw0rd-Test"  # test-only DC on loopback
SERVICE_PASSWORD = "Svc!Passback-Test-1"  # test-only DC on loopback
TEMP_PREFIX = "passback-samba-"

#: Slow machines set this (e.g. 3) to stretch every wait in the test support code.
TIMEOUT_FACTOR = float(os.environ.get("PASSBACK_TEST_TIMEOUT_FACTOR", "1"))
#: Where the tests' DC listens; another loopback address lets two test runs
#: (or a test run and the demo) share a machine.
DC_ADDRESS = os.environ.get("PASSBACK_TEST_DC_ADDRESS", "127.0.0.1")

#: The portal binds while a failure leaves the owner 2 before the lockout:
#: at 5, a wrong password and then the right one are both checked.
LOCKOUT_THRESHOLD = 5
#: "User cannot change password", as ADUC sets it: a deny of the Change
#: Password right to Everyone and to SELF.
CANNOT_CHANGE_SDDL = "".join(
    f"(OD;;CR;ab721a53-1e2f-11d0-9819-00aa0040529b;;{who})" for who in ("WD", "PS")
)
TEST_PASSWORD_SETTINGS = (
    "--complexity=on",
    "--min-pwd-length=7",
    "--history-length=0",
    "--min-pwd-age=0",
    "--max-pwd-age=0",
    f"--account-lockout-threshold={LOCKOUT_THRESHOLD}",
    "--account-lockout-duration=30",
    "--reset-account-lockout-after=30",
)


class TestUser(DirectoryUser):
    """A user the tests created; ``password`` is its current test password."""

    __test__ = False  # not a pytest test class


def terminate(pid: int) -> None:
    _terminate(pid, 10 * TIMEOUT_FACTOR)


class SambaDC(_ProductDC):
    """The test session's DC in ``root`` (a fresh temp dir by default), on
    ``address`` (``PASSBACK_TEST_DC_ADDRESS``, 127.0.0.1 by default)."""

    def __init__(self, root: Path | None = None, address: str = DC_ADDRESS) -> None:
        super().__init__(
            root or Path(tempfile.mkdtemp(prefix=TEMP_PREFIX)),
            realm=REALM,
            netbios_domain=NETBIOS_DOMAIN,
            host_name=HOST_NAME,
            address=address,
            managed_ou=MANAGED_OU.split(",", 1)[0],
            admin_password=ADMIN_PASSWORD,
            service_password=SERVICE_PASSWORD,
            old_password_allowed_period_zero=True,
            password_settings=TEST_PASSWORD_SETTINGS,
            timeout_factor=TIMEOUT_FACTOR,
        )

    def stop_stale(self) -> None:
        stop_stale_samba(self.address)
        super().stop_stale()

    def stop(self, *, remove: bool = True) -> None:
        super().stop(remove=remove and not os.environ.get("PASSBACK_KEEP_SAMBA"))

    # -- helpers for tests ---------------------------------------------------

    def create_user(  # type: ignore[override]
        self,
        name: str | None = None,
        password: str = "Start!Passw0rd-1",
        *,
        disabled: bool = False,
        domain_admin: bool = False,
        consistency_guid: bytes | None = None,
        ou: str | None = None,
        mobile: str | None = None,
        telephone: str | None = None,
    ) -> TestUser:
        """Create a user (a unique name if none given) in the managed OU."""
        name = name or f"u{uuid.uuid4().hex[:12]}"
        user = super().create_user(
            name,
            password,
            ou=ou,
            disabled=disabled,
            domain_admin=domain_admin,
            mail=f"{name}@example.test",
            consistency_guid=consistency_guid,
            mobile=mobile,
            telephone=telephone,
        )
        return TestUser(user.name, user.dn, user.object_guid, user.password)

    def create_group(self, *members: str, security: bool = True) -> tuple[str, str]:
        """A global group (a security group unless told) with ``members``
        (DNs of users or groups) in the managed OU; its name and DN."""
        name = f"g{uuid.uuid4().hex[:12]}"
        dn = f"CN={name},{self.managed_ou}"
        # ADS_GROUP_TYPE_GLOBAL_GROUP (2), with SECURITY_ENABLED (0x80000000) as a signed int.
        group_type = -2147483646 if security else 2
        attributes: dict[str, object] = {"sAMAccountName": name, "groupType": str(group_type)}
        if members:
            attributes["member"] = list(members)
        admin = self.admin()
        _check(admin, admin.add(dn, ["top", "group"], attributes))
        return name, dn

    def lock_out(self, user: DirectoryUser) -> None:
        """Lock ``user`` out the way a user does: bad passwords up to the threshold."""
        for i in range(LOCKOUT_THRESHOLD):
            assert not self.can_bind(user.dn, f"Wrong!Passw0rd-{i}")
        if not self.is_locked(user):
            raise SambaError(f"{user.name} is not locked after {LOCKOUT_THRESHOLD} bad binds")

    def is_locked(self, user: DirectoryUser) -> bool:
        attrs = self.read(user.dn, "msDS-User-Account-Control-Computed")
        return bool(int(attrs["msDS-User-Account-Control-Computed"][0]) & 0x10)  # type: ignore[call-overload]

    @contextlib.contextmanager
    def domain_password_settings(self, **values: int | str) -> Iterator[None]:
        """Change domain-head password attributes (e.g. ``pwdHistoryLength=5``,
        ``minPwdAge=-864000000000``) for the duration of a ``with`` block."""
        before = self.read(self.domain_dn, *values)
        admin = self.admin()
        change = {k: [(ldap3.MODIFY_REPLACE, [str(v)])] for k, v in values.items()}
        _check(admin, admin.modify(self.domain_dn, change))
        try:
            yield
        finally:
            restore = {k: [(ldap3.MODIFY_REPLACE, before[k])] for k in values}
            _check(admin, admin.modify(self.domain_dn, restore))

    def create_pso(self, name: str, precedence: int = 10, **settings: str | int) -> str:
        """Create a fine-grained password policy; ``settings`` are samba-tool options
        without dashes, e.g. ``min_pwd_length=12``. Returns its DN."""
        opts = [f"--{k.replace('_', '-')}={v}" for k, v in settings.items()]
        self.samba_tool("domain", "passwordsettings", "pso", "create", name, str(precedence), *opts)
        return f"CN={name},CN=Password Settings Container,CN=System,{self.domain_dn}"

    def apply_pso(self, name: str, user: DirectoryUser) -> None:
        self.samba_tool("domain", "passwordsettings", "pso", "apply", name, user.name)

    def delete_pso(self, name: str) -> None:
        self.samba_tool("domain", "passwordsettings", "pso", "delete", name)


def _check(conn: ldap3.Connection, ok: bool) -> None:
    if not ok:
        raise SambaError(f"LDAP setup step failed: {conn.result}")


def stop_stale_samba(address: str = DC_ADDRESS) -> None:
    """Stop a DC that an earlier, crashed test run left behind on ``address`` (it
    holds files in a ``passback-samba-*`` temp folder) and remove its folder. A DC
    of a test run going on now on another address is left alone."""
    ours = str(Path(tempfile.gettempdir()) / TEMP_PREFIX)
    for pid, files in samba_processes_holding(ours):
        roots = {Path(ours + f[len(ours) :].split("/")[0]) for f in files}
        if not any(_binds(root, address) for root in roots):
            continue
        terminate(pid)
        for root in roots:
            shutil.rmtree(root, ignore_errors=True)


def _binds(root: Path, address: str) -> bool:
    try:
        conf = (root / "etc" / "smb.conf").read_text()
    except OSError:
        return True  # its folder is gone: an orphan, whatever it holds
    return f"interfaces = {address}/" in conf
