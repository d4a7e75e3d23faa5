"""The agent's writeback path (envelope → locate → refuse or write) on a real
Samba AD DC, without the server: what the agent itself refuses (W5), even for
an account the server should never have heard of."""

from __future__ import annotations

import datetime
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
from tests.support.samba import CANNOT_CHANGE_SDDL, SambaDC, TestUser

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

    def seal(
        self, operation: Operation, anchor: bytes, *secrets: str, unlock: bool = False
    ) -> bytes:
        now = int(time.time())
        meta = Metadata(
            tenant_id=TENANT,
            agent_id=AGENT,
            request_id=str(uuid.uuid4()),
            operation=operation,
            anchor=anchor,
            issued_at=now,
            expires_at=now + 300,
            unlock=unlock,
        )
        return seal(meta, secrets, agent_key=self.key.public_key(), package_key=self.package_key)

    def handle(self, envelope: bytes) -> Result:
        result = self.writeback.handle(envelope)
        assert result is not None
        return result

    def admin_reset(self, anchor: bytes, password: str) -> Result:
        return self.handle(self.seal(Operation.ADMIN_RESET, anchor, password, unlock=True))

    def change(self, user: TestUser, new: str, current: str | None = None) -> Result:
        current = user.password if current is None else current
        return self.handle(self.seal(Operation.CHANGE, user.object_guid, new, current))

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


# ---- change (W3) -------------------------------------------------------------


def test_change_writes_the_new_password_and_the_old_stops_binding(
    agent: Agent, samba_dc: SambaDC
) -> None:
    user = samba_dc.create_user()
    envelope = agent.seal(Operation.CHANGE, user.object_guid, NEW_PASSWORD, user.password)
    result = agent.handle(envelope)
    assert (result.outcome, result.event_id) == (Outcome.OK, 31007)
    assert samba_dc.can_bind(user.dn, NEW_PASSWORD)
    assert not samba_dc.can_bind(user.dn, user.password)
    # a retry of the same request answers from the journal, without a second change
    stamp = samba_dc.read(user.dn, "pwdLastSet")["pwdLastSet"]
    again = agent.handle(envelope)
    assert (again.outcome, again.replayed) == (Outcome.OK, True)
    assert samba_dc.read(user.dn, "pwdLastSet")["pwdLastSet"] == stamp
    assert [e["id"] for e in agent.log()] == [31006, 31007, 32003]
    assert user.password not in agent.events_path.read_text()


def test_change_with_a_wrong_current_password_33007(agent: Agent, samba_dc: SambaDC) -> None:
    user = samba_dc.create_user()
    result = agent.change(user, NEW_PASSWORD, current="Wrong!Passw0rd-9")
    assert (result.outcome, result.event_id) == (Outcome.WRONG_PASSWORD, 33007)
    assert [e["id"] for e in agent.log()] == [31006, 33007, 31008]
    assert samba_dc.can_bind(user.dn, user.password)
    # Samba 4.17 does not count it as a bad logon (measured): the portal's
    # attempt limits, not the lockout, are what stop guessing through a change
    assert samba_dc.read(user.dn, "badPwdCount")["badPwdCount"] == [b"0"]


def test_change_too_young_says_when_33008(agent: Agent, samba_dc: SambaDC) -> None:
    user = samba_dc.create_user()
    with samba_dc.domain_password_settings(minPwdAge=-864000000000):  # one day
        result = agent.change(user, NEW_PASSWORD)
    assert (result.outcome, result.event_id) == (Outcome.TOO_YOUNG, 33008)
    when = datetime.datetime.fromisoformat(str(result.detail["retry_after"]))
    left = when - datetime.datetime.now(datetime.UTC)
    assert datetime.timedelta(hours=23) < left <= datetime.timedelta(days=1)
    assert samba_dc.can_bind(user.dn, user.password)


def test_change_to_a_password_that_is_not_complex_33008(agent: Agent, samba_dc: SambaDC) -> None:
    user = samba_dc.create_user()
    result = agent.change(user, "alllowercaseletters")
    assert (result.outcome, result.event_id) == (Outcome.NOT_COMPLEX, 33008)
    assert agent.log()[-1]["id"] == 31008


def test_change_when_the_user_cannot_change_the_password(agent: Agent, samba_dc: SambaDC) -> None:
    user = samba_dc.create_user()
    samba_dc.samba_tool("dsacl", "set", f"--objectdn={user.dn}", f"--sddl={CANNOT_CHANGE_SDDL}")
    result = agent.change(user, NEW_PASSWORD)
    assert (result.outcome, result.event_id) == (Outcome.CANNOT_CHANGE, 33004)
    assert samba_dc.can_bind(user.dn, user.password)


