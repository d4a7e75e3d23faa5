"""The agent's writeback path (envelope → locate → refuse or write) on a real
Samba AD DC, without the server: what the agent itself refuses (W5), even for
an account the server should never have heard of."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ldap3
import pytest

from passback.agent.directory.ad.active_directory import ActiveDirectory
from passback.agent.directory.ad.settings import ADSettings
from passback.agent.events import EventLog
from passback.agent.journal import Journal
from passback.agent.writeback import Writeback
from passback.crypto.envelope import Metadata, seal
from passback.crypto.keys import PackageKey, generate_private_key
from passback.protocol.messages import Result
from passback.protocol.operations import Operation
from passback.protocol.outcomes import Outcome
from tests.support.samba import SambaDC

pytestmark = pytest.mark.samba

TENANT = str(uuid.uuid4())
AGENT = str(uuid.uuid4())
NEW_PASSWORD = "Wr1te!Back-Test-7"


class Agent:
    """A Writeback as the agent builds it, on the real directory."""

    def __init__(self, tmp_path: Path, directory: ActiveDirectory) -> None:
        self.key = generate_private_key()
        self.package_key = PackageKey.generate()
        self.events_path = tmp_path / "events.jsonl"
        self.events = EventLog(self.events_path)
        self.journal = Journal(tmp_path / "journal.db")
        self.writeback = Writeback(
            tenant_id=TENANT,
            agent_id=AGENT,
            agent_key=self.key,
            package_keys={self.package_key.key_id: self.package_key},
            directory=directory,
            journal=self.journal,
            events=self.events,
        )

    def admin_reset(self, anchor: bytes, password: str) -> Result:
        now = int(time.time())
        meta = Metadata(
            tenant_id=TENANT,
            agent_id=AGENT,
            request_id=str(uuid.uuid4()),
            operation=Operation.ADMIN_RESET,
            anchor=anchor,
            issued_at=now,
            expires_at=now + 300,
            unlock=True,
        )
        envelope = seal(
            meta, [password], agent_key=self.key.public_key(), package_key=self.package_key
        )
        result = self.writeback.handle(envelope)
        assert result is not None
        return result

    def log(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.events_path.read_text().splitlines()]

    def close(self) -> None:
        self.journal.close()
        self.events.close()


@pytest.fixture
def agent(tmp_path: Path, samba_dc: SambaDC) -> Iterator[Agent]:
    directory = ActiveDirectory(
        ADSettings(
            ldap_url=samba_dc.ldaps_url,
            bind_dn=samba_dc.service_dn,
            bind_password=samba_dc.service_password,
            ca_file=samba_dc.ca_file,
            tls_server_name=samba_dc.tls_name,
            search_base=samba_dc.domain_dn,  # the built-in accounts are under it
        )
    )
    a = Agent(tmp_path, directory)
    yield a
    a.close()
    directory.close()


def assert_refused(agent: Agent, dc: SambaDC, dn: str, password: str, reason: str) -> None:
    before = dc.read(dn, "pwdLastSet")["pwdLastSet"]
    result = agent.admin_reset(dc.object_guid(dn), NEW_PASSWORD)
    assert (result.outcome, result.detail, result.event_id) == (
        Outcome.PROTECTED,
        {"reason": reason},
        31011,
    )
    assert dc.read(dn, "pwdLastSet")["pwdLastSet"] == before
    assert dc.can_bind(dn, password)
    fail = agent.log()[-1]
    assert (fail["id"], fail["reason"], fail["protection"]) == (31011, "protected", reason)
    assert NEW_PASSWORD not in agent.events_path.read_text()


def test_the_service_account_is_refused_without_writing(agent: Agent, samba_dc: SambaDC) -> None:
    assert_refused(
        agent, samba_dc, samba_dc.service_dn, samba_dc.service_password, "service-account"
    )


def test_a_critical_system_account_is_refused_without_writing(
    agent: Agent, samba_dc: SambaDC
) -> None:
    assert_refused(
        agent, samba_dc, samba_dc.admin_dn, samba_dc.admin_password, "critical-system-object"
    )


def test_an_admin_count_account_is_refused_without_writing(agent: Agent, samba_dc: SambaDC) -> None:
    user = samba_dc.create_user()
    admin = samba_dc.admin()
    assert admin.modify(user.dn, {"adminCount": [(ldap3.MODIFY_REPLACE, ["1"])]}), admin.result
    assert_refused(agent, samba_dc, user.dn, user.password, "protected-group")


def test_an_ordinary_user_is_written(agent: Agent, samba_dc: SambaDC) -> None:
    user = samba_dc.create_user()
    result = agent.admin_reset(user.object_guid, NEW_PASSWORD)
    assert (result.outcome, result.detail) == (Outcome.OK, {})
    assert samba_dc.can_bind(user.dn, NEW_PASSWORD)
