"""Writeback latency: each operation through Passback against the same operation
done raw in LDAP on the same DC.

    python -m bench [--n 200] [--address 127.0.0.4]

Three kinds, each against its raw counterpart:

- reset: the admin API (API → relay → agent → DC) against a ``unicodePwd``
  replace by the agent's service account on a warm, bound LDAPS connection;
- change: the portal's change page (the POST only) against a ``unicodePwd``
  delete of the old value and add of the new one, by the same service account
  on a warm, bound LDAPS connection (the agent's own change operation);
- verify: the portal's sign-in against what the agent does to check a
  password: a new LDAPS connection (TCP, TLS), a simple bind as the user, an
  unbind (``ConnectionPool.bind_as``).

Runs its own Samba AD DC on a loopback address of its own (so it does not
collide with the test suite's or the demo's), the server and one agent as real
processes, exactly as an operator runs them. Each Passback operation alternates
with its raw counterpart, one of each per round, so both see the same machine.
Prints p50/p99/mean of each, their ratios, the size of each relay message, and
the processes' peak memory. Needs root (the DC binds 389/636).
"""

from __future__ import annotations

import argparse
import os
import platform
import secrets
import socket
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import ldap3

from passback.crypto.envelope import Metadata, seal
from passback.crypto.keys import PackageKey, generate_private_key
from passback.demo.samba import SambaDC, encode_password
from passback.protocol.messages import Heartbeat, Result, SyncBatch, SyncUser, encode
from passback.protocol.operations import Operation
from passback.protocol.outcomes import Outcome
from tests.support.deployment import Deployment

WARM_UP = 5


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


def raw_writer(dc: SambaDC, dn: str) -> Callable[[str], None]:
    """A bound, warm LDAPS connection as the service account, with TCP_NODELAY
    (as the agent's pool has): the fastest a password write can be."""
    conn = ldap3.Connection(
        ldap3.Server(dc.address, port=636, use_ssl=True, tls=dc.tls()),
        user=dc.service_dn,
        password=dc.service_password,
        auto_bind=True,
    )
    conn.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def write(password: str) -> None:
        change = {"unicodePwd": [(ldap3.MODIFY_REPLACE, [encode_password(password)])]}
        if not conn.modify(dn, change):
            raise RuntimeError(f"raw write failed: {conn.result['description']}")

    return write


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="writes of each kind")
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
        raw_user = dc.create_user("bench-raw", new_password())
        e2e_user = dc.create_user("bench-e2e", new_password())
        deployment.root.mkdir()
        deployment.start_server()
        tenant = deployment.create_tenant("Bench")
        deployment.onboard(tenant, "bench-agent", dc.managed_ou)
        agent = deployment.start_agent("bench-agent")
        deployment.wait_connected(tenant)
        deployment.sync(tenant, e2e_user.name)

        raw_write = raw_writer(dc, raw_user.dn)
        client = deployment.http(tenant.admin_token)

        def e2e_write(password: str) -> None:
            response = client.post(
                f"/api/v1/users/{e2e_user.name}/password-reset", json={"new_password": password}
            )
            if response.status_code != 200:
                raise RuntimeError(f"reset failed: {response.text}")

        for _ in range(WARM_UP):
            raw_write(new_password())
            e2e_write(new_password())
        raw, e2e = [], []
        for _ in range(args.n):
            for write, samples in ((raw_write, raw), (e2e_write, e2e)):
                password = new_password()
                start = time.perf_counter()
                write(password)
                samples.append((time.perf_counter() - start) * 1000)
        client.close()
        assert deployment.server is not None
        server_rss, agent_rss = peak_rss_mib(deployment.server.pid), peak_rss_mib(agent.process.pid)
    finally:
        deployment.stop()
        dc.stop(remove=True)

    print()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, {platform.platform()}"
    )
    print(f"{args.n} writes of each kind, alternating; times in ms")
    print(f"{'':28} {'p50':>8} {'p99':>8} {'mean':>8}")
    for name, samples in (("raw unicodePwd write", raw), ("reset through Passback", e2e)):
        print(
            f"{name:28} {percentile(samples, 0.5):8.1f} {percentile(samples, 0.99):8.1f} "
            f"{statistics.fmean(samples):8.1f}"
        )
    print(
        f"{'ratio (Passback / raw)':28} {percentile(e2e, 0.5) / percentile(raw, 0.5):8.2f} "
        f"{percentile(e2e, 0.99) / percentile(raw, 0.99):8.2f}"
    )
    print()
    print("relay message sizes (bytes on the wire):")
    for name, size in message_sizes().items():
        print(f"  {name:40} {size:5}")
    print()
    print(f"peak memory: server {server_rss:.0f} MiB, agent {agent_rss:.0f} MiB")


if __name__ == "__main__":
    main()
