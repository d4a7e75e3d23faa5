"""passback.agent.writeback: one sealed operation, from envelope to result
(W1, W4, W5, W6, S2, S3, S5, S7, E3)."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from passback.agent.directory.base import (
    LOCKOUT_RESERVE,
    CredentialsRefused,
    DirectoryUnavailable,
    DirectoryUser,
    DuplicateAnchor,
    MultipleMatches,
    PasswordRefused,
    Protection,
    UserNotFound,
)
from passback.agent.events import EventId, EventLog
from passback.agent.journal import Journal, Request
from passback.agent.writeback import (
    Writeback,
    refusal_before_account_write,
    refusal_before_verify,
    refusal_before_write,
    status_of,
)
from passback.crypto.envelope import (
    MAX_CLOCK_SKEW,
    MAX_LIFETIME,
    Metadata,
    read_metadata,
    seal,
)
from passback.crypto.keys import PackageKey
from passback.protocol.anchors import encode as anchor_text
from passback.protocol.messages import Result, decode, encode
from passback.protocol.operations import Operation
from passback.protocol.outcomes import Outcome
from tests.support.directory import FakeDirectory

NOW = 1_700_000_000
TTL = 300
TENANT = str(uuid.UUID(int=0x7E))
AGENT = str(uuid.UUID(int=0xA6))
ANCHOR = bytes.fromhex("00112233445566778899aabbccddeeff")
OTHER_ANCHOR = bytes.fromhex("ffeeddccbbaa99887766554433221100")
PWD_LAST_SET = 133_000_000_000_000_000


def make_user(anchor: bytes = ANCHOR, **changes: Any) -> DirectoryUser:
    user = DirectoryUser(
        dn="CN=Alice,OU=Passback Users,DC=example,DC=test",
        anchor=anchor,
        sam_account_name="alice",
        user_principal_name="alice@example.test",
        mail="alice@example.test",
        enabled=True,
        locked=False,
        protection=None,
        password_stamp=PWD_LAST_SET,
    )
    return dataclasses.replace(user, **changes)


class Env:
    """A Writeback on a real journal and event log in a temporary folder."""

    def __init__(self, tmp_path: Path, agent_key: rsa.RSAPrivateKey) -> None:
        self.tmp_path = tmp_path
        self.agent_key = agent_key
        self.package_key = PackageKey.generate()
        self.directory = FakeDirectory(make_user(), make_user(OTHER_ANCHOR, sam_account_name="bob"))
        self.passwords: list[str] = []
        self.journal_path = tmp_path / "state" / "journal.db"
        self.events_path = tmp_path / "events.jsonl"
        self.events = EventLog(self.events_path)
        self.journal = Journal(self.journal_path)
        self.writeback = self.new_writeback()

    def new_writeback(self) -> Writeback:
        return Writeback(
            tenant_id=TENANT,
            agent_id=AGENT,
            agent_key=self.agent_key,
            package_keys={self.package_key.key_id: self.package_key},
            directory=self.directory,
            journal=self.journal,
            events=self.events,
            clock=lambda: NOW + 0.5,
        )

    def restart(self) -> None:
        """The agent process starts again on the same state folder."""
        self.journal.close()
        self.journal = Journal(self.journal_path)
        self.writeback = self.new_writeback()

    def seal(
        self,
        password: str | None,
        *,
        request_id: str | None = None,
        operation: Operation = Operation.ADMIN_RESET,
        anchor: bytes = ANCHOR,
        unlock: bool = False,
        must_change: bool = False,
        owner: bool = False,
        issued_at: int = NOW,
        expires_at: int | None = None,
        tenant_id: str = TENANT,
        agent_id: str = AGENT,
        agent_key: rsa.RSAPublicKey | None = None,
        package_key: PackageKey | None = None,
        current: str | None = None,
    ) -> bytes:
        """``current``: the current password, second secret of a change;
        ``password`` None: no secret (an unlock, a require-change)."""
        secrets = [] if password is None else [password] if current is None else [password, current]
        self.passwords.extend(secrets)
        meta = Metadata(
            tenant_id=tenant_id,
            agent_id=agent_id,
            request_id=request_id or str(uuid.uuid4()),
            operation=operation,
            anchor=anchor,
            issued_at=issued_at,
            expires_at=issued_at + TTL if expires_at is None else expires_at,
            unlock=unlock,
            must_change=must_change,
            owner=owner,
        )
        return seal(
            meta,
            secrets,
            agent_key=agent_key or self.agent_key.public_key(),
            package_key=package_key or self.package_key,
        )

    def handle(self, envelope: bytes) -> Result:
        result = self.writeback.handle(envelope)
        assert result is not None
        assert decode(encode(result)) == result  # every answer travels
        return result

    def log(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.events_path.read_text("utf-8").splitlines()]

    def ids(self) -> list[int]:
        return [e["id"] for e in self.log()]

    def close(self) -> None:
        self.journal.close()
        self.events.close()

    def files_on_disk(self) -> bytes:
        return b"".join(p.read_bytes() for p in self.tmp_path.rglob("*") if p.is_file())


@pytest.fixture
def env(tmp_path: Path, agent_key: rsa.RSAPrivateKey) -> Iterator[Env]:
    """S7 after every test: no password sealed in it is in any file it left."""
    e = Env(tmp_path, agent_key)
    yield e
    e.close()
    on_disk = e.files_on_disk()
    for password in e.passwords:
        for encoding in ("utf-8", "utf-16-le"):
            assert password.encode(encoding) not in on_disk, f"S7: a password on disk ({encoding})"
        assert json.dumps(password)[1:-1].encode() not in on_disk


def password(n: int = 0) -> str:
    return f"S7-Marker-{n}-Pässwörd!"


def rid() -> str:
    return str(uuid.uuid4())


# ---- success ---------------------------------------------------------------


def test_admin_reset_success(env: Env) -> None:
    """W1: the result names the outcome and the event that records it (E3)."""
    request_id = rid()
    result = env.handle(env.seal(password(), request_id=request_id))
    assert result == Result(request_id, Outcome.OK, {}, 31010)
    assert env.directory.resets == [(ANCHOR, password(), False)]
    assert env.directory.failed_logons_read == [False]  # a reset need not pay for it
    log = env.log()
    assert [e["id"] for e in log] == [31009, 31010]
    for event in log:
        assert event["request_id"] == request_id
        assert event["anchor"] == anchor_text(ANCHOR) == "ABEiM0RVZneImaq7zN3u_w"
    assert log[0]["name"] == "ResetUserPasswordByAdminStart"
    assert log[1]["name"] == "ResetUserPasswordByAdminSuccess"
    entry = env.journal.get(request_id)
    assert entry is not None and entry.outcome is Outcome.OK and entry.event_id == 31010
    assert entry.pwd_last_set_before == PWD_LAST_SET
    assert (env.writeback.operations, env.writeback.failures) == (1, 0)


def test_change_success(env: Env) -> None:
    """W3: the new password first, the current one second; events 31006/31007."""
    request_id = rid()
    envelope = env.seal(
        password(1), current=password(2), operation=Operation.CHANGE, request_id=request_id
    )
    assert env.handle(envelope) == Result(request_id, Outcome.OK, {}, 31007)
    assert env.directory.changes == [(ANCHOR, password(2), password(1))]
    assert env.directory.resets == []
    assert env.ids() == [31006, 31007]
    assert [e["name"] for e in env.log()] == ["ChangePasswordStart", "ChangePasswordSuccess"]


def test_change_retry_answers_from_the_journal(env: Env) -> None:
    envelope = env.seal(password(1), current=password(2), operation=Operation.CHANGE)
    first = env.handle(envelope)
    again = env.handle(envelope)
    assert (again.outcome, again.replayed) == (first.outcome, True)
    assert len(env.directory.changes) == 1


def test_change_with_another_current_password_is_another_request(env: Env) -> None:
    request_id = rid()
    env.handle(
        env.seal(
            password(1), current=password(2), operation=Operation.CHANGE, request_id=request_id
        )
    )
    other = env.seal(
        password(1), current=password(3), operation=Operation.CHANGE, request_id=request_id
    )
    assert env.handle(other).outcome is Outcome.REPLAYED


@pytest.mark.parametrize(
    ("outcome", "detail", "cause"),
    [
        (Outcome.WRONG_PASSWORD, {}, 33007),
        (Outcome.CANNOT_CHANGE, {}, 33004),
        (Outcome.TOO_YOUNG, {"retry_after": "2023-11-15T00:00:00+00:00"}, 33008),
    ],
)
def test_change_refused(env: Env, outcome: Outcome, detail: dict[str, Any], cause: int) -> None:
    env.directory.reset_error = PasswordRefused("refused", outcome=outcome, detail=detail)
    result = env.handle(env.seal(password(1), current=password(2), operation=Operation.CHANGE))
    assert (result.outcome, result.detail, result.event_id) == (outcome, detail, cause)
    assert env.ids() == [31006, cause, 31008]
    assert env.log()[-1]["reason"] == str(outcome)


def test_change_of_a_locked_account_is_refused_even_with_unlock(env: Env) -> None:
    """A change never unlocks: that is a reset's or an unlock's business."""
    env.directory.users[ANCHOR] = make_user(locked=True)
    envelope = env.seal(password(1), current=password(2), operation=Operation.CHANGE, unlock=True)
    assert env.handle(envelope).outcome is Outcome.LOCKED
    assert env.directory.changes == []


@pytest.mark.parametrize(
    ("operation", "count"), [(Operation.CHANGE, 1), (Operation.ADMIN_RESET, 2)]
)
def test_wrong_number_of_secrets_is_an_invalid_request(
    env: Env, operation: Operation, count: int
) -> None:
    envelope = env.seal(
        password(1), current=password(2) if count == 2 else None, operation=operation
    )
    result = env.handle(envelope)
    assert (result.outcome, result.event_id) == (Outcome.INVALID_REQUEST, 32003)
    assert env.log()[-1]["reason"] == "secrets"
    assert env.directory.changes == env.directory.resets == []


def test_verify_success(env: Env) -> None:
    """U4: a bind as the user; nothing written, events 31019/31020."""
    request_id = rid()
    set_at, expires_at = NOW - 86400, NOW + 41 * 86400
    env.directory.users[ANCHOR] = make_user(
        password_set_at=set_at, password_expires_at=expires_at, locked=True
    )
    result = env.handle(env.seal(password(), operation=Operation.VERIFY, request_id=request_id))
    # the account's state goes with "right", for the portal's My account
    state = {"locked": 1, "password_set_at": set_at, "password_expires_at": expires_at}
    assert result == Result(request_id, Outcome.OK, state, 31020)
    assert env.directory.verifies == [(ANCHOR, password())]
    assert env.directory.failed_logons_read == [True]  # for the lockout guard
    assert env.directory.reserves == [LOCKOUT_RESERVE]  # kept for the owner
    [opened] = env.directory.opened  # opened while the account was located, bound on
    assert opened.bound
    assert env.directory.resets == env.directory.changes == []
    assert env.ids() == [31019, 31020]
    entry = env.journal.get(request_id)
    assert entry is not None and entry.pwd_last_set_before is None


@pytest.mark.parametrize(
    ("outcome", "ids"),
    [
        (Outcome.WRONG_PASSWORD, [31019, 33007, 31021]),
        (Outcome.DISABLED, [31019, 33005, 31021]),
        (Outcome.LOCKED, [31019, 33006, 31021]),
        (Outcome.MUST_CHANGE, [31019, 31021]),
        (Outcome.PASSWORD_EXPIRED, [31019, 31021]),
        (Outcome.ACCOUNT_EXPIRED, [31019, 31021]),
        (Outcome.NEAR_LOCKOUT, [31019, 33010, 31021]),
    ],
)
def test_verify_refused(env: Env, outcome: Outcome, ids: list[int]) -> None:
    env.directory.verify_error = CredentialsRefused("refused", outcome=outcome)
    result = env.handle(env.seal(password(), operation=Operation.VERIFY))
    assert (result.outcome, result.event_id) == (outcome, ids[-2] if len(ids) == 3 else 31021)
    assert env.ids() == ids
    assert env.log()[-1]["reason"] == str(outcome)
    # only a refusal that proved the password right tells of the account
    right = outcome in (Outcome.MUST_CHANGE, Outcome.PASSWORD_EXPIRED)
    assert result.detail == ({"locked": 0, "password_expires_at": 0} if right else {})


def test_the_owners_browser_keeps_no_reserve(env: Env) -> None:
    """U4: a verify from the owner's own browser (the envelope's owner flag)
    keeps no failures back for the owner; any other keeps LOCKOUT_RESERVE."""
    env.handle(env.seal(password(), operation=Operation.VERIFY))
    env.handle(env.seal(password(), operation=Operation.VERIFY, owner=True))
    assert env.directory.reserves == [LOCKOUT_RESERVE, 0]


def test_checks_of_one_account_run_one_at_a_time(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    """Parallel verifies of one account bind one after the other, so each
    reads the failed-logon count the one before left (the lockout guard);
    another account's check does not wait for them."""
    inside, most, lock = [0], [0], threading.Lock()
    verify = env.directory.verify_password

    def slow(user: DirectoryUser, password: str, opened: Any = None, **kwargs: Any) -> None:
        with lock:
            inside[0] += 1
            most[0] = max(most[0], inside[0])
        time.sleep(0.05)
        with lock:
            inside[0] -= 1
        verify(user, password, opened, **kwargs)

    monkeypatch.setattr(env.directory, "verify_password", slow)
    envelopes = [env.seal(password(), operation=Operation.VERIFY) for _ in range(4)]
    threads = [threading.Thread(target=env.handle, args=(e,)) for e in envelopes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert most[0] == 1 and len(env.directory.verifies) == 4
    other = b"\x02" * 16
    env.directory.users[other] = make_user(other)
    with env.writeback._verifying.held(anchor_text(ANCHOR)):  # a check of ANCHOR running
        result = env.handle(env.seal(password(), operation=Operation.VERIFY, anchor=other))
    assert result.outcome is Outcome.OK


def test_failed_logons_the_directory_does_not_show_are_told_once(env: Env) -> None:
    """A verify cannot keep clear of the lockout when the account's failed
    logons cannot be read: it binds as before, and a warning (33009) names
    the right to grant, once per run."""
    env.directory.users[ANCHOR] = make_user(bad_password_count=None)
    for _ in range(2):
        result = env.handle(env.seal(password(), operation=Operation.VERIFY))
        assert result.outcome is Outcome.OK
    assert env.ids() == [31019, 33009, 31020, 31019, 31020]
    assert "Logon Information" in str(env.log()[1]["message"])


def test_verify_retry_does_not_bind_again(env: Env) -> None:
    """A wrong password counts once: the retry is answered from the journal."""
    env.directory.verify_error = CredentialsRefused("wrong", outcome=Outcome.WRONG_PASSWORD)
    envelope = env.seal(password(), operation=Operation.VERIFY)
    env.handle(envelope)
    again = env.handle(envelope)
    assert (again.outcome, again.replayed) == (Outcome.WRONG_PASSWORD, True)
    assert len(env.directory.verifies) == 1


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"protection": Protection.SERVICE_ACCOUNT}, Outcome.PROTECTED),
        ({"protection": Protection.CRITICAL}, Outcome.PROTECTED),
        ({"protection": Protection.PROTECTED_GROUP}, None),
        ({"enabled": False, "locked": True}, None),
    ],
)
def test_refusal_before_verify(changes: dict[str, Any], expected: Outcome | None) -> None:
    assert refusal_before_verify(make_user(**changes)) is expected


