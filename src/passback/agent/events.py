"""The agent's event log (SPEC E3): JSON lines, one event per line, with the
seeds' event IDs and names so an operator who knows them finds their way.

An event names the request id and the anchor, never a password: ``emit``
takes only the fields below, and every value is a short scalar.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import logging
import os
import threading
from pathlib import Path
from typing import TextIO

log = logging.getLogger("passback.agent.events")

#: A value longer than this is cut: events are for people, not for payloads.
MAX_VALUE_LENGTH = 1000


class EventId(enum.IntEnum):
    PasswordResetStart = 31001
    PasswordResetSuccess = 31002
    PasswordResetFail = 31003
    OnboardingEventStart = 31004
    OnboardingEventSuccess = 31005
    ChangePasswordStart = 31006
    ChangePasswordSuccess = 31007
    ChangePasswordFail = 31008
    ResetUserPasswordByAdminStart = 31009
    ResetUserPasswordByAdminSuccess = 31010
    ResetUserPasswordByAdminFail = 31011
    WriteBackServiceStarted = 31015
    WriteBackServiceStopped = 31016
    AuthTokenSuccess = 31017
    KeyPairCreationSuccess = 31018
    # Not in the seeds' catalogue: Passback's own, numbered after it.
    VerifyPasswordStart = 31019
    VerifyPasswordSuccess = 31020
    VerifyPasswordFail = 31021
    UnlockAccountStart = 31022
    UnlockAccountSuccess = 31023
    UnlockAccountFail = 31024
    RequirePasswordChangeStart = 31025
    RequirePasswordChangeSuccess = 31026
    RequirePasswordChangeFail = 31027
    ReadAccountStart = 31028
    ReadAccountSuccess = 31029
    ReadAccountFail = 31030
    UnknownError = 32000
    ServiceBusError = 32002
    InputValidationError = 32003
    DecryptionError = 32004
    ConfigurationError = 32005
    OnBoardingConfigUpdateError = 32007
    ValidationError = 32008
    AuthTokenError = 32009
    CryptoError = 32010
    OnBoardingServiceError = 32011
    ServiceBusWarning = 32014
    ReportServiceHealthError = 32015
    ADUnKnownError = 33001
    ADUserNotFoundError = 33002
    ADMutliMatchError = 33003  # sic: the seeds' spelling, kept so searches match
    ADPermissionsError = 33004
    ADUserAccountDisabled = 33005
    ADUserAccountLockedOut = 33006
    ADUserIncorrectPassword = 33007
    ADPasswordPolicyError = 33008
    ADConfigurationError = 33009
    ADAccountNearLockout = 33010  # ours: a verify not tried, to keep clear of a lockout
    DuplicateAnchor = 80230402


class Level(enum.StrEnum):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


Value = str | int | bool | None


class EventLog:
    """Appends events to a file (and mirrors them to ``logging``). Thread-safe."""

    def __init__(self, path: Path | None = None, *, stream: TextIO | None = None) -> None:
        self._lock = threading.Lock()
        self._path = path
        self._stream = stream
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
            self._stream = os.fdopen(fd, "a", encoding="utf-8")

    def emit(
        self,
        event: EventId,
        message: str,
        *,
        level: Level = Level.INFO,
        request_id: str | None = None,
        anchor: str | None = None,
        **fields: Value,
    ) -> dict[str, Value]:
        record: dict[str, Value] = {
            "time": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
            "id": int(event),
            "name": event.name,
            "level": str(level),
            "message": _cut(message),
            "request_id": request_id,
            "anchor": anchor,
        }
        for key, value in fields.items():
            record[key] = _cut(value) if isinstance(value, str) else value
        line = json.dumps(record, ensure_ascii=False)
        with self._lock:
            if self._stream is not None:
                self._stream.write(line + "\n")
                self._stream.flush()
        log.log(_LOG_LEVELS[level], "%s %s %s", int(event), event.name, message)
        return record

    def close(self) -> None:
        with self._lock:
            if self._path is not None and self._stream is not None:
                self._stream.close()
                self._stream = None


_LOG_LEVELS = {Level.INFO: logging.INFO, Level.WARNING: logging.WARNING, Level.ERROR: logging.ERROR}


def _cut(value: str) -> str:
    return value if len(value) <= MAX_VALUE_LENGTH else value[:MAX_VALUE_LENGTH] + "…"
