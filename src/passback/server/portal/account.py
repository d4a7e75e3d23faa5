"""Signing in to "My account" with the directory password, and changing it
(SPEC U4, W3, T2), as use-cases for the pages.

Sign-in asks the agent to check the password (one bind as the user, so a
wrong password counts once in the directory's own lockout, never more). A
password that is right but must be changed (773) or has expired (532) leads
to the forced change: the user typed it once, the session keeps it sealed
(``account_session``) and the change page asks only for the new one.

Throttles, each designed so that a stranger cannot use it against the
account's owner:

- per client address: ``signin_address_limit`` attempts per window (429);
- per account: ``MAX_ACCOUNT_FAILURES`` failed sign-ins per window from
  browsers the account never signed in from; past it, such browsers are
  told to wait (or reset the password by code) without the directory being
  asked: guessing stays bounded per account;
- per device: a browser the owner signed in from carries a device token
  (``Hasher.device_token``); its failures count on their own, so the owner's
  own browser keeps its way in while a stranger exhausts the account's count.

An unknown username and a wrong password get the same answer, counted the
same way, and take at least ``FAILURE_FLOOR`` seconds, so neither the words
nor the time tell whether an account exists (T2).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import functools
import json
import logging
import time
from collections.abc import AsyncIterator

from sqlalchemy import select

from passback.protocol.outcomes import Outcome
from passback.server import audit, entitlements, support, writeback
from passback.server.directory_users import MAX_USERNAME, canonical_name, users_named
from passback.server.errors import NotFound, Refused
from passback.server.i18n.translations import N_
from passback.server.portal import account_session as sessions
from passback.server.portal.codes import Hasher, flow_hash
from passback.server.portal.errors import PortalError, writeback_error
from passback.server.portal.notice_mail import Notice
from passback.server.portal.service import Ended, Portal, PortalTenant
from passback.server.ratelimit import address_key
from passback.server.rules import PasswordRules, rules_for, rules_from_json
from passback.server.store.models import AccountSession, DirectoryUser, utcnow
from passback.server.types import Clock, FailureCounter, RateLimiter

logger = logging.getLogger(__name__)

#: Failed sign-ins per account (from browsers it never signed in from), and
#: per device, within the counters' window.
MAX_ACCOUNT_FAILURES = 5
MAX_DEVICE_FAILURES = 5
#: Seconds a failed sign-in takes at least (T2: timing tells nothing).
FAILURE_FLOOR = 0.5

WRONG_CREDENTIALS = N_(
    "The username or password is not correct, or the account is locked (then unlock it "
    "with the link below)."
)
THROTTLED = N_(
    "Too many failed sign-ins for this account. Wait 15 minutes and try again, "
    "or reset your password."
)
CANNOT_CHECK = N_("Your password can't be checked right now. Try again in a few minutes.")
SESSION_ENDED = N_("You are not signed in, or your session has ended. Sign in again.")

#: Sign-in refusals with the password right, in the portal's words.
_SIGN_IN_REFUSALS = {
    Outcome.DISABLED: N_("Your account is disabled. Contact your administrator."),
    Outcome.ACCOUNT_EXPIRED: N_("Your account has expired. Contact your administrator."),
    Outcome.LOGON_HOURS: N_(
        "Your account may not sign in at this time of day. Try again during your "
        "allowed hours, or contact your administrator."
    ),
    Outcome.WORKSTATION: N_(
        "Your account may sign in only at certain computers. Contact your administrator."
    ),
}
#: Outcomes of a verify that tell nothing more than "wrong" to the user. A
#: locked account is among them: the directory says "locked" to any password,
#: so saying it would tell a stranger that the account exists (T2).
#: Verify answers told as a wrong password (T2): a stranger learns nothing
#: more. ``NEAR_LOCKOUT``: the agent did not bind, so that strangers' tries
#: cannot lock the account out in the directory.
_WRONG = frozenset(
    {
        Outcome.WRONG_PASSWORD,
        Outcome.PROTECTED,
        Outcome.USER_NOT_FOUND,
        Outcome.LOCKED,
        Outcome.NEAR_LOCKOUT,
    }
)
_FORCED = {
    Outcome.MUST_CHANGE: sessions.State.MUST_CHANGE,
    Outcome.PASSWORD_EXPIRED: sessions.State.PASSWORD_EXPIRED,
}
#: The audit log's activities of "My account" (E5), and what it records of a
#: username that matched nobody.
SIGN_IN = audit.Activity.SIGN_IN
CHANGE_PASSWORD = audit.Activity.CHANGE_PASSWORD
USER_NOT_FOUND = Outcome.USER_NOT_FOUND.value


@dataclasses.dataclass(frozen=True)
class SignedIn:
    token: str = dataclasses.field(repr=False)
    state: sessions.State
    #: A fresh device token for this browser (T2: its failures count apart).
    device: str = dataclasses.field(repr=False)


@dataclasses.dataclass(frozen=True)
class AccountView:
    """What "My account" shows; the session's CSRF token for its forms."""

    state: sessions.State
    username: str
    principal: str | None
    password_set_at: dt.datetime | None  # None: not known
    must_change: bool
    password_expires_at: dt.datetime | None  # None: never (or not known)
    locked: bool
    csrf: str
    rules: PasswordRules | None = None