def test_verify_of_the_service_account_does_not_bind(env: Env) -> None:
    env.directory.users[ANCHOR] = make_user(protection=Protection.SERVICE_ACCOUNT)
    result = env.handle(env.seal(password(), operation=Operation.VERIFY))
    assert (result.outcome, result.detail) == (Outcome.PROTECTED, {"reason": "service-account"})
    assert env.directory.verifies == []
    [opened] = env.directory.opened
    assert (opened.bound, opened.closed) == (False, True)  # closed unused


def test_a_connection_opened_for_a_verify_is_closed_when_the_user_is_not_found(
    env: Env,
) -> None:
    result = env.handle(env.seal(password(), operation=Operation.VERIFY, anchor=b"\x42" * 16))
    assert result.outcome is Outcome.USER_NOT_FOUND
    [opened] = env.directory.opened
    assert (opened.bound, opened.closed) == (False, True)


def test_only_a_verify_opens_a_connection_of_its_own(env: Env) -> None:
    assert env.handle(env.seal(password())).outcome is Outcome.OK
    assert env.directory.opened == []


# ---- unlock and require-change (W3: no password) ------------------------------

ACCOUNT_WRITES = [
    (Operation.UNLOCK, "unlocks", [31022, 31023]),
    (Operation.REQUIRE_CHANGE, "require_changes", [31025, 31026]),
]


