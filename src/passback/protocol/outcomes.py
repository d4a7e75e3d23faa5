"""The words every part uses for how a password operation ended (SPEC W1).

The agent decides the outcome; the relay carries it; the server turns it into
a message the user can act on. The raw text a directory returned never
travels: it stays in the agent's event log (SPEC E3).
"""

from __future__ import annotations

import enum


class Outcome(enum.StrEnum):
    """How one password operation ended."""

    OK = "ok"
    # The directory refused the password under its own policy (W4).
    TOO_SHORT = "too_short"
    NOT_COMPLEX = "not_complex"
    IN_HISTORY = "in_history"
    TOO_YOUNG = "too_young"
    TOO_LONG = "too_long"
    POLICY = "policy"  # a policy refusal the directory did not explain further
    # The server's own check, before the password leaves it: common or easily guessed.
    COMMON_PASSWORD = "common_password"  # noqa: S105 - a name, not a password
    # The account cannot take the operation.
    USER_NOT_FOUND = "user_not_found"
    MULTIPLE_MATCHES = "multiple_matches"
    DUPLICATE_ANCHOR = "duplicate_anchor"
    DISABLED = "disabled"
    LOCKED = "locked"
    PROTECTED = "protected"
    WRONG_PASSWORD = "wrong_password"  # noqa: S105 - a name, not a password
    # The account is set so that its user may not change the password
    # ("User cannot change password": a deny on the Change Password right).
    CANNOT_CHANGE = "cannot_change"
    # A verify (U4) with the right password, on an account that cannot sign in now.
    MUST_CHANGE = "must_change"  # the password must be changed at next logon
    PASSWORD_EXPIRED = "password_expired"  # noqa: S105 - a name, not a password
    ACCOUNT_EXPIRED = "account_expired"
    LOGON_HOURS = "logon_hours"  # outside the account's logon hours
    WORKSTATION = "workstation"  # the account may sign in only at named workstations
    # A verify (U4) not tried: a failed bind could bring the account within
    # reach of the directory's lockout, so the agent did not bind.
    NEAR_LOCKOUT = "near_lockout"
    ACCESS_DENIED = "access_denied"
    # Something on the way failed; the password was not written.
    INVALID_REQUEST = "invalid_request"
    DECRYPT_FAILED = "decrypt_failed"
    EXPIRED = "expired"
    REPLAYED = "replayed"
    DIRECTORY_UNAVAILABLE = "directory_unavailable"
    SERVICE_UNAVAILABLE = "service_unavailable"
    # The agent went away after it received the request and before it answered:
    # the caller cannot know whether the password was written (retry with the
    # same request id to learn it).
    OUTCOME_UNKNOWN = "outcome_unknown"
    UNKNOWN = "unknown"

    @property
    def is_policy_refusal(self) -> bool:
        return self in _POLICY_REFUSALS

    @property
    def may_retry_same_request(self) -> bool:
        """Whether sending the very same request again can change the answer."""
        return self in _TRANSIENT


_POLICY_REFUSALS = frozenset(
    {
        Outcome.TOO_SHORT,
        Outcome.NOT_COMPLEX,
        Outcome.IN_HISTORY,
        Outcome.TOO_YOUNG,
        Outcome.TOO_LONG,
        Outcome.POLICY,
        Outcome.COMMON_PASSWORD,
    }
)

_TRANSIENT = frozenset(
    {
        Outcome.DIRECTORY_UNAVAILABLE,
        Outcome.SERVICE_UNAVAILABLE,
        Outcome.OUTCOME_UNKNOWN,
    }
)