class ChecksInTurn:
    """An account's password checks one after another (in this server
    process): each one's agent then reads the failed-logon count the one
    before left, so parallel wrong passwords cannot together pass its
    lockout guard, whichever agent takes them."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @contextlib.asynccontextmanager
    async def held(self, key: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            users = self._locks[key][1] - 1
            if users:
                self._locks[key] = (lock, users)
            else:
                del self._locks[key]


class Accounts:
    def __init__(
        self,
        portal: Portal,
        *,
        hasher: Hasher,
        address_limiter: RateLimiter,
        account_failures: FailureCounter,
        device_failures: FailureCounter,
        clock: Clock = utcnow,
        failure_floor: float = FAILURE_FLOOR,
    ) -> None:
        self.portal = portal
        self.services = portal.services
        self.hasher = hasher
        self.address_limiter = address_limiter
        self.account_failures = account_failures
        self.device_failures = device_failures
        self._clock = clock
        self._floor = failure_floor
        self._checking = ChecksInTurn()

    # -- sign-in ------------------------------------------------------------------

    async def sign_in(
        self,
        tenant: PortalTenant,
        username: str,
        password: str,
        *,
        client: str,
        device: str | None,
        language: str | None = None,
    ) -> SignedIn:
        """Check ``password`` with the directory and open a session;
        ``language``, the portal's, is kept as the user's once the password
        proved who they are.

        Raises:
            PortalError: ``rate_limited`` (429), ``service_unavailable`` (503),
                ``invalid_username`` / ``empty`` (422), ``wrong_credentials``
                (401: an unknown user and a locked account alike),
                ``sign_in_throttled`` (429), the account's state (``disabled``,
                ``account_expired``, …) when the password was right, or the
                directory could not be asked.
        """
        started = time.monotonic()
        if not await self.address_limiter.allow("sign-in:" + address_key(client)):
            raise PortalError(
                "rate_limited",
                N_("Too many attempts from your network. Wait a few minutes and try again."),
            )
        await self.portal.check_agent(tenant)
        username = username.strip()
        if not username or len(username) > MAX_USERNAME:
            raise PortalError("invalid_username", N_("Enter your username."), field="username")
        if not password:
            raise PortalError("empty", N_("Enter your password."), field="password")
        user = await asyncio.to_thread(self._find, tenant, username)
        counter, key = self._failure_key(tenant, user, username, device)
        owners_browser = counter is self.device_failures  # its device token
        # The attempt is counted before the directory is asked, in one step, so
        # that parallel sign-ins cannot together go past the limit (and drive
        # the directory's lockout); a right password gives it back.
        if not await counter.allow(key):
            await self._pad(started)
            raise PortalError(
                "sign_in_throttled",
                THROTTLED,
                user_id=user.id if user else None,
                note="T2: failed sign-ins of this account (or this browser) in the window",
            )
        if user is None:
            who = self.hasher.who_hash(username)
            await self._audit(Ended(tenant.id, None, SIGN_IN, USER_NOT_FOUND, None, subject=who))
            await self._pad(started)
            raise self._wrong(None, "no synced user has this name")
        signed = functools.partial(Ended, tenant.id, user.id, SIGN_IN)
        try:
            async with self._checking.held(user.id):
                result = await writeback.verify_password(
                    services=self.services,
                    tenant_id=tenant.id,
                    user=writeback.UserId(user.id),
                    password=password,
                    records_success=True,  # with the new session, in _open
                    owner=owners_browser,
                )
        except NotFound:  # left the directory a moment ago
            await self._audit(signed(USER_NOT_FOUND, None))
            await self._pad(started)
            raise self._wrong(user.id, "the user left the store during the sign-in") from None
        if result.outcome is Outcome.OK or result.outcome in _FORCED:
            await counter.refund(key)
            state = _FORCED.get(result.outcome, sessions.State.SIGNED_IN)
            opened = await asyncio.to_thread(
                self._open, tenant, user.id, state, result, password, language
            )  # audited there
            if isinstance(opened, entitlements.Refusal):
                raise self.portal.not_enabled(user.id, opened)
            return SignedIn(opened, state, self.hasher.device_token(user.id))
        await self._audit(signed(result.outcome.value, result.support_code))
        # Near the lockout, the owner's own browser (its device token) is told
        # why: nothing to hide from a stranger (T2), and no password failed.
        owners = owners_browser and result.outcome is Outcome.NEAR_LOCKOUT
        if result.outcome in _WRONG and not owners:
            await self._pad(started)
            raise self._wrong(user.id, f"verify answered {result.outcome}", result)
        # Not a wrong password: the directory could not be asked, the password
        # was right for an account that cannot sign in now, or was not tried.
        await counter.refund(key)
        if result.outcome.may_retry_same_request:  # the directory could not be asked
            raise PortalError(
                Outcome.SERVICE_UNAVAILABLE.value,
                CANNOT_CHECK,
                user_id=user.id,
                request_id=result.request_id,
                support_code=result.support_code,
                note=f"verify answered {result.outcome}",
            )
        own = _SIGN_IN_REFUSALS.get(result.outcome)
        if own is not None:
            raise PortalError(
                result.outcome.value,
                own,
                user_id=user.id,
                request_id=result.request_id,
                support_code=result.support_code,
            )
        raise PortalError.of_outcome(
            result.outcome,
            result.detail,
            request_id=result.request_id,
            support_code=result.support_code,
            user_id=user.id,
        )

    def _failure_key(
        self, tenant: PortalTenant, user: DirectoryUser | None, username: str, device: str | None
    ) -> tuple[FailureCounter, str]:
        """Where a failed sign-in counts: this browser's own count if the
        account signed in from it before, else the account's."""
        known = self.hasher.device_of(device)
        if user is not None and known is not None and known[0] == user.id:
            return self.device_failures, f"device:{tenant.id}:{known[1]}"
        who = user.id if user is not None else "name:" + canonical_name(username)
        return self.account_failures, f"account:{tenant.id}:{who}"

    async def _audit(self, ended: Ended) -> None:
        """A sign-in or change that ended without a transaction of its own to
        carry its audit event (E5)."""

        def record() -> None:
            with self.services.sessions() as db, db.begin():
                ended.record(db, self._clock())

        await asyncio.to_thread(record)

    async def _pad(self, started: float) -> None:
        left = self._floor - (time.monotonic() - started)
        if left > 0:
            await asyncio.sleep(left)

    @staticmethod
    def _wrong(
        user_id: str | None, note: str, result: writeback.WritebackResult | None = None
    ) -> PortalError:
        # No support code of the agent's here: one is always shown, while an
        # unknown name's is made only within the address's record budget, so
        # past it the answers would differ (T2). The record names the check.
        if result is not None:
            note += f" (request {result.request_id}, support code {result.support_code})"
        return PortalError(
            "wrong_credentials",
            WRONG_CREDENTIALS,
            field="password",
            user_id=user_id,
            request_id=result.request_id if result else None,
            note=note,
        )

    def _find(self, tenant: PortalTenant, username: str) -> DirectoryUser | None:
        with self.services.sessions() as db:
            matches = users_named(db, tenant.id, username)
            if len(matches) != 1:
                return None
            db.expunge(matches[0])
            return matches[0]

    def _open(
        self,
        tenant: PortalTenant,
        user_id: str,
        state: sessions.State,
        verified: writeback.WritebackResult,
        password: str,
        language: str | None,
    ) -> str | entitlements.Refusal:
        """One transaction: the password proved who the user is (``proven_in``),
        the success recorded and audited, and the new session's token; or why
        self-service is not enabled for the user (no session)."""
        with self.services.sessions() as db, db.begin():
            if verified.outcome is Outcome.OK:
                writeback.record_success(db, tenant.id, verified)
            refused = self.portal.proven_in(db, tenant, user_id, language=language)
            if refused is not None:
                return refused
            signed = Ended(
                tenant.id, user_id, SIGN_IN, verified.outcome.value, verified.support_code
            )
            signed.record(db, self._clock())
            new = sessions.new_session(
                tenant_id=tenant.id,
                user_id=user_id,
                state=state,
                account=verified.detail,
                password=password if state.forced_change else None,
                now=self._clock(),
            )
            db.add(new.row)
        return new.token

    # -- the session ----------------------------------------------------------------

    async def view(self, tenant: PortalTenant, token: str | None) -> AccountView:
        """The signed-in account, as the directory told it at sign-in.

        Raises:
            PortalError: ``not_signed_in`` (401).
        """
        row, user = await asyncio.to_thread(self._session, tenant, token)
        return self._view(row, user)

    async def signed_in(
        self, tenant: PortalTenant, token: str | None
    ) -> tuple[AccountView, DirectoryUser]:
        """The session's account and user, signed in (not on the way to a
        forced change).

        Raises:
            PortalError: ``not_signed_in`` (401).
        """
        row, user = await self.signed_in_row(tenant, token)
        return self._view(row, user), user

    async def signed_in_row(
        self, tenant: PortalTenant, token: str | None
    ) -> tuple[AccountSession, DirectoryUser]:
        """The signed-in session's row and user (see :meth:`signed_in`)."""
        row, user = await asyncio.to_thread(self._session, tenant, token)
        if user is None or sessions.State(row.state).forced_change:
            raise PortalError("not_signed_in", SESSION_ENDED)
        return row, user

    async def change_step(self, tenant: PortalTenant, token: str | None) -> AccountView:
        """The account with the rules for its new password (None: no agent could tell)."""
        row, user = await asyncio.to_thread(self._session, tenant, token)
        rules = rules_from_json(row.rules_json)
        if rules is None:
            rules = await rules_for(self.services, tenant.id, row.user_id)
            if rules is not None:
                await asyncio.to_thread(self._keep_rules, row.id_hash, rules)
        return dataclasses.replace(self._view(row, user), rules=rules)

    async def change(
        self,
        tenant: PortalTenant,
        token: str | None,
        current: str,
        new_password: str,
        confirm: str,
        *,
        language: str = "en",
    ) -> None:
        """Change the password (W3); for a forced change the current one is
        the sealed one from the sign-in. Afterwards the user is signed in.

        Raises:
            PortalError: not signed in; a field is empty or the two differ;
                ``not_enabled`` (E1, G6: no longer; the session ends); the
                directory refused (its ``Outcome``); the session's change
                attempts are used up (it ends).
        """
        begun = await asyncio.to_thread(
            self._begin_change, tenant, token, current, new_password, confirm
        )
        if isinstance(begun, PortalError):
            raise begun
        row, current, pending = begun
        state = sessions.State(row.state)
        changed = functools.partial(Ended, tenant.id, row.user_id, CHANGE_PASSWORD)
        try:
            result = await self._write(tenant, row.user_id, current, new_password, pending)
            if pending is not None and result.outcome is Outcome.REPLAYED:
                result = await self._write(tenant, row.user_id, current, new_password, None)
        except Refused as exc:
            exc.support_code = exc.support_code or support.new_code()
            await self._audit(changed(exc.code, exc.support_code))
            raise writeback_error(exc, row.user_id) from None
        ended = changed(result.outcome.value, result.support_code)
        if result.outcome is Outcome.OK:
            await asyncio.to_thread(self._changed, row.id_hash, tenant.id, result, ended)
            self.portal.notify(tenant, row.user_id, Notice.CHANGED, language)
            return
        unknown = result.request_id if result.outcome is Outcome.OUTCOME_UNKNOWN else None
        await asyncio.to_thread(self._keep_pending, row.id_hash, unknown, ended)
        if result.outcome is Outcome.WRONG_PASSWORD:
            if state.forced_change:  # the sealed password stopped being right
                await self.sign_out(tenant, token)
                raise PortalError(
                    "not_signed_in",
                    SESSION_ENDED,
                    user_id=row.user_id,
                    support_code=result.support_code,
                )
            # Guessing the current password through a signed-in session counts
            # as a failed sign-in of the account (the directory may not count it).
            await self.account_failures.add(f"account:{tenant.id}:{row.user_id}")
            raise PortalError(
                "wrong_current_password",
                N_("Your current password is not correct."),
                field="current_password",
                user_id=row.user_id,
                request_id=result.request_id,
                support_code=result.support_code,
            )
        raise PortalError.of_outcome(
            result.outcome,
            result.detail,
            request_id=result.request_id,
            support_code=result.support_code,
            user_id=row.user_id,
        )

    async def _write(
        self,
        tenant: PortalTenant,
        user_id: str,
        current: str,
        new_password: str,
        request_id: str | None,
    ) -> writeback.WritebackResult:
        return await writeback.change_password(
            services=self.services,
            tenant_id=tenant.id,
            user=writeback.UserId(user_id),
            current_password=current,
            new_password=new_password,
            request_id=request_id,
            records_success=True,  # with the session's new state, in _changed
        )

    async def sign_out(self, tenant: PortalTenant, token: str | None) -> None:
        def drop() -> None:
            with self.services.sessions() as db, db.begin():
                row = sessions.find(db, tenant.id, token)
                if row is not None:
                    db.delete(row)

        await asyncio.to_thread(drop)

    def csrf_token(self, token: str) -> str:
        return self.hasher.csrf_token("session:" + flow_hash(token))

    def csrf_matches(self, token: str | None, csrf: str) -> bool:
        return token is not None and self.hasher.csrf_matches("session:" + flow_hash(token), csrf)

    # -- store ------------------------------------------------------------------

    def _session(
        self, tenant: PortalTenant, token: str | None
    ) -> tuple[AccountSession, DirectoryUser | None]:
        """The session and its user, seen now; a session whose user
        self-service is no longer enabled for (E1, G6: the plan, the scope or
        the assignment changed since the sign-in) ends here, at its next page.

        Raises:
            PortalError: ``not_signed_in`` (401), ``not_enabled`` (403).
        """
        with self.services.sessions() as db, db.begin():
            try:
                row = sessions.require(sessions.find(db, tenant.id, token), self._clock())
            except sessions.SessionRefused:
                raise PortalError("not_signed_in", SESSION_ENDED) from None
            refused = self.portal.proven_in(db, tenant, row.user_id)
            if refused is None:
                user = db.scalar(
                    select(DirectoryUser).where(
                        DirectoryUser.tenant_id == tenant.id, DirectoryUser.id == row.user_id
                    )
                )
                db.flush()
                db.expunge(row)
                if user is not None:
                    db.expunge(user)
                return row, user
            db.delete(row)  # committed with the refusal's audit event
        raise self.portal.not_enabled(row.user_id, refused)

    def _view(self, row: AccountSession, user: DirectoryUser | None) -> AccountView:
        account = sessions.account_of(row)
        set_at = _when(account.get("password_set_at"))
        return AccountView(
            state=sessions.State(row.state),
            username=user.sam_account_name if user else "",
            principal=user.user_principal_name if user else None,
            password_set_at=set_at,
            must_change=account.get("password_set_at") == 0,
            password_expires_at=_when(account.get("password_expires_at")),
            locked=account.get("locked") == 1,
            csrf=self.hasher.csrf_token("session:" + row.id_hash),
        )

    def _begin_change(
        self, tenant: PortalTenant, token: str | None, current: str, new_password: str, confirm: str
    ) -> tuple[AccountSession, str, str | None] | PortalError:
        """One transaction: the session (seen now), the current password (for a
        forced change the one sealed at sign-in), the fields checked, one change
        attempt claimed, self-service still enabled for the user (else the
        session ends). The session, the current password and the request id
        of an earlier change in doubt; or the error, returned so that what the
        transaction did stays: the session seen, or ended (nothing sealed left,
        or no attempt left)."""
        with self.services.sessions() as db, db.begin():
            try:
                row = sessions.require(sessions.find(db, tenant.id, token), self._clock())
            except sessions.SessionRefused:
                raise PortalError("not_signed_in", SESSION_ENDED) from None
            if sessions.State(row.state).forced_change:
                current = sessions.unseal(token or "", row) or ""
                if not current:
                    db.delete(row)
                    return PortalError("not_signed_in", SESSION_ENDED)
            elif not current:
                return PortalError(
                    "empty", N_("Enter your current password."), field="current_password"
                )
            if not new_password:
                return PortalError("empty", N_("Enter the new password."), field="new_password")
            if confirm != new_password:
                return PortalError(
                    "mismatch",
                    N_("The two passwords are not the same. Type them again."),
                    field="confirm_password",
                )
            if sessions.claim_change(db, row.id_hash) is None:
                db.delete(row)
                return PortalError(
                    "too_many_changes",
                    N_("Too many attempts to change the password. Sign in again."),
                    user_id=row.user_id,
                )
            # E1, G6 again: an assignment, the scope or the plan may have changed.
            refused = self.portal.proven_in(db, tenant, row.user_id)
            if refused is not None:
                db.delete(row)  # the session ends
                return self.portal.not_enabled(row.user_id, refused)
            db.flush()
            db.expunge(row)
            return row, current, row.pending_request_id

    def _keep_pending(self, key: str, request_id: str | None, ended: Ended) -> None:
        """A change the directory did not take: audited, and the request id
        of one in doubt kept for the next try."""
        with self.services.sessions() as db, db.begin():
            ended.record(db, self._clock())
            row = db.get(AccountSession, key)
            if row is not None:
                row.pending_request_id = request_id

    def _keep_rules(self, key: str, rules: PasswordRules) -> None:
        with self.services.sessions() as db, db.begin():
            row = db.get(AccountSession, key)
            if row is not None:
                row.rules_json = json.dumps(dataclasses.asdict(rules))

    def _changed(
        self, key: str, tenant_id: str, changed: writeback.WritebackResult, ended: Ended
    ) -> None:
        """The new password is in the directory (``changed`` recorded and
        audited): signed in, the account's dates as they now are (the expiry
        from the policy the agent reported)."""
        now = self._clock()
        with self.services.sessions() as db, db.begin():
            writeback.record_success(db, tenant_id, changed)
            ended.record(db, now)
            row = db.get(AccountSession, key)
            if row is None:
                return
            rules = rules_from_json(row.rules_json)
            account = sessions.account_of(row)
            account["password_set_at"] = int(now.timestamp())
            if rules is not None:
                max_age = rules.max_age_seconds
                account["password_expires_at"] = int(now.timestamp()) + max_age if max_age else 0
            else:
                account.pop("password_expires_at", None)
            sessions.signed_in(row, account, now)


def _when(value: int | str | None) -> dt.datetime | None:
    if not isinstance(value, int) or value <= 0:
        return None
    return dt.datetime.fromtimestamp(value, dt.UTC)