@pytest.mark.parametrize(("operation", "calls", "ids"), ACCOUNT_WRITES)
def test_account_write_success(env: Env, operation: Operation, calls: str, ids: list[int]) -> None:
    env.directory.users[ANCHOR] = make_user(locked=True)
    request_id = rid()
    result = env.handle(env.seal(None, operation=operation, request_id=request_id))
    assert result == Result(request_id, Outcome.OK, {}, ids[-1])
    assert getattr(env.directory, calls) == [ANCHOR]
    assert env.directory.resets == env.directory.changes == []
    assert env.ids() == ids
    again = env.handle(env.seal(None, operation=operation, request_id=request_id))
    assert (again.outcome, again.replayed) == (Outcome.OK, True)
    assert getattr(env.directory, calls) == [ANCHOR]  # answered from the journal


def test_unlock_writes_nothing_else(env: Env) -> None:
    env.directory.users[ANCHOR] = make_user(locked=True)
    env.handle(env.seal(None, operation=Operation.UNLOCK))
    user = env.directory.users[ANCHOR]
    assert (user.locked, user.password_stamp) == (False, PWD_LAST_SET)


@pytest.mark.parametrize(
    ("changes", "operation", "expected"),
    [
        ({"protection": Protection.SERVICE_ACCOUNT}, Operation.UNLOCK, Outcome.PROTECTED),
        ({"protection": Protection.CRITICAL}, Operation.REQUIRE_CHANGE, Outcome.PROTECTED),
        ({"protection": Protection.PROTECTED_GROUP}, Operation.UNLOCK, Outcome.PROTECTED),
        ({"enabled": False}, Operation.UNLOCK, Outcome.DISABLED),
        ({"enabled": False}, Operation.REQUIRE_CHANGE, None),
        ({"locked": True}, Operation.REQUIRE_CHANGE, None),
        ({"locked": False}, Operation.UNLOCK, None),
    ],
)
def test_refusal_before_account_write(
    changes: dict[str, Any], operation: Operation, expected: Outcome | None
) -> None:
    assert refusal_before_account_write(make_user(**changes), operation) is expected


