"""The agent's answer to "which password rules apply to this user?" (W4)."""

from __future__ import annotations

from passback.agent.directory.base import (
    DirectoryCapabilities,
    DirectoryUnavailable,
    DirectoryUser,
    PasswordPolicy,
)
from passback.agent.rules import read_rules
from passback.protocol import anchors
from passback.protocol.messages import Rules, RulesRequest
from passback.protocol.outcomes import Outcome
from tests.support.directory import FakeDirectory

ANCHOR = bytes(range(16))
USER = DirectoryUser(
    dn="CN=alice,OU=Staff,DC=example,DC=test",
    anchor=ANCHOR,
    sam_account_name="alice",
    user_principal_name="alice@example.test",
    mail=None,
    enabled=True,
    locked=False,
    protection=None,
    password_stamp=1,
)


class PsoDirectory(FakeDirectory):
    def password_policy(self, user: DirectoryUser) -> PasswordPolicy:
        return PasswordPolicy("pso:admins", 14, True, 24, 86400, 0)


def test_rules_of_the_user() -> None:
    rules = read_rules(PsoDirectory(USER), RulesRequest("r", anchors.encode(ANCHOR)))
    assert rules == Rules(
        "r",
        Outcome.OK,
        "pso:admins",
        14,
        True,
        24,
        86400,
        0,
        history_on_reset=False,
        max_length=256,
        policy_hints=False,
    )


class HintsDirectory(PsoDirectory):
    def capabilities(self) -> DirectoryCapabilities:
        return DirectoryCapabilities(
            history_on_reset=True, max_password_length=256, policy_hints=True, writes_to="dc1"
        )


def test_rules_carry_the_directorys_capabilities() -> None:
    """W4: whether a reset checks the history travels with the rules."""
    rules = read_rules(HintsDirectory(USER), RulesRequest("r", anchors.encode(ANCHOR)))
    assert (rules.history_on_reset, rules.max_length, rules.policy_hints) == (True, 256, True)


def test_capabilities_unreadable() -> None:
    class Down(PsoDirectory):
        def capabilities(self) -> DirectoryCapabilities:
            raise DirectoryUnavailable("LDAPS refused")

    rules = read_rules(Down(USER), RulesRequest("r", anchors.encode(ANCHOR)))
    assert rules == Rules("r", Outcome.DIRECTORY_UNAVAILABLE)


def test_unknown_user() -> None:
    rules = read_rules(FakeDirectory(), RulesRequest("r", anchors.encode(ANCHOR)))
    assert rules == Rules("r", Outcome.USER_NOT_FOUND)


def test_directory_down() -> None:
    directory = FakeDirectory(USER)
    directory.locate_error = DirectoryUnavailable("LDAPS refused")
    rules = read_rules(directory, RulesRequest("r", anchors.encode(ANCHOR)))
    assert rules.outcome is Outcome.DIRECTORY_UNAVAILABLE


def test_bad_anchor() -> None:
    rules = read_rules(FakeDirectory(USER), RulesRequest("r", "not base64!"))
    assert rules.outcome is Outcome.INVALID_REQUEST
