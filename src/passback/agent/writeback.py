"""One password operation, from sealed envelope to result (SPEC W8, agent half).

open the envelope (S2, S3, S5) → check the journal (replay / re-delivery) →
locate the account by anchor (W6) → refuse what must not be written (W5,
disabled, locked, too long) → write (W4: a reset by the service account, or a
change the directory checks against the current password, W3; or, with no
password at all, an unlock or a require-change by the service account) →
record and answer (W1). A status read stops after the account is located: it
answers the account's state and writes nothing.

Every step that ends the operation writes one event (E3) naming the request
id and the anchor; the password is never in one. Nothing here touches a
socket: ``handle`` takes the envelope's bytes and returns the ``Result``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import hmac
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence

from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from passback.agent.directory.base import (
    LOCKOUT_RESERVE,
    MAX_PASSWORD_UTF16_UNITS,
    CredentialsRefused,
    Directory,
    DirectoryError,
    DirectoryUser,
    Protection,
    utf16_units,
)
from passback.agent.events import EventId, EventLog, Level
from passback.agent.journal import Entry, Journal, Request
from passback.crypto.envelope import Metadata, open_envelope, read_metadata
from passback.crypto.errors import (
    EnvelopeError,
    Expired,
    LifetimeTooLong,
    Malformed,
    NotYetValid,
    WrongRecipient,
)
from passback.crypto.keys import PackageKey
from passback.protocol import anchors
from passback.protocol.messages import Result
from passback.protocol.operations import Operation
from passback.protocol.outcomes import Outcome

Clock = Callable[[], float]


@dataclasses.dataclass(frozen=True)
class _Events:
    start: EventId
    success: EventId
    fail: EventId


_EVENTS = {
    Operation.RESET: _Events(
        EventId.PasswordResetStart, EventId.PasswordResetSuccess, EventId.PasswordResetFail
    ),
    Operation.ADMIN_RESET: _Events(
        EventId.ResetUserPasswordByAdminStart,
        EventId.ResetUserPasswordByAdminSuccess,
        EventId.ResetUserPasswordByAdminFail,
    ),
    Operation.CHANGE: _Events(
        EventId.ChangePasswordStart, EventId.ChangePasswordSuccess, EventId.ChangePasswordFail
    ),
    Operation.VERIFY: _Events(
        EventId.VerifyPasswordStart, EventId.VerifyPasswordSuccess, EventId.VerifyPasswordFail
    ),
    Operation.UNLOCK: _Events(
        EventId.UnlockAccountStart, EventId.UnlockAccountSuccess, EventId.UnlockAccountFail
    ),
    Operation.REQUIRE_CHANGE: _Events(
        EventId.RequirePasswordChangeStart,
        EventId.RequirePasswordChangeSuccess,
        EventId.RequirePasswordChangeFail,
    ),
    Operation.STATUS: _Events(
        EventId.ReadAccountStart, EventId.ReadAccountSuccess, EventId.ReadAccountFail
    ),
}

_RESETS = frozenset({Operation.RESET, Operation.ADMIN_RESET})
#: Writes that carry no password and set an attribute to a fixed value: applying
#: one twice leaves the account as applying it once, so an unfinished earlier
#: delivery is simply applied again (no ``pwdLastSet`` check: an unlock does
#: not move it, and a require-change of an account that must already change
#: its password leaves it at 0).
_IDEMPOTENT_WRITES = frozenset({Operation.UNLOCK, Operation.REQUIRE_CHANGE})

#: The event that explains a refusal, next to the operation's Fail event. A
#: protected account has none of its own in the catalogue: the Fail event
#: carries the reason (EVENTS 31003: "…protected account"), and which kind of
#: protection in its ``protection`` field.
_CAUSE_EVENTS: Mapping[Outcome, EventId | None] = {
    Outcome.USER_NOT_FOUND: EventId.ADUserNotFoundError,
    Outcome.MULTIPLE_MATCHES: EventId.ADMutliMatchError,
    Outcome.DUPLICATE_ANCHOR: EventId.DuplicateAnchor,
    Outcome.ACCESS_DENIED: EventId.ADPermissionsError,
    Outcome.DISABLED: EventId.ADUserAccountDisabled,
    Outcome.LOCKED: EventId.ADUserAccountLockedOut,
    Outcome.WRONG_PASSWORD: EventId.ADUserIncorrectPassword,
    Outcome.CANNOT_CHANGE: EventId.ADPermissionsError,
    Outcome.TOO_SHORT: EventId.ADPasswordPolicyError,
    Outcome.NOT_COMPLEX: EventId.ADPasswordPolicyError,
    Outcome.IN_HISTORY: EventId.ADPasswordPolicyError,
    Outcome.TOO_YOUNG: EventId.ADPasswordPolicyError,
    Outcome.TOO_LONG: EventId.ADPasswordPolicyError,
    Outcome.POLICY: EventId.ADPasswordPolicyError,
    Outcome.PROTECTED: None,
    # A verify's account states have no event of their own: the Fail event
    # carries the reason.
    Outcome.MUST_CHANGE: None,
    Outcome.PASSWORD_EXPIRED: None,
    Outcome.ACCOUNT_EXPIRED: None,
    Outcome.LOGON_HOURS: None,
    Outcome.WORKSTATION: None,
    Outcome.NEAR_LOCKOUT: EventId.ADAccountNearLockout,
    Outcome.DIRECTORY_UNAVAILABLE: EventId.ADUnKnownError,
}


def refusal_before_write(user: DirectoryUser, password: str, *, unlock: bool) -> Outcome | None:
    """What the agent refuses without asking the directory. Samba would accept
    some of these where AD refuses or misbehaves, so the agent decides them."""
    if user.protected:
        return Outcome.PROTECTED  # W5: AdminSDHolder would undo the change anyway
    if not user.enabled:
        return Outcome.DISABLED  # AD resets a disabled account; nobody could use it
    if user.locked and not unlock:
        return Outcome.LOCKED  # a reset would leave the account locked
    if utf16_units(password) > MAX_PASSWORD_UTF16_UNITS:
        return Outcome.TOO_LONG
    return None


def refusal_before_account_write(user: DirectoryUser, operation: Operation) -> Outcome | None:
    """An unlock or a require-change: protected accounts as for a reset (W5;
    AdminSDHolder takes the service account's rights on them anyway). A
    disabled account is not unlocked, since nobody could sign in with it: the
    answer says what stands in the way. A require-change of a disabled
    account is allowed (an account prepared before it is enabled), and so
    is one of a locked account."""
    if user.protected:
        return Outcome.PROTECTED
    if operation is Operation.UNLOCK and not user.enabled:
        return Outcome.DISABLED
    return None


#: A verify's refusals that prove the password right: the account's state goes
#: with them, as with a success, for the portal's forced change.
_RIGHT_PASSWORD_STATES = frozenset({Outcome.MUST_CHANGE, Outcome.PASSWORD_EXPIRED})


def account_state(user: DirectoryUser) -> dict[str, int | str]:
    """What a verify tells of the account besides "right" (U4: the portal's "My
    account"): ``password_set_at`` and ``password_expires_at`` in Unix seconds
    (0: must change / never expires; absent: not known), ``locked`` 0 or 1.
    Only after the password proved right: never to someone who guessed a name."""
    state: dict[str, int | str] = {"locked": int(user.locked)}
    if user.password_set_at is not None:
        state["password_set_at"] = user.password_set_at
    state["password_expires_at"] = user.password_expires_at or 0
    return state


def status_of(user: DirectoryUser) -> dict[str, int | str]:
    """What a status read answers (the console's view of the account): 0 or 1
    for ``enabled``, ``locked`` and ``must_change``; ``password_set_at`` and
    ``password_expires_at`` as for :func:`account_state`; ``protection`` when
    writeback refuses the account (W5). A protected account is read like any
    other: reading writes nothing, and the administrator learns why a reset
    would be refused before trying one."""
    state = account_state(user)
    state["enabled"] = int(user.enabled)
    state["must_change"] = int(user.must_change)
    if user.protection is not None:
        state["protection"] = str(user.protection)
    return state


def refusal_before_verify(user: DirectoryUser) -> Outcome | None:
    """A verify writes nothing, so only the accounts the server never hears of
    are refused: a bind as the agent's own account or a built-in one would
    make the portal a way to guess their passwords. The account's state
    (disabled, locked, …) is the directory's answer to the bind."""
    if user.protection in (Protection.SERVICE_ACCOUNT, Protection.CRITICAL):
        return Outcome.PROTECTED
    return None


class KeyedLocks:
    """A lock per key, kept only while someone holds or waits for it."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, tuple[threading.Lock, int]] = {}

    @contextlib.contextmanager
    def held(self, key: str) -> Iterator[None]:
        with self._guard:
            lock, users = self._locks.get(key, (threading.Lock(), 0))
            self._locks[key] = (lock, users + 1)
        try:
            with lock:
                yield
        finally:
            with self._guard:
                users = self._locks[key][1] - 1
                if users:
                    self._locks[key] = (lock, users)
                else:
                    del self._locks[key]


class Writeback:
    def __init__(
        self,
        *,
        tenant_id: str,
        agent_id: str,
        agent_key: rsa.RSAPrivateKey,
        package_keys: Mapping[str, PackageKey],
        directory: Directory,
        journal: Journal,
        events: EventLog,
        clock: Clock = time.time,
    ) -> None:
        self._tenant_id = tenant_id
        self._agent_id = agent_id
        self._agent_key = agent_key
        # Keys the password's part of a request's digest; never leaves the agent.
        self._digest_key = hashlib.sha256(
            b"passback journal digest\0"
            + agent_key.private_bytes(Encoding.DER, PrivateFormat.PKCS8, NoEncryption())
        ).digest()
        self._package_keys = package_keys
        self._directory = directory
        self._journal = journal
        self._events = events
        self._clock = clock
        self._in_flight: dict[str, threading.Event] = {}
        self._in_flight_lock = threading.Lock()
        self.operations = 0
        self.failures = 0
        self._told_uncounted = False  # the warning that failed logons cannot be read
        self._verifying = KeyedLocks()

    def handle(self, envelope: bytes) -> Result | None:
        """Apply one sealed operation. ``None`` when the envelope is too broken
        to name its request id (nothing to answer; event 32003)."""
        try:
            unverified = read_metadata(envelope)
        except Malformed as exc:
            self._events.emit(
                EventId.InputValidationError, f"unreadable operation: {exc}", level=Level.ERROR
            )
            return None
        rid = unverified.request_id
        # One delivery at a time per request id; a copy waits for the slot, then
        # finds the outcome in the journal (or, if there is none, tries itself).
        while True:
            with self._in_flight_lock:
                running = self._in_flight.get(rid)
                if running is None:
                    mine = self._in_flight[rid] = threading.Event()
                    break
            running.wait()
        try:
            result = self._handle(envelope, unverified)
        finally:
            with self._in_flight_lock:
                del self._in_flight[rid]
            mine.set()
        self.operations += 1
        if result.outcome is not Outcome.OK:
            self.failures += 1
        return result

    def _handle(self, envelope: bytes, unverified: Metadata) -> Result:
        rid, anchor = unverified.request_id, anchors.encode(unverified.anchor)
        now = int(self._clock())
        try:
            opened = open_envelope(
                envelope, agent_key=self._agent_key, package_keys=self._package_keys, now=now
            )
            meta = opened.metadata
            if meta.tenant_id != self._tenant_id or meta.agent_id != self._agent_id:
                raise WrongRecipient("sealed for another tenant or agent")
        except EnvelopeError as exc:
            return self._refuse_envelope(exc, rid, anchor)
        if len(opened.secrets) != meta.operation.secrets:
            self._events.emit(
                EventId.InputValidationError,
                f"a {meta.operation} carries {meta.operation.secrets} password(s), "
                f"this one {len(opened.secrets)}: refused",
                level=Level.ERROR,
                request_id=rid,
                anchor=anchor,
                reason="secrets",
            )
            return Result(rid, Outcome.INVALID_REQUEST, event_id=EventId.InputValidationError)
        digest = self.request_digest(meta, opened.secrets)
        entry = self._journal.get(rid)
        if entry is not None and entry.digest != digest:
            self._events.emit(
                EventId.InputValidationError,
                "request id reused for a different operation or password: refused",
                level=Level.ERROR,
                request_id=rid,
                anchor=anchor,
                reason="replayed",
            )
            return Result(rid, Outcome.REPLAYED, event_id=EventId.InputValidationError)
        if entry is not None and entry.finished:
            assert entry.outcome is not None
            self._events.emit(
                EventId.InputValidationError,
                "request already handled: answered with its outcome, not applied again",
                level=Level.WARNING,
                request_id=rid,
                anchor=anchor,
                reason="replayed",
                outcome=str(entry.outcome),
            )
            return Result(rid, entry.outcome, entry.detail, entry.event_id, replayed=True)
        events = _EVENTS[meta.operation]
        if entry is None:
            self._events.emit(
                events.start, f"{meta.operation} received", request_id=rid, anchor=anchor
            )
        request = Request(rid, digest, anchor, str(meta.operation), now)
        if meta.operation is not Operation.VERIFY:
            return self._apply(meta, request, opened.secrets, events, entry)
        # Checks of one account one at a time: each reads the failed-logon
        # count the one before left, so parallel wrong passwords cannot
        # together pass the directory's lockout guard.
        with self._verifying.held(anchor):
            return self._apply(meta, request, opened.secrets, events, entry)

    def request_digest(self, meta: Metadata, secrets: Sequence[str]) -> str:
        """What makes two deliveries "the same request": tenant, request id,
        operation, anchor and the passwords (keyed, so the journal cannot be
        used to guess them) — not the times, key or agent: a retry is sealed
        afresh, maybe for another agent. The same request id with another
        password is another request, refused as a replay."""
        joined = "\0".join(secrets)  # one password: the password itself, as before
        secret = hmac.new(
            self._digest_key, joined.encode("utf-8", "surrogatepass"), hashlib.sha256
        ).hexdigest()
        parts = [meta.tenant_id, meta.request_id, str(meta.operation), meta.anchor.hex(), secret]
        return hashlib.sha256("\0".join(parts).encode()).hexdigest()

    def _apply(
        self,
        meta: Metadata,
        request: Request,
        secrets: Sequence[str],
        events: _Events,
        unfinished: Entry | None,
    ) -> Result:
        """``unfinished``: the journal's entry when an earlier delivery started
        this request and never finished it (the agent died, or the answer was lost)."""
        sent = False  # whether the write may have reached the directory
        # A check binds on a new connection, opened ahead (or while the account
        # is located); nothing is sent on it before the refusal checks below pass.
        opened = self._directory.open_for_verify() if meta.operation is Operation.VERIFY else None
        try:
            user = self._directory.locate(
                meta.anchor, failed_logons=meta.operation is Operation.VERIFY
            )
            if meta.operation is Operation.STATUS:
                return self._succeed(request, events, "account read", detail=status_of(user))
            if unfinished is not None and meta.must_change and unfinished.pwd_last_set_before == 0:
                # "Must change" writes pwdLastSet = 0, which it was already: the
                # stamp cannot tell whether the write happened, and writing again
                # could be refused as history. Say so; a new request settles it.
                return self._fail(
                    request,
                    events,
                    Outcome.OUTCOME_UNKNOWN,
                    {},
                    "a must-change reset of an account whose pwdLastSet was 0 stopped "
                    "mid-write: whether it was written cannot be read back",
                )
            if (
                unfinished is not None
                and meta.operation not in _IDEMPOTENT_WRITES
                and self._written_before_crash(unfinished, user)
            ):
                return self._succeed(request, events, "password found applied after a restart")
            password = secrets[0] if secrets else ""  # the new one, or the one to verify
            unlock = meta.unlock and meta.operation in _RESETS
            if meta.operation is Operation.VERIFY:
                refusal = refusal_before_verify(user)
            elif meta.operation in _IDEMPOTENT_WRITES:
                refusal = refusal_before_account_write(user, meta.operation)
            else:
                refusal = refusal_before_write(user, password, unlock=unlock)
            if refusal is not None:
                detail: dict[str, int | str] = {}
                why = f"refused before writing: {refusal}"
                if refusal is Outcome.PROTECTED and user.protection is not None:
                    detail = {"reason": str(user.protection)}
                    why = (
                        f"refused before writing: {user.sam_account_name} {user.protection.refusal}"
                    )
                return self._fail(request, events, refusal, detail, why)
            if meta.operation is Operation.VERIFY:
                self._tell_if_uncounted(user)
                # The owner's own browser keeps no reserve for the owner (U4).
                reserve = 0 if meta.owner else LOCKOUT_RESERVE
                try:
                    self._directory.verify_password(user, password, opened, reserve=reserve)
                except CredentialsRefused as exc:
                    if exc.outcome in _RIGHT_PASSWORD_STATES:
                        exc.detail = {**account_state(user), **exc.detail}
                    raise
                return self._succeed(
                    request, events, "password verified", detail=account_state(user)
                )
            self._journal.before_write(request, user.password_stamp)
            sent = True
            if meta.operation is Operation.UNLOCK:
                self._directory.unlock(user)
                return self._succeed(request, events, "account unlocked (lockoutTime = 0)")
            if meta.operation is Operation.REQUIRE_CHANGE:
                self._directory.require_password_change(user)
                return self._succeed(
                    request, events, "password must be changed at next logon (pwdLastSet = 0)"
                )
            if meta.operation is Operation.CHANGE:
                self._directory.change_password(user, secrets[1], password)
            else:
                self._directory.reset_password(
                    user,
                    password,
                    unlock=unlock and user.locked,
                    must_change=meta.must_change and meta.operation is Operation.ADMIN_RESET,
                )
        except DirectoryError as exc:
            outcome = exc.outcome
            if outcome.may_retry_same_request and _may_be_written(unfinished):
                # An earlier delivery may have written it, and the directory could
                # not be asked: the answer stays "unknown", never "not written".
                outcome = Outcome.OUTCOME_UNKNOWN
            return self._fail(
                request, events, outcome, exc.detail, str(exc), server_message=exc.server_message
            )
        except Exception as exc:  # noqa: BLE001 - the caller must get an answer
            # After the write went out, nobody knows whether it landed: say so,
            # and leave the journal entry open for the pwdLastSet check.
            outcome = Outcome.OUTCOME_UNKNOWN if sent else Outcome.UNKNOWN
            self._events.emit(
                EventId.UnknownError,
                f"unexpected {type(exc).__name__}"
                + ("; the password may or may not have been written" if sent else ""),
                level=Level.ERROR,
                request_id=request.request_id,
                anchor=request.anchor,
            )
            return self._finish(request, outcome, {}, EventId.UnknownError)
        finally:
            if opened is not None:
                opened.close()  # not bound on (a refusal, an error): closed unused
        return self._succeed(request, events, "password written")

    def _tell_if_uncounted(self, user: DirectoryUser) -> None:
        """Once per run: the directory does not show the account's failed
        logons, so a verify cannot keep clear of its lockout (it binds all the
        same, as a workstation logon would)."""
        if user.bad_password_count is not None or self._told_uncounted:
            return
        self._told_uncounted = True
        self._events.emit(
            EventId.ADConfigurationError,
            f"cannot read the failed logons of {user.sam_account_name} (AD badPwdCount): "
            "portal sign-ins cannot keep clear of the directory's lockout; grant the service "
            "account Read Property on Logon Information for user objects",
            level=Level.WARNING,
        )

    def _written_before_crash(self, entry: Entry, user: DirectoryUser) -> bool:
        """A request started but never finished (see module doc): did its write
        happen? ``pwdLastSet`` is read where writes go, the PDC emulator (W7):
        another DC may not have the write replicated yet."""
        if entry.pwd_last_set_before is None:
            return False  # it stopped before writing
        return self._directory.password_stamp(user) != entry.pwd_last_set_before

    def _succeed(
        self,
        request: Request,
        events: _Events,
        message: str,
        *,
        detail: dict[str, int | str] | None = None,
    ) -> Result:
        self._events.emit(
            events.success, message, request_id=request.request_id, anchor=request.anchor
        )
        return self._finish(request, Outcome.OK, detail or {}, events.success)

    def _fail(
        self,
        request: Request,
        events: _Events,
        outcome: Outcome,
        detail: dict[str, int | str],
        message: str,
        *,
        server_message: str | None = None,
    ) -> Result:
        rid, anchor = request.request_id, request.anchor
        cause = _CAUSE_EVENTS.get(outcome, EventId.ADUnKnownError)
        if cause is not None:
            self._events.emit(
                cause,
                message,
                level=Level.ERROR,
                request_id=rid,
                anchor=anchor,
                outcome=str(outcome),
                server_message=server_message,
            )
        protection = detail.get("reason") if outcome is Outcome.PROTECTED else None
        self._events.emit(
            events.fail,
            f"refused: {outcome}" if cause is not None else f"refused: {outcome}: {message}",
            level=Level.ERROR,
            request_id=rid,
            anchor=anchor,
            reason=str(outcome),
            **({"protection": protection} if protection is not None else {}),
        )
        return self._finish(request, outcome, detail, cause or events.fail)

    def _finish(
        self, request: Request, outcome: Outcome, detail: dict[str, int | str], event: EventId
    ) -> Result:
        if not outcome.may_retry_same_request:
            self._journal.finish(request, outcome, detail, int(event), int(self._clock()))
        else:
            # The entry stays open: a retry asks the directory again (and
            # pwdLastSet tells whether a write that lost its answer happened).
            self._journal.start(request)
        return Result(request.request_id, outcome, detail, int(event))

    def _refuse_envelope(self, exc: EnvelopeError, rid: str, anchor: str) -> Result:
        if isinstance(exc, Expired | NotYetValid):  # outside its time window: clocks
            event, outcome = EventId.InputValidationError, Outcome.EXPIRED
        elif isinstance(exc, LifetimeTooLong):
            event, outcome = EventId.InputValidationError, Outcome.INVALID_REQUEST
        else:
            event, outcome = EventId.DecryptionError, Outcome.DECRYPT_FAILED
        self._events.emit(
            event,
            f"operation refused: {exc}",
            level=Level.ERROR,
            request_id=rid,
            anchor=anchor,
            reason=exc.reason,
        )
        return Result(rid, outcome, event_id=int(event))


def _may_be_written(unfinished: Entry | None) -> bool:
    """Whether an unfinished earlier delivery got as far as writing."""
    return unfinished is not None and unfinished.pwd_last_set_before is not None