@pytest.mark.parametrize(("operation", "calls", "ids"), ACCOUNT_WRITES)
def test_account_write_of_a_protected_account(
    env: Env, operation: Operation, calls: str, ids: list[int]
) -> None:
    env.directory.users[ANCHOR] = make_user(protection=Protection.PROTECTED_GROUP)
    result = env.handle(env.seal(None, operation=operation))
    assert (result.outcome, result.detail) == (Outcome.PROTECTED, {"reason": "protected-group"})
    assert getattr(env.directory, calls) == []
    assert env.ids() == [ids[0], ids[0] + 2]
    assert env.log()[-1]["protection"] == "protected-group"


def test_unlock_of_a_disabled_account(env: Env) -> None:
    env.directory.users[ANCHOR] = make_user(enabled=False, locked=True)
    result = env.handle(env.seal(None, operation=Operation.UNLOCK))
    assert (result.outcome, result.event_id) == (Outcome.DISABLED, 33005)
    assert env.directory.unlocks == []


@pytest.mark.parametrize(("operation", "calls", "ids"), ACCOUNT_WRITES)
def test_account_write_of_an_unknown_user(
    env: Env, operation: Operation, calls: str, ids: list[int]
) -> None:
    result = env.handle(env.seal(None, operation=operation, anchor=b"\x99" * 16))
    assert (result.outcome, result.event_id) == (Outcome.USER_NOT_FOUND, 33002)
    assert env.ids() == [ids[0], 33002, ids[0] + 2]


@pytest.mark.parametrize(("operation", "calls", "ids"), ACCOUNT_WRITES)
def test_account_write_retried_after_an_unknown_outcome_is_applied_again(
    env: Env, operation: Operation, calls: str, ids: list[int]
) -> None:
    """Idempotent: a write whose answer was lost is simply written again, without
    the pwdLastSet check a reset needs."""
    env.directory.reset_error = ConnectionResetError("lost")
    envelope = env.seal(None, operation=operation)
    assert env.handle(envelope).outcome is Outcome.OUTCOME_UNKNOWN
    env.directory.reset_error = None
    again = env.handle(envelope)
    assert (again.outcome, again.replayed, again.event_id) == (Outcome.OK, False, ids[-1])
    assert getattr(env.directory, calls) == [ANCHOR, ANCHOR]


def test_account_write_retry_that_cannot_reach_the_directory_stays_unknown(env: Env) -> None:
    env.directory.reset_error = ConnectionResetError("lost")
    envelope = env.seal(None, operation=Operation.UNLOCK)
    env.handle(envelope)
    env.directory.reset_error = DirectoryUnavailable("down")
    assert env.handle(envelope).outcome is Outcome.OUTCOME_UNKNOWN


# ---- status read (the console's view of the account) ----------------------------


def test_status_read(env: Env) -> None:
    """Nothing written, nothing opened: the located account's state, 31028/31029."""
    request_id = rid()
    set_at, expires_at = NOW - 86400, NOW + 41 * 86400
    env.directory.users[ANCHOR] = make_user(
        locked=True, password_set_at=set_at, password_expires_at=expires_at
    )
    result = env.handle(env.seal(None, operation=Operation.STATUS, request_id=request_id))
    state = {
        "enabled": 1,
        "locked": 1,
        "must_change": 0,
        "password_set_at": set_at,
        "password_expires_at": expires_at,
    }
    assert result == Result(request_id, Outcome.OK, state, 31029)
    assert env.ids() == [31028, 31029]
    directory = env.directory
    assert directory.resets == directory.changes == directory.unlocks == []
    assert directory.require_changes == directory.verifies == directory.opened == []
    entry = env.journal.get(request_id)  # as a verify: its answer, no write recorded
    assert entry is not None and entry.finished and entry.pwd_last_set_before is None


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({}, {"enabled": 1, "locked": 0, "must_change": 0, "password_expires_at": 0}),
        (
            {"enabled": False, "password_set_at": 0},
            {
                "enabled": 0,
                "locked": 0,
                "must_change": 1,
                "password_set_at": 0,
                "password_expires_at": 0,
            },
        ),
        (
            {"protection": Protection.PROTECTED_GROUP},
            {
                "enabled": 1,
                "locked": 0,
                "must_change": 0,
                "password_expires_at": 0,
                "protection": "protected-group",
            },
        ),
    ],
)
def test_status_of(changes: dict[str, Any], expected: dict[str, int | str]) -> None:
    """Must change is pwdLastSet = 0; a password set at an unknown time is not
    "must change"; a protected account is read, and says so (W5)."""
    assert status_of(make_user(**changes)) == expected


def test_status_read_of_a_protected_account(env: Env) -> None:
    env.directory.users[ANCHOR] = make_user(protection=Protection.PROTECTED_GROUP)
    result = env.handle(env.seal(None, operation=Operation.STATUS))
    assert (result.outcome, result.detail["protection"]) == (Outcome.OK, "protected-group")


@pytest.mark.parametrize(
    ("error", "outcome", "event"),
    [
        (UserNotFound("no object carries the anchor"), Outcome.USER_NOT_FOUND, 33002),
        (MultipleMatches("two enabled accounts"), Outcome.MULTIPLE_MATCHES, 33003),
        (DirectoryUnavailable("cannot reach dc1"), Outcome.DIRECTORY_UNAVAILABLE, 33001),
    ],
)
def test_status_read_that_fails(env: Env, error: Exception, outcome: Outcome, event: int) -> None:
    env.directory.locate_error = error
    result = env.handle(env.seal(None, operation=Operation.STATUS))
    assert (result.outcome, result.event_id, result.detail) == (outcome, event, {})
    assert env.ids() == [31028, event, 31030]


def test_self_service_reset_success(env: Env) -> None:
    result = env.handle(env.seal(password(), operation=Operation.RESET))
    assert result.outcome is Outcome.OK
    assert result.event_id == EventId.PasswordResetSuccess == 31002
    assert env.ids() == [31001, 31002]


