"""A short fault soak against the real server, agent and Samba DC (issue
"Hardening" 6; SPEC S5, L4): admin resets while the agent dies right after its
write (the relay link cut with it), the server restarts, and the DC is down.

Every answer is recorded per request id. What must hold:

- once a request id was answered ``outcome_unknown`` (or ``ok``), no later answer
  for it says "not written" (``service_unavailable``, ``directory_unavailable``,
  …): it is ``outcome_unknown`` (or "in progress") until its agent settles it;
- every request id settles once the faults are gone, and the directory agrees:
  the password of each ``ok`` binds, and a password written before a crash was
  not written a second time.

Bounded: ``ROUNDS`` rounds of four requests, about 20 s a round. The long soak
belongs to the benchmarks and the scale work, not to the suite.
"""

from __future__ import annotations

import secrets
import sys
import uuid
from collections import defaultdict
from collections.abc import Iterator

import httpx
import pytest

from tests.support.deployment import Deployment, Tenant, wait_for
from tests.support.samba import SambaDC, TestUser

pytestmark = pytest.mark.samba

ROUNDS = 2
#: Answers that may stand for a request id in doubt: they claim nothing.
IN_DOUBT = {"outcome_unknown", "request_in_progress"}


class Ledger:
    """Each request id's answers in order, and the password it carried."""

    def __init__(self, deployment: Deployment, tenant: Tenant) -> None:
        self.deployment, self.tenant = deployment, tenant
        self.answers: dict[str, list[str]] = defaultdict(list)
        self.requests: dict[str, tuple[TestUser, str]] = {}

    def reset(self, user: TestUser) -> tuple[str, str]:
        """A new reset of ``user`` to a new password: its request id and answer."""
        rid = str(uuid.uuid4())
        # A random password without the tenant's name (the server refuses that).
        self.requests[rid] = (user, f"Zq-{secrets.token_hex(6)}-a1!")
        return rid, self.retry(rid)

    def retry(self, rid: str) -> str:
        """The same request again (same id, same password); its answer."""
        user, password = self.requests[rid]
        response = self.deployment.reset(self.tenant, user.name, password, request_id=rid)
        answer = _answer(response)
        self.answers[rid].append(answer)
        return answer

    def settle(self) -> None:
        for rid in self.requests:
            wait_for(lambda r=rid: self.retry(r) == "ok", 60, f"request {rid} to settle")

    def check_invariant(self) -> None:
        for rid, answers in self.answers.items():
            doubt = False
            for answer in answers:
                if doubt and answer not in IN_DOUBT and answer != "ok":
                    pytest.fail(f"request {rid} in doubt was answered {answer!r}: {answers}")
                doubt = doubt or answer in ("ok", "outcome_unknown")


def _answer(response: httpx.Response) -> str:
    body = response.json()
    return str(body["outcome"] if response.status_code == 200 else body["error"]["code"])


@pytest.fixture(scope="module")
def deployment(samba_dc: SambaDC, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    d = Deployment(tmp_path_factory.mktemp("soak"), samba_dc)
    try:
        d.start_server()
        yield d
    finally:
        d.stop()


def _start_agent(deployment: Deployment, tenant: Tenant, *, crashing: bool = False) -> None:
    command = None
    if crashing:
        config = str(deployment.config_path("agent-a"))
        command = [sys.executable, "-m", "tests.support.crashing_agent", config]
    deployment.start_agent("agent-a", command)
    deployment.wait_connected(tenant)


def _stop_agents(deployment: Deployment, tenant: Tenant) -> None:
    for agent in deployment.agents:
        agent.stop()
    deployment.wait_disconnected(tenant)


def test_answers_in_doubt_never_say_not_written(deployment: Deployment, samba_dc: SambaDC) -> None:
    tenant = deployment.create_tenant("Soak")
    deployment.onboard(tenant, "agent-a", samba_dc.managed_ou)
    users = [samba_dc.create_user() for _ in range(3)]
    _start_agent(deployment, tenant)
    deployment.sync(tenant, *(u.name for u in users))
    ledger = Ledger(deployment, tenant)
    written_before_crash: dict[str, int] = {}

    for _ in range(ROUNDS):
        _stop_agents(deployment, tenant)
        # 1. The agent dies right after the directory took the password.
        _start_agent(deployment, tenant, crashing=True)
        crashed, answer = ledger.reset(users[0])
        assert answer == "outcome_unknown"
        deployment.agents[-1].process.wait(30)
        deployment.wait_disconnected(tenant)
        written_before_crash[users[0].dn] = _pwd_last_set(samba_dc, users[0])
        # 2. No agent: the crashed request stays in doubt; a new one is not written.
        assert ledger.retry(crashed) == "outcome_unknown"
        undelivered, answer = ledger.reset(users[1])
        assert answer == "service_unavailable"
        # 3. The server restarts; still no agent.
        deployment.restart_server()
        assert ledger.retry(crashed) == "outcome_unknown"
        # 4. The agent is back but the DC is down: the agent cannot settle it.
        _start_agent(deployment, tenant)
        with samba_dc.down():
            assert ledger.retry(crashed) == "outcome_unknown"
            _fresh, answer = ledger.reset(users[2])
            assert answer == "directory_unavailable"
            ledger.retry(undelivered)
        # 5. Everything is back: every request id settles.
        ledger.settle()
        assert _pwd_last_set(samba_dc, users[0]) == written_before_crash[users[0].dn]

    ledger.check_invariant()
    last: dict[str, str] = {}
    for rid, (user, password) in ledger.requests.items():
        assert ledger.answers[rid][-1] == "ok"
        last[user.dn] = password
    for user in users:
        assert samba_dc.can_bind(user.dn, last[user.dn]), user.name


def _pwd_last_set(dc: SambaDC, user: TestUser) -> int:
    return int(dc.read(user.dn, "pwdLastSet")["pwdLastSet"][0])  # type: ignore[call-overload]
