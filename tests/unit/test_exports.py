"""Pins the public surface that other parts and deployed agents depend on:
wire values (W1), close codes, event ids (E3), protocol and envelope versions.
A change here is a protocol change: update docs/reference/events.md and the server together."""

from __future__ import annotations

from passback.agent.events import EventId
from passback.crypto import envelope
from passback.protocol import messages
from passback.protocol.errors import CloseCode
from passback.protocol.operations import Operation
from passback.protocol.outcomes import Outcome


def test_outcome_values() -> None:
    assert [o.value for o in Outcome] == [
        "ok",
        "too_short",
        "not_complex",
        "in_history",
        "too_young",
        "too_long",
        "policy",
        "common_password",
        "user_not_found",
        "multiple_matches",
        "duplicate_anchor",
        "disabled",
        "locked",
        "protected",
        "wrong_password",
        "cannot_change",
        "must_change",
        "password_expired",
        "account_expired",
        "logon_hours",
        "workstation",
        "near_lockout",
        "access_denied",
        "invalid_request",
        "decrypt_failed",
        "expired",
        "replayed",
        "directory_unavailable",
        "service_unavailable",
        "outcome_unknown",
        "unknown",
    ]


def test_close_codes() -> None:
    assert {c.name: c.value for c in CloseCode} == {
        "NORMAL": 1000,
        "GOING_AWAY": 1001,
        "TOO_LARGE": 1009,
        "INTERNAL_ERROR": 1011,
        "UNSUPPORTED_VERSION": 4001,
        "BAD_FRAME": 4002,
        "AUTH_FAILED": 4004,
        "UNEXPECTED_MESSAGE": 4005,
        "REVOKED": 4006,
        "HANDSHAKE_TIMEOUT": 4008,
    }


def test_event_ids_required_by_the_spec() -> None:
    """E3/L1/L2: the seeds' catalogue, same ids."""
    required = (
        {31001, 31002, 31003, 31009, 31010, 31011, 31004, 31005}
        | {31015, 31016, 31017, 31018, 32002, 32004, 32009}
        | set(range(33001, 33009))
    )
    assert required <= {e.value for e in EventId}


def test_event_ids() -> None:
    assert {e.name: e.value for e in EventId} == {
        "PasswordResetStart": 31001,
        "PasswordResetSuccess": 31002,
        "PasswordResetFail": 31003,
        "OnboardingEventStart": 31004,
        "OnboardingEventSuccess": 31005,
        "ChangePasswordStart": 31006,
        "ChangePasswordSuccess": 31007,
        "ChangePasswordFail": 31008,
        "ResetUserPasswordByAdminStart": 31009,
        "ResetUserPasswordByAdminSuccess": 31010,
        "ResetUserPasswordByAdminFail": 31011,
        "WriteBackServiceStarted": 31015,
        "WriteBackServiceStopped": 31016,
        "AuthTokenSuccess": 31017,
        "KeyPairCreationSuccess": 31018,
        "VerifyPasswordStart": 31019,
        "VerifyPasswordSuccess": 31020,
        "VerifyPasswordFail": 31021,
        "UnlockAccountStart": 31022,
        "UnlockAccountSuccess": 31023,
        "UnlockAccountFail": 31024,
        "RequirePasswordChangeStart": 31025,
        "RequirePasswordChangeSuccess": 31026,
        "RequirePasswordChangeFail": 31027,
        "ReadAccountStart": 31028,
        "ReadAccountSuccess": 31029,
        "ReadAccountFail": 31030,
        "UnknownError": 32000,
        "ServiceBusError": 32002,
        "InputValidationError": 32003,
        "DecryptionError": 32004,
        "ConfigurationError": 32005,
        "OnBoardingConfigUpdateError": 32007,
        "ValidationError": 32008,
        "AuthTokenError": 32009,
        "CryptoError": 32010,
        "OnBoardingServiceError": 32011,
        "ServiceBusWarning": 32014,
        "ReportServiceHealthError": 32015,
        "ADUnKnownError": 33001,
        "ADUserNotFoundError": 33002,
        "ADMutliMatchError": 33003,
        "ADPermissionsError": 33004,
        "ADUserAccountDisabled": 33005,
        "ADUserAccountLockedOut": 33006,
        "ADUserIncorrectPassword": 33007,
        "ADPasswordPolicyError": 33008,
        "ADConfigurationError": 33009,
        "ADAccountNearLockout": 33010,
        "DuplicateAnchor": 80230402,
    }


def test_versions() -> None:
    assert messages.PROTOCOL_VERSION == 1
    assert envelope.VERSION == 1


def test_operation_codes() -> None:
    assert {op.value: op.code for op in Operation} == {
        "reset": 1,
        "admin_reset": 2,
        "change": 3,
        "verify": 4,
        "unlock": 5,
        "require_change": 6,
        "status": 7,
    }


def test_message_types() -> None:
    types = [
        messages.Hello,
        messages.Auth,
        messages.Ready,
        messages.Result,
        messages.Heartbeat,
        messages.SyncRequest,
        messages.SyncBatch,
    ]
    assert [t.type for t in types] == [
        "hello",
        "auth",
        "ready",
        "result",
        "heartbeat",
        "sync_request",
        "sync_batch",
    ]


def test_size_bounds() -> None:
    """S8: an operation frame is under 1 KB."""
    assert messages.MAX_OPERATION_FRAME == 1024
    assert messages.MAX_CONTROL_FRAME == 4 * 1024
    assert messages.MAX_SYNC_FRAME == 256 * 1024
    assert messages.MAX_SYNC_USERS == 500