# ---- refused before writing (W5 and the agent's own checks) ------------------


@pytest.mark.parametrize(
    ("changes", "outcome", "cause"),
    [
        ({"enabled": False}, Outcome.DISABLED, 33005),
        ({"locked": True}, Outcome.LOCKED, 33006),
    ],
)
def test_refused_before_writing(
    env: Env, changes: dict[str, bool], outcome: Outcome, cause: int
) -> None:
    """Disabled and locked accounts are refused before writing, with their event."""
    env.directory.users[ANCHOR] = make_user(**changes)
    request_id = rid()
    result = env.handle(env.seal(password(), request_id=request_id, operation=Operation.RESET))
    assert result == Result(request_id, outcome, {}, cause)
    assert env.directory.resets == []
    assert env.ids() == [31001, cause, 31003]
    assert env.log()[1]["outcome"] == str(outcome)
    assert (env.writeback.operations, env.writeback.failures) == (1, 1)
    entry = env.journal.get(request_id)
    assert entry is not None and entry.outcome is outcome
    assert entry.pwd_last_set_before is None


@pytest.mark.parametrize("protection", list(Protection))
@pytest.mark.parametrize("changes", [{}, {"enabled": False, "locked": True}])
def test_protected_account_is_refused_first(
    env: Env, protection: Protection, changes: dict[str, bool]
) -> None:
    """W5: a protected account is refused before anything else; the catalogue has
    no event of its own for it, so the Fail event (31003) carries the reason, and
    the kind of protection: the agent's own service account, a critical system
    account, or a protected group."""
    env.directory.users[ANCHOR] = make_user(protection=protection, **changes)
    request_id = rid()
    result = env.handle(env.seal(password(), request_id=request_id, operation=Operation.RESET))
    assert result == Result(request_id, Outcome.PROTECTED, {"reason": str(protection)}, 31003)
    assert env.directory.resets == []
    assert env.ids() == [31001, 31003]
    event = env.log()[1]
    assert (event["reason"], event["protection"]) == ("protected", str(protection))
    assert protection.refusal in event["message"]


def test_a_protected_refusal_from_the_directory_names_its_kind_too(env: Env) -> None:
    """Defence in depth: the directory adapter refuses it as well; the event
    and the result say which kind of protection either way."""
    env.directory.reset_error = PasswordRefused(
        "svc is the agent's own service account",
        outcome=Outcome.PROTECTED,
        detail={"reason": "service-account"},
    )
    result = env.handle(env.seal(password()))
    assert (result.outcome, result.detail) == (Outcome.PROTECTED, {"reason": "service-account"})
    assert env.log()[-1]["protection"] == "service-account"


def test_locked_with_unlock(env: Env) -> None:
    """W3: an unlock with reset clears the lockout in the same write."""
    env.directory.users[ANCHOR] = make_user(locked=True)
    result = env.handle(env.seal(password(), unlock=True))
    assert result.outcome is Outcome.OK
    assert env.directory.resets == [(ANCHOR, password(), True)]
    assert env.directory.users[ANCHOR].locked is False


def test_unlock_flag_on_an_account_that_is_not_locked(env: Env) -> None:
    assert env.handle(env.seal(password(), unlock=True)).outcome is Outcome.OK
    assert env.directory.resets == [(ANCHOR, password(), False)]


def test_too_long(env: Env) -> None:
    """AD takes 256 UTF-16 units; Samba takes more, so the agent refuses itself."""
    long = ("Long-S7!" * 40)[:257]
    result = env.handle(env.seal(long))
    assert result.outcome is Outcome.TOO_LONG
    assert result.event_id == 33008
    assert env.directory.resets == []


def test_longest_password_is_written(env: Env) -> None:
    longest = "😀" * 128  # 256 UTF-16 units
    assert env.handle(env.seal(longest)).outcome is Outcome.OK
    assert env.directory.resets[0][1] == longest


@pytest.mark.parametrize(
    ("password_text", "unlock", "changes", "expected"),
    [
        ("ok", False, {}, None),
        ("x" * 256, False, {}, None),
        ("x" * 257, False, {}, Outcome.TOO_LONG),
        ("😀" * 128, False, {}, None),
        ("😀" * 128 + "x", False, {}, Outcome.TOO_LONG),
        ("ok", False, {"locked": True}, Outcome.LOCKED),
        ("ok", True, {"locked": True}, None),
        ("x" * 300, True, {"locked": True}, Outcome.TOO_LONG),
        ("ok", True, {"enabled": False, "locked": True}, Outcome.DISABLED),
        ("ok", True, {"protection": Protection.PROTECTED_GROUP}, Outcome.PROTECTED),
        ("ok", True, {"protection": Protection.SERVICE_ACCOUNT}, Outcome.PROTECTED),
        ("ok", True, {"protection": Protection.CRITICAL}, Outcome.PROTECTED),
    ],
)
def test_refusal_before_write(
    password_text: str, unlock: bool, changes: dict[str, Any], expected: Outcome | None
) -> None:
    assert refusal_before_write(make_user(**changes), password_text, unlock=unlock) is expected


# ---- the directory says no --------------------------------------------------


def test_policy_refusal_carries_its_detail(env: Env) -> None:
    """W1/W4: the user learns why, with the numbers to act on."""
    env.directory.reset_error = PasswordRefused(
        "password too short",
        outcome=Outcome.TOO_SHORT,
        detail={"min_length": 12},
        server_message="0000052D: Constraint violation",
    )
    request_id = rid()
    result = env.handle(env.seal(password(), request_id=request_id))
    assert result == Result(request_id, Outcome.TOO_SHORT, {"min_length": 12}, 33008)
    assert env.ids() == [31009, 33008, 31011]
    cause = env.log()[1]
    assert cause["server_message"] == "0000052D: Constraint violation"
    assert cause["outcome"] == "too_short"
    assert cause["level"] == "error"


