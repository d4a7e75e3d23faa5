"""Writeback latency: each operation through Passback against the same operation
done raw in LDAP on the same DC.

    python -m bench [--n 200] [--address 127.0.0.4]

Three kinds, each against its raw counterpart:

- reset: the admin API (API → relay → agent → DC) against a ``unicodePwd``
  replace by the agent's service account on a warm, bound LDAPS connection;
- change: the portal's change page (the POST only) against a ``unicodePwd``
  delete of the old value and add of the new one, by the same service account
  on a warm, bound LDAPS connection (the agent's own change operation);
- verify: the portal's sign-in against a password checked raw in LDAP: a new
  LDAPS connection (TCP, TLS), a simple bind as the user, an unbind. Also, as
  the floor of what the agent does since it keeps the next check's connection
  open ahead: the bind alone, on a connection opened (untimed) before it.

And, apart from the ratios, T2's "same timing class": a reset started in the
portal for a username of an account (whose code mail is sent after the
answer) against one for a username that matches nobody, alternating; the two
distributions are compared (medians, p90, and a two-sample
Kolmogorov–Smirnov test), not single timings.

Runs its own Samba AD DC on a loopback address of its own (so it does not
collide with the test suite's or the demo's), the server and one agent as real
processes, exactly as an operator runs them. Each Passback operation alternates
with its raw counterpart, one of each per round, so both see the same machine.
Prints p50/p99/mean of each, their ratios, the size of each relay message, and
the processes' peak memory. Needs root (the DC binds 389/636).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import math
import os
import platform
import re
import secrets
import shutil
import socket
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import ldap3

from passback.crypto.envelope import Metadata, seal
from passback.crypto.keys import PackageKey, generate_private_key
from passback.demo.mailcatcher import MailCatcher
from passback.demo.samba import SambaDC, encode_password
from passback.protocol.messages import Heartbeat, Result, SyncBatch, SyncUser, encode
from passback.protocol.operations import Operation
from passback.protocol.outcomes import Outcome
from tests.support.deployment import Deployment

WARM_UP = 5
#: Seconds before each timed operation: what the one before did after its
#: answer (the server records a success and mails its notice then; the DC
#: finishes its own work) is done, so each operation is timed on a quiet machine.
SETTLE = 0.02
#: Accounts the T2 comparison starts resets for (3 starts each at most).
LOOKUP_USERS = 40
#: Seconds between two starts: what a start does after its answer is done by then.
LOOKUP_PAUSE = 0.1
#: The tenant "Bench"'s portal, and what its pages carry.
PORTAL = "/portal/bench"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
SESSION_COOKIE = "passback_session"


def new_password() -> str:
    # Random, and without the tenant's name, which the server refuses in a password.
    return f"Zq-{secrets.token_urlsafe(9)}-9a"


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def service_connection(dc: SambaDC) -> ldap3.Connection:
    """A bound, warm LDAPS connection as the service account, with TCP_NODELAY
    (as the agent's pool has): the fastest a password write can be."""
    conn = ldap3.Connection(
        ldap3.Server(dc.address, port=636, use_ssl=True, tls=dc.tls()),
        user=dc.service_dn,
        password=dc.service_password,
        auto_bind=True,
    )
    conn.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return conn


def raw_writer(dc: SambaDC, dn: str) -> Callable[[str], None]:
    """A reset: ``unicodePwd`` replaced by the service account."""
    conn = service_connection(dc)

    def write(password: str) -> None:
        change = {"unicodePwd": [(ldap3.MODIFY_REPLACE, [encode_password(password)])]}
        if not conn.modify(dn, change):
            raise RuntimeError(f"raw write failed: {conn.result['description']}")

    return write


def raw_changer(dc: SambaDC, dn: str, current: str) -> Callable[[str], None]:
    """A change, as the agent sends it: one modify by the service account that
    deletes the current ``unicodePwd`` value and adds the new one (the DC checks
    the current password; the right used is Change Password, Everyone's)."""
    conn = service_connection(dc)
    known = [current]

    def change(password: str) -> None:
        changes = {
            "unicodePwd": [
                (ldap3.MODIFY_DELETE, [encode_password(known[0])]),
                (ldap3.MODIFY_ADD, [encode_password(password)]),
            ]
        }
        if not conn.modify(dn, changes):
            raise RuntimeError(f"raw change failed: {conn.result['description']}")
        known[0] = password

    return change


def raw_verifier(dc: SambaDC, dn: str, password: str) -> Callable[[], None]:
    """A password check as the agent's ``verify_password`` does it
    (``ConnectionPool.bind_as``): a new connection on the pool's server (one TLS
    context built once), a simple bind as the user, an unbind; nothing reused."""
    server = ldap3.Server(
        dc.address, port=636, use_ssl=True, tls=dc.tls(), get_info=ldap3.NONE, connect_timeout=10
    )

    def verify() -> None:
        conn = ldap3.Connection(
            server,
            user=dn,
            password=password,
            authentication=ldap3.SIMPLE,
            client_strategy=ldap3.SYNC,
            raise_exceptions=False,
            receive_timeout=30,
        )
        try:
            conn.open()
            conn.bind()
            result = dict(conn.result)
        finally:
            with contextlib.suppress(Exception):
                conn.unbind()
        if result["result"] != 0:
            raise RuntimeError(f"raw bind failed: {result['description']} {result['message']}")

    return verify


def ready_binder(
    dc: SambaDC, dn: str, password: str
) -> tuple[Callable[[], None], Callable[[], None]]:
    """A password check's floor once its connection is open: ``open`` (not
    timed) opens a new LDAPS connection, ``bind`` (timed) binds on it as the
    user, as the agent does on the connection it opened ahead (the unbind is
    left to the next ``open``, as the agent leaves it until after its answer)."""
    server = ldap3.Server(
        dc.address, port=636, use_ssl=True, tls=dc.tls(), get_info=ldap3.NONE, connect_timeout=10
    )
    ready: list[ldap3.Connection] = []
    used: list[ldap3.Connection] = []

    def open_() -> None:
        while used:  # the last one's unbind, not timed: the agent's is after its answer
            with contextlib.suppress(Exception):
                used.pop().unbind()
        conn = ldap3.Connection(
            server, user=dn, password=password, authentication=ldap3.SIMPLE,
            raise_exceptions=False, receive_timeout=30,
        )  # fmt: skip
        conn.open()
        ready.append(conn)

    def bind() -> None:
        conn = ready.pop()
        used.append(conn)
        conn.bind()
        if conn.result["result"] != 0:
            raise RuntimeError(f"raw bind failed: {conn.result['description']}")

    return open_, bind


def page_text(html: str) -> str:
    """What a page says, without its markup (for an error message)."""
    body = re.sub(r"(?s)<(script|style|head)\b.*?</\1>", " ", html)
    return " ".join(re.sub(r"<[^>]+>", " ", body).split())[:1500]


def refused(client: httpx.Client, what: str, response: httpx.Response) -> RuntimeError:
    """The error for a post that did not end where a success ends: the page it
    was sent back to (PRG) says why."""
    location = response.headers.get("location")
    if response.status_code == 303 and location:
        shown = client.get(location)
        return RuntimeError(f"{what} failed (303 to {location}): {page_text(shown.text)}")
    return RuntimeError(f"{what} failed ({response.status_code}): {page_text(response.text)}")


def message_sizes() -> dict[str, int]:
    """Bytes on the wire of each relay message, encoded by the code the link uses."""
    key, package = generate_private_key(), PackageKey.generate()
    ids = [str(uuid.uuid4()) for _ in range(3)]
    now = int(time.time())
    meta = Metadata(ids[0], ids[1], ids[2], Operation.RESET, bytes(16), now, now + 300)
    typical = seal(meta, [new_password()], agent_key=key.public_key(), package_key=package)
    longest = seal(meta, ["語" * 256], agent_key=key.public_key(), package_key=package)
    user = SyncUser("A" * 22, "alice.example", "alice@contoso.test", "alice@contoso.test", True)
    return {
        "operation request (typical password)": len(typical),
        "operation request (longest: 256 CJK)": len(longest),
        "result (ok)": len(encode(Result(ids[2], Outcome.OK, {}, 31002)).encode()),
        "result (refusal with detail)": len(
            encode(Result(ids[2], Outcome.TOO_SHORT, {"min_length": 14}, 33008)).encode()
        ),
        "heartbeat": len(encode(Heartbeat(86400, 1000, 3, now, False)).encode()),
        "sync batch, per user": len(encode(SyncBatch("s", 0, True, True, (user,))))
        - len(encode(SyncBatch("s", 0, True, True, ()))),
    }


@dataclasses.dataclass
class Kind:
    """One operation measured both ways: through Passback and raw, on the same DC."""

    name: str
    raw_label: str
    e2e_label: str
    raw: Callable[[], None]
    e2e: Callable[[], None]
    raw_ms: list[float] = dataclasses.field(default_factory=list)
    e2e_ms: list[float] = dataclasses.field(default_factory=list)


def ks_two_sample(a: list[float], b: list[float]) -> tuple[float, float]:
    """The two-sample Kolmogorov-Smirnov statistic D and its asymptotic p-value."""
    xs, ys = sorted(a), sorted(b)
    d = 0.0
    for value in xs + ys:
        below_a = sum(1 for x in xs if x <= value) / len(xs)
        below_b = sum(1 for y in ys if y <= value) / len(ys)
        d = max(d, abs(below_a - below_b))
    n = len(xs) * len(ys) / (len(xs) + len(ys))
    lam = (n**0.5 + 0.12 + 0.11 / n**0.5) * d
    p = 2 * sum((-1) ** (k - 1) * math.exp(-2 * k * k * lam * lam) for k in range(1, 101))
    return d, min(max(p, 0.0), 1.0)


def timed(operation: Callable[[], None], samples: list[float]) -> None:
    start = time.perf_counter()
    operation()
    samples.append((time.perf_counter() - start) * 1000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="operations of each kind")
    parser.add_argument("--address", default="127.0.0.4", help="loopback address of the DC")
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="passback-bench-"))
    dc = SambaDC(
        root / "dc",
        realm="BENCH.PASSBACK.TEST",
        netbios_domain="BENCH",
        address=args.address,
        password_settings=["--min-pwd-age=0", "--history-length=0"],
    )
    print(f"starting a Samba AD DC on {args.address} …", flush=True)
    dc.start()
    deployment = Deployment(root / "deployment", dc)
    try:
        mail = MailCatcher()  # in memory: the codes go nowhere
        mail.start()
        known = [f"bench-k{i:02d}" for i in range(LOOKUP_USERS)]
        for name in known:
            dc.create_user(name, new_password(), mail=f"{name}@bench.passback.test")
        users = {
            name: dc.create_user(name, new_password())
            for name in (
                "bench-raw",
                "bench-e2e",
                "bench-chg-raw",
                "bench-chg-e2e",
                "bench-ver-raw",
                "bench-ver-e2e",
            )
        }
        deployment.root.mkdir()
        deployment.smtp_port = mail.port
        # Every sign-in and start comes from 127.0.0.1: lift the per-address limits.
        deployment.start_server("--sign-in-limit", "100000", "--lookup-limit", "1000000")
        tenant = deployment.create_tenant("Bench")
        deployment.onboard(tenant, "bench-agent", dc.managed_ou)
        agent = deployment.start_agent("bench-agent")
        deployment.wait_connected(tenant)
        deployment.sync(tenant, *(name for name in users if name.endswith("-e2e")), *known)

        admin = deployment.http(tenant.admin_token)
        changer = deployment.http()  # one browser, one session, for every change
        signer = deployment.http()  # another browser, signing in again and again

        reset_user = users["bench-e2e"]

        def e2e_reset() -> None:
            response = admin.post(
                f"/api/v1/users/{reset_user.name}/password-reset",
                json={"new_password": new_password()},
            )
            if response.status_code != 200:
                raise RuntimeError(f"reset failed: {response.text}")

        change_user = users["bench-chg-e2e"]
        current = [change_user.password]
        signed = changer.post(
            f"{PORTAL}/signin", data={"username": change_user.name, "password": current[0]}
        )
        if signed.status_code != 303 or signed.headers.get("location") != f"{PORTAL}/account":
            raise refused(changer, "sign-in for the changes", signed)
        pending: dict[str, str] = {}

        def read_change_form() -> None:
            # The user reading the page: not timed.
            form = changer.get(f"{PORTAL}/change")
            found = CSRF.search(form.text)
            if form.status_code != 200 or found is None:
                raise RuntimeError(f"change form ({form.status_code}): {page_text(form.text)}")
            pending["csrf"] = found.group(1)

        def e2e_change() -> None:
            password = new_password()
            response = changer.post(
                f"{PORTAL}/change",
                data={
                    "current_password": current[0],
                    "new_password": password,
                    "confirm_password": password,
                    "csrf": pending.pop("csrf"),
                },
            )
            if response.status_code != 303 or response.headers["location"] != f"{PORTAL}/account":
                raise refused(changer, "change", response)
            current[0] = password

        verify_user = users["bench-ver-e2e"]

        def e2e_verify() -> None:
            signer.cookies.delete(SESSION_COOKIE)  # a new sign-in, the device cookie kept
            response = signer.post(
                f"{PORTAL}/signin",
                data={"username": verify_user.name, "password": verify_user.password},
            )
            if response.status_code != 303 or response.headers["location"] != f"{PORTAL}/account":
                raise refused(signer, "sign-in", response)

        raw_reset = raw_writer(dc, users["bench-raw"].dn)
        raw_change = raw_changer(dc, users["bench-chg-raw"].dn, users["bench-chg-raw"].password)
        raw_verify = raw_verifier(dc, users["bench-ver-raw"].dn, users["bench-ver-raw"].password)
        open_ready, ready_bind = ready_binder(
            dc, users["bench-ver-raw"].dn, users["bench-ver-raw"].password
        )
        ready_ms: list[float] = []
        kinds = [
            Kind(
                "reset",
                "raw unicodePwd replace",
                "reset through Passback",
                lambda: raw_reset(new_password()),
                e2e_reset,
            ),
            Kind(
                "change",
                "raw unicodePwd delete+add",
                "change through the portal",
                lambda: raw_change(new_password()),
                e2e_change,
            ),
            Kind(
                "verify",
                "raw connect+TLS+bind",
                "sign-in through the portal",
                raw_verify,
                e2e_verify,
            ),
        ]
        before = {"change": read_change_form}

        for _ in range(WARM_UP):
            for kind in kinds:
                kind.raw()
                before.get(kind.name, lambda: None)()
                kind.e2e()
        for _ in range(args.n):
            for kind in kinds:
                time.sleep(SETTLE)
                timed(kind.raw, kind.raw_ms)
                before.get(kind.name, lambda: None)()
                time.sleep(SETTLE)
                timed(kind.e2e, kind.e2e_ms)
            open_ready()  # not timed: the agent opened its connection ahead too
            time.sleep(SETTLE)
            timed(ready_bind, ready_ms)
        # T2: starts for accounts against starts for names of nobody. Each
        # account starts at most 3 times (its code mails for one address in
        # an hour), each unknown name once; a new browser every time.
        starter = deployment.http()
        lookup: dict[str, list[float]] = {"account": [], "nobody": []}

        def start(username: str) -> None:
            starter.cookies.clear()
            response = starter.post(f"{PORTAL}/", data={"username": username})
            if response.status_code != 303:
                raise refused(starter, "start", response)

        rounds = min(args.n, 3 * LOOKUP_USERS)
        for i in range(rounds):
            name = known[i % LOOKUP_USERS]
            timed(lambda n=name: start(n), lookup["account"])  # type: ignore[misc]
            # The account's code mail goes out after the answer: let it, so that
            # its sending does not land on the next start measured.
            time.sleep(LOOKUP_PAUSE)
            timed(lambda: start(f"nobody-{uuid.uuid4().hex[:10]}"), lookup["nobody"])
            time.sleep(LOOKUP_PAUSE)
        starter.close()
        for client in (admin, changer, signer):
            client.close()
        assert deployment.server is not None
        server_rss, agent_rss = peak_rss_mib(deployment.server.pid), peak_rss_mib(agent.process.pid)
    finally:
        deployment.stop()
        mail.stop()
        dc.stop(remove=True)
        # The deployment's folder holds its master key, store and the service
        # account's password file: nothing of a benchmark is kept.
        shutil.rmtree(root, ignore_errors=True)

    print()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, {platform.platform()}"
    )
    print(f"{args.n} operations of each kind, each alternating with its raw one; times in ms")
    print(f"{'':36} {'p50':>8} {'p99':>8} {'mean':>8}")
    for kind in kinds:
        for label, samples in ((kind.raw_label, kind.raw_ms), (kind.e2e_label, kind.e2e_ms)):
            print(
                f"{kind.name:7} {label:28} {percentile(samples, 0.5):8.1f} "
                f"{percentile(samples, 0.99):8.1f} {statistics.fmean(samples):8.1f}"
            )
        p50 = percentile(kind.e2e_ms, 0.5) / percentile(kind.raw_ms, 0.5)
        p99 = percentile(kind.e2e_ms, 0.99) / percentile(kind.raw_ms, 0.99)
        print(f"{kind.name:7} {'ratio (Passback / raw)':28} {p50:8.2f} {p99:8.2f}")
    verify = next(kind for kind in kinds if kind.name == "verify")
    print(
        f"{'verify':7} {'raw bind, connection ready':28} {percentile(ready_ms, 0.5):8.1f} "
        f"{percentile(ready_ms, 0.99):8.1f} {statistics.fmean(ready_ms):8.1f}"
    )
    over = percentile(verify.e2e_ms, 0.5) - percentile(ready_ms, 0.5)
    print(f"{'verify':7} {'Passback over that, p50':28} {over:8.1f}")
    print()
    print("relay message sizes (bytes on the wire):")
    for name, size in message_sizes().items():
        print(f"  {name:40} {size:5}")
    print()
    print(f"peak memory: server {server_rss:.0f} MiB, agent {agent_rss:.0f} MiB")
    print()
    account, nobody = lookup["account"], lookup["nobody"]
    print(f"T2: {len(account)} starts of each, alternating; times in ms")
    for label, samples in (("an account's username", account), ("a name of nobody", nobody)):
        print(
            f"  {label:24} p50 {percentile(samples, 0.5):7.2f}  p90 "
            f"{percentile(samples, 0.9):7.2f}  mean {statistics.fmean(samples):7.2f}"
        )
    d, p = ks_two_sample(account, nobody)
    print(f"  Kolmogorov-Smirnov: D = {d:.3f}, p = {p:.3f} (a small p: the two differ)")


if __name__ == "__main__":
    main()
