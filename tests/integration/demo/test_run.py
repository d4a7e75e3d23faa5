"""``passback demo`` end to end: run it as the README says, follow what it prints.

The demo's DC listens on 127.0.0.3 so that this test can share a session with
the suite's own DC on 127.0.0.1 (both need ports 389 and 636).
"""

from __future__ import annotations

import email
import email.policy
import os
import queue
import re
import shutil
import signal
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import httpx
import pyotp
import pytest

from passback.demo.samba import SambaDC, certificate_cn, port_open, samba_processes_holding
from tests.support.deployment import free_port
from tests.support.samba import TIMEOUT_FACTOR

pytestmark = pytest.mark.samba

DC_ADDRESS = "127.0.0.3"
READY_LINE = "Press Ctrl-C to stop the demo"
USERS_DN = "OU=Staff,DC=demo,DC=passback,DC=test"
ALICE_MAIL = "alice@demo.passback.test"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
#: The code as the email shows it, on a line of its own: "    1234 5678".
CODE = re.compile(r"^[ \t]+(\d{4}) (\d{4})\s*$", re.M)


class Demo:
    """``passback demo`` in a subprocess, its output read line by line."""

    def __init__(self, root: Path, port: int) -> None:
        self.root = root
        self.port = port
        self.process = subprocess.Popen(
            [
                *(sys.executable, "-m", "passback", "demo"),
                *("--dir", str(root), "--port", str(port), "--dc-address", DC_ADDRESS),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.output: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def read_until(self, marker: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout * TIMEOUT_FACTOR
        while True:
            try:
                line = self.lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no {marker!r} in time:\n" + "\n".join(self.output)) from None
            if line is None:
                raise AssertionError("the demo exited:\n" + "\n".join(self.output))
            self.output.append(line)
            if marker in line:
                return "\n".join(self.output)

    def processes(self) -> dict[int, str]:
        """Every live process the demo started: its descendants, and the Samba
        daemon (which leaves the process tree when it daemonizes)."""
        children: dict[int, list[int]] = {}
        names: dict[int, str] = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    stat = (entry / "stat").read_text()
                except OSError:
                    continue
                name, rest = stat.split(" (", 1)[1].rsplit(") ", 1)
                children.setdefault(int(rest.split()[1]), []).append(int(entry.name))
                names[int(entry.name)] = name
        found: dict[int, str] = {}
        todo = [self.process.pid]
        while todo:
            for child in children.get(todo.pop(), []):
                found[child] = names[child]
                todo.append(child)
        for pid, _ in samba_processes_holding(str(self.root / "dc") + os.sep):
            found[pid] = "samba"
        return found

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(60 * TIMEOUT_FACTOR)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.reader.join(10)
        assert self.process.stdout is not None
        self.process.stdout.close()


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Demo]:
    if shutil.which("samba") is None:
        pytest.skip("Samba is not installed (Debian package `samba`)")
    if os.geteuid() != 0:
        pytest.skip("the demo needs root (its DC binds ports 389/636)")
    running = Demo(tmp_path / "demo", free_port())
    try:
        yield running
    finally:
        running.stop()


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def the_dc(root: Path) -> SambaDC:
    """The demo's DC, seen from outside: its CA and certificate, no admin rights."""
    dc = SambaDC(root / "dc", realm="DEMO.PASSBACK.TEST", netbios_domain="DEMO", address=DC_ADDRESS)
    dc.tls_name = certificate_cn(root / "dc" / "private" / "tls" / "cert.pem")
    return dc


def csrf(page: httpx.Response) -> str:
    found = CSRF.search(page.text)
    assert found, page.text
    return found.group(1)


def code_in_mail(folder: Path, address: str) -> str:
    """The one-time code, read from the demo's mail folder as a person would:
    the newest mail to ``address`` that holds one (notices hold none)."""
    deadline = time.monotonic() + 30 * TIMEOUT_FACTOR
    while True:
        for path in reversed(sorted(folder.glob(f"*-{address}.eml"))):
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            assert isinstance(message, EmailMessage)
            assert message["To"] == address
            assert message["From"] == "passback-demo@demo.passback.test"
            body = message.get_body(preferencelist=("plain",))
            assert body is not None
            found = CODE.search(body.get_content())
            if found:
                return found.group(1) + found.group(2)
        assert time.monotonic() < deadline, f"no mail with a code to {address} in {folder}"
        time.sleep(0.1)


def test_demo_runs_as_printed_again_and_stops_cleanly(demo: Demo) -> None:
    printed = demo.read_until(READY_LINE, 180)

    # What the block tells: the portal first, then server, docs, token, users, logs.
    url = f"https://localhost:{demo.port}"
    portal = f"{url}/portal/demo/"
    assert printed.index(portal) < printed.index(f"{url}/docs"), printed
    assert "sign in as alice" in printed
    assert str(demo.root / "tls" / "ca.pem") in printed
    assert f"{demo.root / 'mail'}/" in printed and "codes are also shown here" in printed
    mail_port = re.search(r"caught on 127\.0\.0\.1:(\d+)", printed)
    assert mail_port is not None, printed
    assert f"{url}/docs" in printed
    token = re.search(r"\b(pba_\S+)", printed)
    assert token is not None, printed
    for user, shows in (("alice", "ordinary"), ("bob", "disabled"), ("carol", "protected")):
        assert re.search(rf"^\s+{user}\s+.*{shows}", printed, re.M), printed
    for log in ("server.log", "agent.log", "events.jsonl"):
        assert str(demo.root) in printed and log in printed

    # The printed demo login signs in to My account (before any reset below).
    login = re.search(r"My account \(\S+signin\): alice / (\S+)", printed)
    assert login is not None, printed
    with httpx.Client(
        base_url=url,
        verify=ssl.create_default_context(cafile=str(demo.root / "tls" / "ca.pem")),
        timeout=60,
    ) as signing_in:
        signed = signing_in.post(
            f"{portal}signin", data={"username": "alice", "password": login.group(1)}
        )
        assert signed.headers.get("location") == "/portal/demo/account", signed.text

    # The printed console login: password, then a code of the printed key.
    console = re.search(r"Password (\S+); authenticator key ([A-Z2-7]+)", printed)
    assert console is not None and f"{url}/console/demo/" in printed, printed
    with httpx.Client(
        base_url=url,
        verify=ssl.create_default_context(cafile=str(demo.root / "tls" / "ca.pem")),
        timeout=60,
    ) as admin:
        first = admin.post(
            "/console/demo/signin",
            data={"email": "admin@demo.passback.test", "password": console.group(1)},
        )
        assert first.headers.get("location") == "/console/demo/signin/code", first.text
        second = admin.post(
            "/console/demo/signin/code", data={"code": pyotp.TOTP(console.group(2)).now()}
        )
        assert second.headers.get("location") == "/console/demo/dashboard", second.text
        assert "demo-agent" in admin.get("/console/demo/dashboard").text

    # The ready-to-paste curl command, pasted into a shell.
    curl = re.search(r"^\s+(curl .*?password-reset)$", printed, re.M | re.S)
    assert curl is not None, printed
    command = curl.group(1)
    assert f"--cacert {demo.root / 'tls' / 'ca.pem'}" in command
    new_password = re.search(r'"new_password": "([^"]+)"', command)
    assert new_password is not None
    done = subprocess.run(
        ["bash", "-c", command], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert '"outcome":"ok"' in done.stdout.replace(" ", ""), done.stdout

    # The DC took it: alice binds with the new password over LDAPS on 127.0.0.3,
    # checked against the DC's CA and certificate name.
    dc = the_dc(demo.root)
    assert dc.ldaps_url == f"ldaps://{DC_ADDRESS}:636"
    assert dc.tls_name == "DC1.demo.passback.test"
    assert dc.can_bind(f"CN=alice,{USERS_DN}", new_password.group(1))
    assert not dc.can_bind(f"CN=alice,{USERS_DN}", new_password.group(1) + "x")

    # bob and carol are refused by the agent, as the block says.
    with httpx.Client(
        base_url=url,
        verify=ssl.create_default_context(cafile=str(demo.root / "tls" / "ca.pem")),
        headers={"Authorization": f"Bearer {token.group(1)}"},
        timeout=60,
    ) as client:
        for user, code in (("bob", "disabled"), ("carol", "protected")):
            response = client.post(
                f"/api/v1/users/{user}/password-reset", json={"new_password": "Other!Passw0rd-9"}
            )
            assert response.status_code == 409, response.text
            assert response.json()["error"]["code"] == code

    # The portal, as printed, over HTTPS: alice's code arrives in DIR/mail/ and
    # on the demo's console, and her new password is in the DC at once.
    portal_password = f"Portal-{new_password.group(1)}"
    with httpx.Client(
        base_url=url,
        verify=ssl.create_default_context(cafile=str(demo.root / "tls" / "ca.pem")),
        timeout=60,
    ) as browser:
        page = browser.get(portal)
        assert page.status_code == 200, page.text
        assert '<label for="username">' in page.text
        started = browser.post(portal, data={"username": "alice"})
        assert started.status_code == 303, started.text
        # The demo's tenant allows three methods: the user chooses the email code.
        assert started.headers["location"] == "/portal/demo/method"
        choice = browser.get(f"{portal}method")
        assert 'value="totp"' in choice.text and 'value="questions"' in choice.text
        chosen = browser.post(f"{portal}method", data={"method": "email", "csrf": csrf(choice)})
        assert chosen.headers["location"] == "/portal/demo/code"
        code = code_in_mail(demo.root / "mail", ALICE_MAIL)
        echoed = demo.read_until(f"mail to {ALICE_MAIL}: Your password reset code", 30)
        assert f"{code[:4]} {code[4:]}" in echoed.splitlines()[-1]

        page = browser.get(f"{portal}code")
        assert page.status_code == 200, page.text
        checked = browser.post(f"{portal}code", data={"code": code, "csrf": csrf(page)})
        assert checked.status_code == 303, checked.text
        assert checked.headers["location"] == "/portal/demo/password"

        page = browser.get(f"{portal}password")
        assert page.status_code == 200, page.text
        assert "At least 7 characters" in page.text  # the demo DC's policy, read by the agent
        done = browser.post(
            f"{portal}password",
            data={
                "new_password": portal_password,
                "confirm_password": portal_password,
                "csrf": csrf(page),
            },
        )
        assert done.status_code == 303, done.text  # Post/Redirect/Get
        assert done.headers["location"] == "/portal/demo/done"
        assert "Password changed" in browser.get(f"{portal}done").text

        # A text to alice's mobile, as printed: the demo shows it on its console.
        mobile = re.search(r"mobile is (\+[\d ]+), her office", printed)
        assert mobile is not None, printed
        browser.post(portal, data={"username": "alice"})
        choice = browser.get(f"{portal}method")
        for method in ("mobile_sms", "office_voice", "passkey"):
            assert f'value="{method}"' in choice.text
        chosen = browser.post(
            f"{portal}method", data={"method": "mobile_sms", "csrf": csrf(choice)}
        )
        assert chosen.headers["location"] == "/portal/demo/number"
        page = browser.get(f"{portal}number")
        typed = browser.post(
            f"{portal}number", data={"number": mobile.group(1), "csrf": csrf(page)}
        )
        assert typed.headers["location"] == "/portal/demo/code", typed.text
        echoed = demo.read_until("Text to +14255550142: ", 30).splitlines()[-1]
        sms_code = re.search(r"code: (\d{8})", echoed)
        assert sms_code is not None, echoed
        page = browser.get(f"{portal}code")
        checked = browser.post(
            f"{portal}code", data={"code": sms_code.group(1), "csrf": csrf(page)}
        )
        assert checked.headers["location"] == "/portal/demo/password"
    assert dc.can_bind(f"CN=alice,{USERS_DN}", portal_password)

    # The printed authenticator command gives a code; the printed policy command runs.
    totp = re.search(r'^\s+(\S+python\S*) -c \\\n\s+"(import pyotp;[^"]+)"', printed, re.M)
    assert totp is not None, printed
    code_now = subprocess.run(
        [totp.group(1), "-c", totp.group(2)], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert re.fullmatch(r"\d{6}", code_now), code_now
    policy = re.search(
        r"^\s+(\S+passback) tenant policy \\\n\s+(\S+) \\\n\s+--data-dir (\S+) --gates 2",
        printed,
        re.M,
    )
    assert policy is not None, printed
    shown = subprocess.run(
        [policy.group(1), "tenant", "policy", policy.group(2), "--data-dir", policy.group(3)],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert (
        "methods:               email, mobile_sms, mobile_voice, office_voice, questions, "
        "totp, passkey" in shown
    )
    assert "admin contacts:        helpdesk@demo.passback.test" in shown
    assert "security questions" in shown

    # The passwords and the code never reached a log (SPEC S7).
    for path in demo.root.rglob("*"):
        if path.is_file() and path.suffix in (".log", ".jsonl"):
            text = path.read_text(errors="replace")
            assert new_password.group(1) not in text, path
            assert portal_password not in text and code not in text, path

    # Killed outright (SIGKILL leaves its server, agent and DC running), a
    # second run in the same folder starts afresh.
    leftovers = demo.processes()
    demo.process.kill()
    demo.process.wait()
    again = Demo(demo.root, free_port())
    try:
        printed = again.read_until(READY_LINE, 180)
        assert not [pid for pid in leftovers if alive(pid)], leftovers
        mail_port = re.search(r"caught on 127\.0\.0\.1:(\d+)", printed)
        assert mail_port is not None, printed

        # Ctrl-C stops everything it started.
        running = again.processes()
        assert "samba" in running.values(), running
        assert sum(1 for name in running.values() if name.startswith("python")) >= 2, running
        again.process.send_signal(signal.SIGINT)
        assert again.process.wait(60 * TIMEOUT_FACTOR) == 0
        assert "Demo stopped" in again.read_until("Demo stopped", 5)
    finally:
        again.stop()
    deadline = time.monotonic() + 10 * TIMEOUT_FACTOR
    while any(alive(pid) for pid in running) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in running if alive(pid)], running
    assert not port_open(636, DC_ADDRESS)
    assert not port_open(389, DC_ADDRESS)
    assert not port_open(again.port)
    assert not port_open(int(mail_port.group(1)))