@pytest.mark.parametrize(
    ("error", "outcome", "event"),
    [
        (UserNotFound("no object carries the anchor"), Outcome.USER_NOT_FOUND, 33002),
        (MultipleMatches("two enabled accounts"), Outcome.MULTIPLE_MATCHES, 33003),
        (DuplicateAnchor("two objects"), Outcome.DUPLICATE_ANCHOR, 80230402),
    ],
)
def test_lookup_failures(env: Env, error: Exception, outcome: Outcome, event: int) -> None:
    """W6: the account is found by anchor or the operation fails, saying why."""
    env.directory.locate_error = error
    result = env.handle(env.seal(password()))
    assert (result.outcome, result.event_id) == (outcome, event)
    assert env.ids() == [31009, event, 31011]
    assert env.directory.resets == []


def test_user_not_found_from_the_fake_itself(env: Env) -> None:
    result = env.handle(env.seal(password(), anchor=b"\x42" * 16))
    assert result.outcome is Outcome.USER_NOT_FOUND


@pytest.mark.parametrize("where", ["locate", "reset"])
def test_directory_unavailable_is_not_final(env: Env, where: str) -> None:
    """A DC that could not be reached may be back for the retry: the journal
    does not keep the outcome, and the same request is applied then."""
    error = DirectoryUnavailable("cannot reach dc1")
    if where == "locate":
        env.directory.locate_error = error
    else:
        env.directory.reset_error = error
    request_id = rid()
    result = env.handle(env.seal(password(), request_id=request_id))
    assert result.outcome is Outcome.DIRECTORY_UNAVAILABLE
    assert result.event_id == 33001
    assert result.outcome.may_retry_same_request
    entry = env.journal.get(request_id)
    assert entry is not None and not entry.finished

    env.directory.locate_error = env.directory.reset_error = None
    again = env.handle(env.seal(password(), request_id=request_id))
    assert again == Result(request_id, Outcome.OK, {}, 31010)
    assert len(env.directory.resets) == (1 if where == "locate" else 2)
    assert env.ids().count(31009) == 1  # one start, however many deliveries


def test_unexpected_exception_during_the_write(env: Env) -> None:
    """The write went out and something unexpected broke: nobody knows whether
    it landed, so the caller hears "unknown" and the journal entry stays open
    for the pwdLastSet check on retry. The exception text (which may hold
    anything, even the password) is not logged, only its type (S7)."""
    secret = password(7)
    env.directory.reset_error = RuntimeError(f"driver echoed {secret}")
    request_id = rid()
    result = env.handle(env.seal(secret, request_id=request_id))
    assert result == Result(request_id, Outcome.OUTCOME_UNKNOWN, {}, 32000)
    event = env.log()[-1]
    assert event["id"] == 32000 and event["message"].startswith("unexpected RuntimeError")
    assert secret not in event["message"]
    entry = env.journal.get(request_id)
    assert entry is not None and entry.outcome is None


def test_unexpected_exception_before_the_write(env: Env) -> None:
    env.directory.locate_error = RuntimeError("parser broke")
    request_id = rid()
    result = env.handle(env.seal(password(), request_id=request_id))
    assert result == Result(request_id, Outcome.UNKNOWN, {}, 32000)
    assert env.directory.resets == []
    entry = env.journal.get(request_id)
    assert entry is not None and entry.outcome is Outcome.UNKNOWN


def test_same_request_id_with_another_password_is_refused(env: Env) -> None:
    """A retry must repeat the request exactly: with another password it is
    another request, and answering "ok" would claim a password the directory
    does not hold."""
    request_id = rid()
    first = env.handle(env.seal(password(1), request_id=request_id))
    assert first.outcome is Outcome.OK
    other = env.handle(env.seal(password(2), request_id=request_id))
    assert other.outcome is Outcome.REPLAYED
    assert [r[1] for r in env.directory.resets] == [password(1)]
    again = env.handle(env.seal(password(1), request_id=request_id))
    assert again.outcome is Outcome.OK and again.replayed


# ---- the envelope is refused (S2, S3, S5) -----------------------------------


def test_expired(env: Env) -> None:
    """S5: refused past its expiry, before anything else happens."""
    request_id = rid()
    result = env.handle(env.seal(password(), request_id=request_id, issued_at=NOW - TTL))
    assert result == Result(request_id, Outcome.EXPIRED, {}, 32003)
    (event,) = env.log()
    assert (event["id"], event["reason"], event["request_id"]) == (32003, "expired", request_id)
    assert event["anchor"] == anchor_text(ANCHOR)
    assert env.journal.get(request_id) is None
    assert env.directory.resets == []


def test_issued_in_the_future_is_refused_as_expired_with_its_own_reason(env: Env) -> None:
    """S5: issued more than MAX_CLOCK_SKEW ahead of the agent's clock; the
    outcome tells the caller to check the clocks, the event says which way."""
    request_id = rid()
    later = NOW + MAX_CLOCK_SKEW + 1
    result = env.handle(env.seal(password(), request_id=request_id, issued_at=later))
    assert result == Result(request_id, Outcome.EXPIRED, {}, 32003)
    (event,) = env.log()
    assert (event["id"], event["reason"], event["request_id"]) == (
        32003,
        "not-yet-valid",
        request_id,
    )
    assert env.journal.get(request_id) is None
    assert env.directory.resets == []


def test_lifetime_above_the_maximum_is_an_invalid_request(env: Env) -> None:
    request_id = rid()
    result = env.handle(
        env.seal(password(), request_id=request_id, expires_at=NOW + MAX_LIFETIME + 1)
    )
    assert result == Result(request_id, Outcome.INVALID_REQUEST, {}, 32003)
    (event,) = env.log()
    assert (event["id"], event["reason"]) == (32003, "lifetime-too-long")
    assert env.journal.get(request_id) is None
    assert env.directory.resets == []


def test_tampered(env: Env) -> None:
    data = bytearray(env.seal(password()))
    data[-5] ^= 0x01
    result = env.handle(bytes(data))
    assert (result.outcome, result.event_id) == (Outcome.DECRYPT_FAILED, 32004)
    (event,) = env.log()
    assert (event["id"], event["reason"]) == (32004, "integrity")
    assert env.directory.resets == []


def test_wrong_tenant_key(env: Env) -> None:
    """EVENTS 32004 "key mismatch": sealed under a package key the agent lacks."""
    result = env.handle(env.seal(password(), package_key=PackageKey.generate()))
    assert (result.outcome, result.event_id) == (Outcome.DECRYPT_FAILED, 32004)
    assert env.log()[0]["reason"] == "key-mismatch"