def test_change_of_a_password_that_must_be_changed(agent: Agent, samba_dc: SambaDC) -> None:
    """The forced change of W3: the user cannot bind (773), the change still works."""
    user = samba_dc.create_user()
    admin = samba_dc.admin()
    assert admin.modify(user.dn, {"pwdLastSet": [(ldap3.MODIFY_REPLACE, ["0"])]}), admin.result
    assert not samba_dc.can_bind(user.dn, user.password)
    assert agent.change(user, NEW_PASSWORD).outcome is Outcome.OK
    assert samba_dc.can_bind(user.dn, NEW_PASSWORD)


# ---- verify (U4) -------------------------------------------------------------


def verify(agent: Agent, user: TestUser, password: str | None = None) -> Result:
    password = user.password if password is None else password
    return agent.handle(agent.seal(Operation.VERIFY, user.object_guid, password))


def test_verify_the_right_password(agent: Agent, samba_dc: SambaDC) -> None:
    user = samba_dc.create_user()
    stamp = samba_dc.read(user.dn, "pwdLastSet")["pwdLastSet"]
    result = verify(agent, user)
    assert (result.outcome, result.event_id) == (Outcome.OK, 31020)
    assert [e["id"] for e in agent.log()] == [31019, 31020]
    assert samba_dc.read(user.dn, "pwdLastSet")["pwdLastSet"] == stamp


def test_verify_a_wrong_password_counts_one_bad_logon(agent: Agent, samba_dc: SambaDC) -> None:
    user = samba_dc.create_user()
    envelope = agent.seal(Operation.VERIFY, user.object_guid, "Wrong!Passw0rd-1")
    result = agent.handle(envelope)
    assert (result.outcome, result.event_id) == (Outcome.WRONG_PASSWORD, 33007)
    assert agent.handle(envelope).replayed  # a retry does not bind again
    assert samba_dc.read(user.dn, "badPwdCount")["badPwdCount"] == [b"1"]


def test_verify_a_disabled_account(agent: Agent, samba_dc: SambaDC) -> None:
    user = samba_dc.create_user(disabled=True)
    result = verify(agent, user)
    assert (result.outcome, result.event_id) == (Outcome.DISABLED, 33005)


def test_verify_a_locked_account(agent: Agent, samba_dc: SambaDC) -> None:
    user = samba_dc.create_user()
    samba_dc.lock_out(user)
    result = verify(agent, user)
    assert (result.outcome, result.event_id) == (Outcome.LOCKED, 33006)


def test_verify_a_password_that_must_be_changed(agent: Agent, samba_dc: SambaDC) -> None:
    user = samba_dc.create_user()
    admin = samba_dc.admin()
    assert admin.modify(user.dn, {"pwdLastSet": [(ldap3.MODIFY_REPLACE, ["0"])]}), admin.result
    result = verify(agent, user)
    assert (result.outcome, result.event_id) == (Outcome.MUST_CHANGE, 31021)
    assert agent.log()[-1]["reason"] == "must_change"


@pytest.mark.parametrize(
    ("attribute", "value", "outcome"),
    [
        ("accountExpires", "116444736000000000", Outcome.ACCOUNT_EXPIRED),  # 1970
        ("logonHours", bytes(21), Outcome.LOGON_HOURS),  # no hour allowed
        ("userWorkstations", "NOWHERE", Outcome.WORKSTATION),
    ],
)
def test_verify_an_account_that_cannot_sign_in_now(
    agent: Agent, samba_dc: SambaDC, attribute: str, value: str | bytes, outcome: Outcome
) -> None:
    user = samba_dc.create_user()
    admin = samba_dc.admin()
    assert admin.modify(user.dn, {attribute: [(ldap3.MODIFY_REPLACE, [value])]}), admin.result
    assert verify(agent, user).outcome is outcome


# ---- unlock and require-change (W3: no password) ------------------------------


def account_write(agent: Agent, operation: Operation, anchor: bytes) -> Result:
    return agent.handle(agent.seal(operation, anchor))


def test_unlock_a_locked_out_account(agent: Agent, samba_dc: SambaDC) -> None:
    user = samba_dc.create_user()
    samba_dc.lock_out(user)
    stamp = samba_dc.read(user.dn, "pwdLastSet")["pwdLastSet"]
    result = account_write(agent, Operation.UNLOCK, user.object_guid)
    assert (result.outcome, result.event_id) == (Outcome.OK, 31023)
    assert [e["id"] for e in agent.log()] == [31022, 31023]
    assert not samba_dc.is_locked(user)
    assert samba_dc.read(user.dn, "pwdLastSet")["pwdLastSet"] == stamp
    assert samba_dc.can_bind(user.dn, user.password)  # the old password, untouched