def test_wrong_agent_rsa_key(env: Env, other_agent_key: rsa.RSAPrivateKey) -> None:
    result = env.handle(env.seal(password(), agent_key=other_agent_key.public_key()))
    assert result.outcome is Outcome.DECRYPT_FAILED
    assert env.log()[0]["reason"] == "wrong-recipient"


@pytest.mark.parametrize("field", ["tenant_id", "agent_id"])
def test_sealed_for_another_agent_or_tenant(env: Env, field: str) -> None:
    """S3: right keys, but the header names someone else."""
    result = env.handle(env.seal(password(), **{field: str(uuid.uuid4())}))  # type: ignore[arg-type]
    assert (result.outcome, result.event_id) == (Outcome.DECRYPT_FAILED, 32004)
    assert env.log()[0]["reason"] == "wrong-recipient"
    assert env.directory.resets == []


@pytest.mark.parametrize("data", [b"", b"garbage", bytes(200), b"\x01" + b"\xff" * 100])
def test_garbage(env: Env, data: bytes) -> None:
    """Too broken to name a request id: nothing to answer, one event (32003)."""
    assert env.writeback.handle(data) is None
    (event,) = env.log()
    assert event["id"] == 32003 and event["level"] == "error"
    assert event["request_id"] is None
    assert env.writeback.operations == 0


# ---- replays and re-deliveries (S5) -----------------------------------------


def test_replay_answers_from_the_journal(env: Env) -> None:
    """A re-sealed copy of a finished request is answered, not applied again."""
    request_id = rid()
    first = env.handle(env.seal(password(), request_id=request_id))
    again = env.handle(env.seal(password(), request_id=request_id))
    assert again == dataclasses.replace(first, replayed=True)
    assert len(env.directory.resets) == 1
    event = env.log()[-1]
    assert (event["id"], event["reason"], event["outcome"]) == (32003, "replayed", "ok")
    assert event["level"] == "warning"


def test_replay_of_a_refusal_keeps_its_detail(env: Env) -> None:
    env.directory.reset_error = PasswordRefused(
        "short", outcome=Outcome.TOO_SHORT, detail={"min_length": 12}
    )
    request_id = rid()
    first = env.handle(env.seal(password(), request_id=request_id))
    env.directory.reset_error = None
    again = env.handle(env.seal(password(), request_id=request_id))
    assert again == dataclasses.replace(first, replayed=True)
    assert again.detail == {"min_length": 12}
    assert len(env.directory.resets) == 1


def test_same_envelope_twice(env: Env) -> None:
    envelope = env.seal(password())
    env.handle(envelope)
    assert env.handle(envelope).replayed
    assert len(env.directory.resets) == 1


def test_same_request_id_for_another_account(env: Env) -> None:
    request_id = rid()
    env.handle(env.seal(password(), request_id=request_id))
    result = env.handle(env.seal(password(1), request_id=request_id, anchor=OTHER_ANCHOR))
    assert result == Result(request_id, Outcome.REPLAYED, {}, 32003)
    assert [r[0] for r in env.directory.resets] == [ANCHOR]
    assert env.log()[-1]["reason"] == "replayed"


def test_same_request_id_for_another_operation(env: Env) -> None:
    request_id = rid()
    env.handle(env.seal(password(), request_id=request_id, operation=Operation.RESET))
    result = env.handle(env.seal(password(), request_id=request_id))
    assert result.outcome is Outcome.REPLAYED


# ---- crash recovery ----------------------------------------------------------


def _started(env: Env, request_id: str, before: int | None) -> None:
    """What the journal holds when the agent died during a request."""
    meta = read_metadata(env.seal(password(), request_id=request_id))
    digest = env.writeback.request_digest(meta, [password()])
    request = Request(request_id, digest, anchor_text(ANCHOR), "admin_reset", NOW)
    if before is not None:
        env.journal.before_write(request, before)
    else:  # as an earlier version left it, or a delivery the directory could not serve
        env.journal.start(request)
    env.restart()


def test_crash_after_the_write(env: Env) -> None:
    """pwdLastSet moved since just before the write: it happened; don't write again."""
    request_id = rid()
    _started(env, request_id, PWD_LAST_SET - 1)
    result = env.handle(env.seal(password(), request_id=request_id))
    assert result == Result(request_id, Outcome.OK, {}, 31010)
    assert not result.replayed
    assert env.directory.resets == []
    assert "after a restart" in env.log()[-1]["message"]


def test_a_must_change_reset_whose_stamp_cannot_move_stays_unknown(env: Env) -> None:
    """W3: "must change" writes pwdLastSet = 0; if it was 0 already, a restart
    cannot read back whether the write happened: unknown, not written again."""
    request_id = rid()
    current = env.directory.users[ANCHOR]
    env.directory.users[ANCHOR] = dataclasses.replace(current, password_stamp=0)
    sealed = env.seal(password(), request_id=request_id, must_change=True)
    digest = env.writeback.request_digest(read_metadata(sealed), [password()])
    request = Request(request_id, digest, anchor_text(ANCHOR), "admin_reset", NOW)
    env.journal.before_write(request, 0)
    env.restart()
    result = env.handle(sealed)
    assert result.outcome is Outcome.OUTCOME_UNKNOWN
    assert env.directory.resets == []


def test_a_must_change_reset_sets_the_stamp_to_zero(env: Env) -> None:
    result = env.handle(env.seal(password(), must_change=True))
    assert result.outcome is Outcome.OK
    assert env.directory.require_changes == [ANCHOR]
    assert env.directory.users[ANCHOR].password_stamp == 0


def test_crash_just_before_the_write(env: Env) -> None:
    request_id = rid()
    _started(env, request_id, PWD_LAST_SET)
    assert env.handle(env.seal(password(), request_id=request_id)).outcome is Outcome.OK
    assert len(env.directory.resets) == 1
    assert env.ids() == [31010]  # no second start event


def test_crash_before_reading_the_account(env: Env) -> None:
    request_id = rid()
    _started(env, request_id, None)
    assert env.handle(env.seal(password(), request_id=request_id)).outcome is Outcome.OK
    assert len(env.directory.resets) == 1


def test_in_doubt_while_the_directory_is_down_stays_unknown(env: Env) -> None:
    """Issue "Hardening" 6: an earlier delivery may have written the password, and
    the DC cannot be asked now: the answer is "outcome unknown", never the "not
    written" of directory_unavailable; once the DC is back, the journal settles it."""
    request_id = rid()
    _started(env, request_id, PWD_LAST_SET - 1)  # it was written before the crash
    env.directory.locate_error = DirectoryUnavailable("cannot reach dc1")
    result = env.handle(env.seal(password(), request_id=request_id))
    assert result.outcome is Outcome.OUTCOME_UNKNOWN
    entry = env.journal.get(request_id)
    assert entry is not None and not entry.finished
    env.directory.locate_error = None
    assert env.handle(env.seal(password(), request_id=request_id)).outcome is Outcome.OK
    assert env.directory.resets == []  # settled from pwdLastSet, not written again


def test_not_started_while_the_directory_is_down_is_not_written(env: Env) -> None:
    request_id = rid()
    _started(env, request_id, None)  # it stopped before reading the account
    env.directory.locate_error = DirectoryUnavailable("cannot reach dc1")
    result = env.handle(env.seal(password(), request_id=request_id))
    assert result.outcome is Outcome.DIRECTORY_UNAVAILABLE


class Crash(BaseException):
    """The process dies: nothing in the agent catches it."""


def test_real_crash_then_redelivery(env: Env) -> None:
    request_id = rid()
    envelope = env.seal(password(), request_id=request_id)
    env.directory.reset_error = Crash()
    with pytest.raises(Crash):
        env.writeback.handle(envelope)
    env.restart()
    env.directory.reset_error = None
    assert env.handle(envelope).outcome is Outcome.OK
    assert len(env.directory.resets) == 2  # the crashed call never reached the DC


# ---- concurrency -------------------------------------------------------------


def test_two_threads_deliver_the_same_request(env: Env) -> None:
    """L4/S5: a copy that arrives while the first is being applied waits for
    it and gets its outcome; the directory is written once."""
    entered, release = threading.Event(), threading.Event()

    def slow() -> None:
        entered.set()
        assert release.wait(5)

    env.directory.before_reset = slow
    request_id = rid()
    first, copy = (
        env.seal(password(), request_id=request_id),
        env.seal(password(), request_id=request_id),
    )
    results: dict[str, Result | None] = {}
    a = threading.Thread(target=lambda: results.update(a=env.writeback.handle(first)))
    b = threading.Thread(target=lambda: results.update(b=env.writeback.handle(copy)))
    a.start()
    assert entered.wait(5)
    b.start()
    time.sleep(0.05)
    assert b.is_alive()  # waiting for the first delivery
    release.set()
    a.join(5)
    b.join(5)
    assert len(env.directory.resets) == 1
    ra, rb = results["a"], results["b"]
    assert ra is not None and rb is not None
    assert ra.outcome is rb.outcome is Outcome.OK
    assert not ra.replayed and rb.replayed


def test_different_requests_do_not_wait_for_each_other(env: Env) -> None:
    entered, release = threading.Event(), threading.Event()
    calls = 0

    def slow_first() -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            entered.set()
            assert release.wait(5)

    env.directory.before_reset = slow_first
    results: list[Result | None] = []
    envelope = env.seal(password())
    a = threading.Thread(target=lambda: results.append(env.writeback.handle(envelope)))
    a.start()
    assert entered.wait(5)
    assert env.handle(env.seal(password(1), anchor=OTHER_ANCHOR)).outcome is Outcome.OK
    release.set()
    a.join(5)
    assert results[0] is not None and results[0].outcome is Outcome.OK


def test_waiting_copies_run_one_at_a_time(env: Env) -> None:
    entered, release = threading.Event(), threading.Event()
    active = max_active = 0
    counter = threading.Lock()

    def before_reset() -> None:
        nonlocal active, max_active
        if not entered.is_set():
            entered.set()
            assert release.wait(5)
            raise DirectoryUnavailable("dc1 went away")
        with counter:
            active += 1
            max_active = max(max_active, active)
        time.sleep(0.2)
        with counter:
            active -= 1

    env.directory.before_reset = before_reset
    request_id = rid()
    copies = [env.seal(password(), request_id=request_id) for _ in range(3)]
    threads = [threading.Thread(target=env.writeback.handle, args=(c,)) for c in copies]
    threads[0].start()
    assert entered.wait(5)
    for t in threads[1:]:
        t.start()
    time.sleep(0.2)  # both copies are waiting on the first delivery
    release.set()
    for t in threads:
        t.join(5)
    assert max_active == 1
    assert len(env.directory.resets) == 1  # the first failed before reaching it


# ---- S7 ---------------------------------------------------------------------


def test_no_password_in_the_event_log_after_every_path(
    env: Env, other_agent_key: rsa.RSAPrivateKey
) -> None:
    """S7: drive every path with distinct passwords; none is in the log or journal."""
    rids = [rid() for _ in range(4)]
    env.handle(env.seal(password(1), request_id=rids[0]))
    env.handle(env.seal(password(2), request_id=rids[0]))  # replay
    env.handle(env.seal(password(3), request_id=rids[0], anchor=OTHER_ANCHOR))  # reuse
    env.handle(env.seal(password(4), issued_at=NOW - TTL))  # expired
    env.handle(env.seal(password(5), agent_key=other_agent_key.public_key()))
    env.handle(env.seal(password(6), package_key=PackageKey.generate()))
    env.directory.reset_error = PasswordRefused(
        "refused", outcome=Outcome.IN_HISTORY, server_message="0000052D"
    )
    env.handle(env.seal(password(7)))
    env.directory.reset_error = DirectoryUnavailable("down")
    env.handle(env.seal(password(8)))
    env.directory.reset_error = ValueError(password(9))
    env.handle(env.seal(password(9)))
    env.directory.reset_error = None
    env.directory.users[ANCHOR] = make_user(protection=Protection.SERVICE_ACCOUNT)
    env.handle(env.seal(password(10)))
    env.handle(env.seal(("S7-too-long" * 30)[:257], anchor=OTHER_ANCHOR))
    text = env.events_path.read_text("utf-8")
    assert len(text.splitlines()) > 15
    for secret in env.passwords:
        assert secret not in text
        assert json.dumps(secret)[1:-1] not in text