def test_unlock_an_account_that_is_not_locked(agent: Agent, samba_dc: SambaDC) -> None:
    user = samba_dc.create_user()
    assert account_write(agent, Operation.UNLOCK, user.object_guid).outcome is Outcome.OK
    assert samba_dc.can_bind(user.dn, user.password)


def test_unlock_a_disabled_account_is_refused(agent: Agent, samba_dc: SambaDC) -> None:
    user = samba_dc.create_user(disabled=True)
    result = account_write(agent, Operation.UNLOCK, user.object_guid)
    assert (result.outcome, result.event_id) == (Outcome.DISABLED, 33005)


def test_require_change(agent: Agent, samba_dc: SambaDC) -> None:
    user = samba_dc.create_user()
    result = account_write(agent, Operation.REQUIRE_CHANGE, user.object_guid)
    assert (result.outcome, result.event_id) == (Outcome.OK, 31026)
    assert [e["id"] for e in agent.log()] == [31025, 31026]
    assert samba_dc.read(user.dn, "pwdLastSet")["pwdLastSet"] == [b"0"]
    assert verify(agent, user).outcome is Outcome.MUST_CHANGE  # the bind's data 773
    assert agent.change(user, NEW_PASSWORD).outcome is Outcome.OK


@pytest.mark.parametrize("operation", [Operation.UNLOCK, Operation.REQUIRE_CHANGE])
def test_account_writes_refuse_protected_accounts(
    agent: Agent, samba_dc: SambaDC, operation: Operation
) -> None:
    before = samba_dc.read(samba_dc.admin_dn, "pwdLastSet")["pwdLastSet"]
    result = account_write(agent, operation, samba_dc.object_guid(samba_dc.admin_dn))
    assert (result.outcome, result.detail) == (
        Outcome.PROTECTED,
        {"reason": "critical-system-object"},
    )
    assert samba_dc.read(samba_dc.admin_dn, "pwdLastSet")["pwdLastSet"] == before
    user = samba_dc.create_user(domain_admin=True)
    result = account_write(agent, operation, user.object_guid)
    assert (result.outcome, result.detail) == (Outcome.PROTECTED, {"reason": "protected-group"})


# ---- status read (the console's view of the account; nothing written) ---------


def status(agent: Agent, anchor: bytes) -> dict[str, int | str]:
    result = agent.handle(agent.seal(Operation.STATUS, anchor))
    assert (result.outcome, result.event_id) == (Outcome.OK, 31029), result
    return result.detail


def test_status_of_an_ordinary_account(agent: Agent, samba_dc: SambaDC) -> None:
    user = samba_dc.create_user()
    before = samba_dc.read(user.dn, "pwdLastSet", "lockoutTime")
    state = status(agent, user.object_guid)
    assert (state["enabled"], state["locked"], state["must_change"]) == (1, 0, 0)
    set_at = int(state["password_set_at"])
    assert abs(set_at - time.time()) < 600  # set when the test made the account
    assert "protection" not in state
    assert [e["id"] for e in agent.log()] == [31028, 31029]
    assert samba_dc.read(user.dn, "pwdLastSet", "lockoutTime") == before  # nothing written


def test_status_follows_lockout_and_unlock(agent: Agent, samba_dc: SambaDC) -> None:
    user = samba_dc.create_user()
    samba_dc.lock_out(user)
    assert status(agent, user.object_guid)["locked"] == 1
    assert account_write(agent, Operation.UNLOCK, user.object_guid).outcome is Outcome.OK
    assert status(agent, user.object_guid)["locked"] == 0


def test_status_of_an_account_that_must_change_its_password(
    agent: Agent, samba_dc: SambaDC
) -> None:
    user = samba_dc.create_user()
    assert account_write(agent, Operation.REQUIRE_CHANGE, user.object_guid).outcome is Outcome.OK
    state = status(agent, user.object_guid)
    assert (state["must_change"], state["password_set_at"]) == (1, 0)


def test_status_of_a_disabled_account(agent: Agent, samba_dc: SambaDC) -> None:
    user = samba_dc.create_user(disabled=True)
    assert status(agent, user.object_guid)["enabled"] == 0


def test_status_of_a_protected_account_is_read(agent: Agent, samba_dc: SambaDC) -> None:
    """W5 refuses writes; a read writes nothing, and says why a write would be refused."""
    user = samba_dc.create_user(domain_admin=True)
    assert status(agent, user.object_guid)["protection"] == "protected-group"


def test_status_of_an_unknown_anchor(agent: Agent) -> None:
    result = agent.handle(agent.seal(Operation.STATUS, uuid.uuid4().bytes))
    assert (result.outcome, result.event_id) == (Outcome.USER_NOT_FOUND, 33002)
    assert [e["id"] for e in agent.log()] == [31028, 33002, 31030]
