"""The console's use-cases around administrators: set up from a link, sign in
with two gates (G7), the signed-in administrator of a request, re-authenticate.

Throttles, each designed so that a stranger cannot use it against an
administrator (as the portal's sign-in, ``portal.account``):

- per client address: ``sign_in_limit`` attempts per window;
- per administrator: ``MAX_ACCOUNT_FAILURES`` failed passwords per window from
  browsers that never completed a sign-in of that administrator; past it,
  such browsers are told to wait;
- per device: a browser that completed a sign-in carries a device token; its
  failures count on their own, so the administrator's own browser keeps its
  way in while a stranger spends the account's count;
- the authenticator code: ``sessions.MAX_CODE_ATTEMPTS`` per session, and a
  session needs the right password first.

An unknown email and a wrong password answer alike and take as long (T2).
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import time
from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from passback.server import audit, entitlements
from passback.server.console import admins, passkeys
from passback.server.console import sessions as states
from passback.server.console.errors import ConsoleError
from passback.server.console.roles import Permission, Role, may
from passback.server.entitlements import DEFAULT_PLAN, Feature, Plan
from passback.server.i18n.translations import N_
from passback.server.portal.codes import Hasher, flow_hash
from passback.server.portal.gates import passkey, totp
from passback.server.ratelimit import address_key
from passback.server.services import Services
from passback.server.store.models import Admin, AdminSession, Tenant, utcnow
from passback.server.types import Clock, FailureCounter, RateLimiter

#: Failed passwords per administrator (from unknown browsers), per device.
MAX_ACCOUNT_FAILURES = 5
MAX_DEVICE_FAILURES = 5
#: Wrong authenticator codes per administrator (from unknown browsers) in the
#: window, whatever the sessions: with the password known, guessing 6 digits
#: stays bounded (a browser that signed in before counts as a device).
MAX_CODE_FAILURES = 10
#: Seconds a failed sign-in takes at least (T2).
FAILURE_FLOOR = 0.5

WRONG = N_("The email address or the password is not right.")
THROTTLED = N_(
    "Too many failed sign-ins for this administrator. Wait 15 minutes, or sign in "
    "from a browser you signed in with before."
)
NOT_SIGNED_IN = N_("Sign in to the console first. Sessions end after 15 idle minutes.")
TOO_MANY_CODES = N_("Too many wrong codes. Sign in again.")
CODE_THROTTLED = N_(
    "Too many wrong codes for this administrator. Wait 15 minutes, or use a browser you "
    "signed in with before."
)
NO_PASSKEY = N_("You have no passkey for this console. Use your authenticator app.")
FORBIDDEN = N_("Your role does not give you this part of the console.")


@dataclasses.dataclass(frozen=True)
class ConsoleTenant:
    id: str
    slug: str
    name: str
    #: What the tenant's plan has (E1): the console hides the rest and says why.
    plan: Plan = DEFAULT_PLAN

    def has(self, feature: Feature) -> bool:
        return feature in self.plan.features

    @property
    def base(self) -> str:
        return f"/console/{self.slug}"


@dataclasses.dataclass(frozen=True)
class SetupView:
    email: str
    name: str
    role: Role
    secret: str = dataclasses.field(repr=False)
    qr_svg: str = dataclasses.field(repr=False)


@dataclasses.dataclass(frozen=True)
class Verified:
    """Signed in: the session's new token, and the browser's device token."""

    token: str = dataclasses.field(repr=False)
    device: str = dataclasses.field(repr=False)


@dataclasses.dataclass(frozen=True)
class SecondFactor:
    """One way to pass the second factor: its name in the audit log, the
    check of a session's try, and the error of a wrong one."""

    method: str
    check: Callable[[Session, Admin, AdminSession, dt.datetime], bool]
    wrong: ConsoleError


@dataclasses.dataclass(frozen=True)
class SignedInAdmin:
    id: str
    email: str
    name: str
    role: Role
    csrf: str
    #: The authenticator code was proved within ``sessions.REAUTH_WINDOW``.
    recently_verified: bool

    def may(self, permission: Permission) -> bool:
        return may(self.role, permission)


class Console:
    def __init__(
        self,
        services: Services,
        *,
        hasher: Hasher,
        address_limiter: RateLimiter,
        account_failures: FailureCounter,
        device_failures: FailureCounter,
        code_failures: FailureCounter,
        clock: Clock = utcnow,
        floor: float = FAILURE_FLOOR,
    ) -> None:
        self.services = services
        self.hasher = hasher
        self.address_limiter = address_limiter
        self.account_failures = account_failures
        self.device_failures = device_failures
        self.code_failures = code_failures
        self._clock = clock
        self._floor = floor

    def now(self) -> dt.datetime:
        return self._clock()

    async def tenant(self, slug: str) -> ConsoleTenant:
        def load() -> ConsoleTenant | None:
            with self.services.sessions() as db:
                row = db.scalar(select(Tenant).where(Tenant.slug == slug[:128]))
                if row is None:
                    return None
                return ConsoleTenant(row.id, row.slug, row.name, entitlements.plan_of(row))

        tenant = await asyncio.to_thread(load)
        if tenant is None:
            raise ConsoleError("not_found", N_("There is no console at this address."), status=404)
        return tenant

    # -- set-up ---------------------------------------------------------------

    async def setup_view(self, tenant: ConsoleTenant, token: str) -> SetupView:
        def read() -> SetupView:
            master = self.services.master_key
            with self.services.sessions() as db:
                row = admins.by_setup_token(db, tenant.id, token, self._clock())
                secret = admins.totp_secret(master, row)
                uri = totp.provisioning_uri(
                    secret, account=row.email, issuer=f"{tenant.name} (Passback console)"
                )
                return SetupView(row.email, row.name, Role(row.role), secret, totp.qr_svg(uri))

        return await asyncio.to_thread(read)

    async def complete_setup(
        self, tenant: ConsoleTenant, token: str, password: str, confirm: str, code: str
    ) -> str:
        """Set up the administrator of ``token``; returns the email to sign in with."""

        def done() -> str:
            now = self._clock()
            with self.services.sessions() as db, db.begin():
                row = admins.by_setup_token(db, tenant.id, token, now)
                admins.complete_setup(
                    db,
                    row,
                    password=password,
                    confirm=confirm,
                    code=code,
                    master=self.services.master_key,
                    now=now,
                )
                self.record(db, row, audit.Activity.ADMIN_SETUP, now)
                return row.email

        return await asyncio.to_thread(done)

    # -- sign-in --------------------------------------------------------------

    async def sign_in(
        self, tenant: ConsoleTenant, email: str, password: str, *, client: str, device: str | None
    ) -> str:
        """Check the password; a session waiting for the authenticator code.

        Raises:
            ConsoleError: ``rate_limited`` (429), ``sign_in_throttled`` (429),
                ``wrong_credentials`` (401) for an unknown email and a wrong
                password alike.
        """
        started = time.monotonic()
        row, canonical = await self.find_active(tenant, email, client=client, purpose="console")
        counter, key = self._failure_key(tenant, row, canonical, device)
        if not await counter.allow(key):
            await self._pad(started)
            raise ConsoleError("sign_in_throttled", THROTTLED, status=429)
        right = await asyncio.to_thread(admins.password_matches, row, password)
        if row is None or not right:
            await self._pad(started)
            raise ConsoleError("wrong_credentials", WRONG, status=401, field="password")
        await counter.refund(key)

        def open_session() -> str:
            with self.services.sessions() as db, db.begin():
                new = states.new_session(tenant_id=tenant.id, admin_id=row.id, now=self._clock())
                db.add(new.row)
                return new.token

        return await asyncio.to_thread(open_session)

    async def second_factor(
        self,
        tenant: ConsoleTenant,
        token: str | None,
        code: str,
        *,
        device: str | None,
        language: str | None = None,
    ) -> Verified:
        """The authenticator code after the password: signed in, under a new
        session token (the half-open one is dropped), and a device token for
        the browser (its failures count on their own). ``language``: the
        console's, kept as the administrator's (the G9 mails to them use it).

        Raises:
            ConsoleError: ``not_signed_in`` (401), ``wrong_code`` (field code),
                ``too_many_codes`` (401: the session ended), ``code_throttled``
                (429: too many wrong codes for this administrator).
        """
        check = self._totp(code)
        fresh = await self._try(
            tenant, token, states.State.SECOND_FACTOR, device, check, language=language
        )
        assert fresh is not None  # a half-open session moves to a new token
        return Verified(fresh[0], self.hasher.device_token("admin-" + fresh[1]))

    async def second_factor_passkey(
        self,
        tenant: ConsoleTenant,
        token: str | None,
        credential: str,
        rp: passkey.RelyingParty,
        *,
        device: str | None,
        language: str | None = None,
    ) -> Verified:
        """A passkey's answer instead of the authenticator code: counted and
        throttled as a code is, and signed in the same way.

        Raises:
            ConsoleError: as :meth:`second_factor`, but ``passkey_refused``
                (field passkey) for a wrong answer.
        """
        check = self._passkey(credential, rp)
        fresh = await self._try(
            tenant, token, states.State.SECOND_FACTOR, device, check, language=language
        )
        assert fresh is not None
        return Verified(fresh[0], self.hasher.device_token("admin-" + fresh[1]))

    async def reauthenticate(
        self, tenant: ConsoleTenant, token: str | None, code: str, *, device: str | None = None
    ) -> None:
        """The authenticator code again, before a reset, an invitation or a
        policy change. Raises as :meth:`second_factor`."""
        await self._try(tenant, token, states.State.SIGNED_IN, device, self._totp(code))

    async def reauthenticate_passkey(
        self,
        tenant: ConsoleTenant,
        token: str | None,
        credential: str,
        rp: passkey.RelyingParty,
        *,
        device: str | None = None,
    ) -> None:
        """A passkey's answer in place of a fresh code. Raises as
        :meth:`second_factor_passkey`."""
        check = self._passkey(credential, rp)
        await self._try(tenant, token, states.State.SIGNED_IN, device, check)

    async def passkey_options(
        self,
        tenant: ConsoleTenant,
        token: str | None,
        state: states.State,
        rp: passkey.RelyingParty,
    ) -> str:
        """The options (JSON) for the browser to answer with one of the
        session's administrator's passkeys; a new challenge for the session.

        Raises:
            ConsoleError: ``not_signed_in`` (401), ``no_passkey`` (404).
        """

        def arm() -> str:
            with self.services.sessions() as db, db.begin():
                row = self.session_of(db, tenant, token, state, self._clock())
                ids = passkeys.credential_ids(db, row.admin_id)
                if not ids:
                    raise ConsoleError("no_passkey", NO_PASSKEY, status=404)
                challenge = passkeys.new_challenge(row)
                return passkey.authentication_options(rp, challenge=challenge, allow=ids)

        return await asyncio.to_thread(arm)

    async def has_passkey(
        self, tenant: ConsoleTenant, token: str | None, state: states.State
    ) -> bool:
        """Whether the session's administrator has a passkey (False: no live
        session in ``state``)."""

        def read() -> bool:
            with self.services.sessions() as db, db.begin():
                try:
                    row = self.session_of(db, tenant, token, state, self._clock())
                except ConsoleError:
                    return False
                return bool(passkeys.credential_ids(db, row.admin_id))

        return await asyncio.to_thread(read)

    def _totp(self, code: str) -> SecondFactor:
        def check(db: Session, admin: Admin, row: AdminSession, now: dt.datetime) -> bool:
            return admins.take_code(db, admin, code, self.services.master_key, now)

        return SecondFactor(
            "totp", check, ConsoleError("wrong_code", admins.WRONG_CODE, field="code")
        )

    @staticmethod
    def _passkey(credential: str, rp: passkey.RelyingParty) -> SecondFactor:
        def check(db: Session, admin: Admin, row: AdminSession, now: dt.datetime) -> bool:
            challenge = passkeys.take_challenge(row)
            return passkeys.check(
                db, admin, rp, challenge=challenge, credential=credential, now=now
            )

        refused = ConsoleError("passkey_refused", passkeys.REFUSED, field="passkey")
        return SecondFactor("passkey", check, refused)

    async def _try(
        self,
        tenant: ConsoleTenant,
        token: str | None,
        state: states.State,
        device: str | None,
        factor: SecondFactor,
        *,
        language: str | None = None,
    ) -> tuple[str, str] | None:
        """One try of the second factor by a session in ``state``: counted per
        session (atomically) and per administrator (a browser that signed in
        before counts on its own), then checked. The new token and the
        admin's id when the session moved to signed-in."""

        def admin_of() -> str:
            with self.services.sessions() as db, db.begin():
                return self.session_of(db, tenant, token, state, self._clock()).admin_id

        admin_id = await asyncio.to_thread(admin_of)
        counter, key = self.code_counter(tenant, admin_id, device)
        if not await counter.allow(key):
            raise ConsoleError(
                "code_throttled", CODE_THROTTLED, status=429, field=factor.wrong.field
            )

        def check() -> tuple[str, str] | ConsoleError | None:
            now = self._clock()
            with self.services.sessions() as db, db.begin():
                row = self.session_of(db, tenant, token, state, now)
                admin = db.get(Admin, row.admin_id)
                assert admin is not None  # the session is deleted with it
                if not states.claim_code(db, row.id_hash):
                    db.delete(row)
                    return ConsoleError("too_many_codes", TOO_MANY_CODES, status=401)
                db.refresh(row)
                method = factor.method
                if not factor.check(db, admin, row, now):
                    self.record(db, admin, audit.Activity.GATE, now, success=False, method=method)
                    if row.code_attempts >= states.MAX_CODE_ATTEMPTS:
                        db.delete(row)
                        return ConsoleError("too_many_codes", TOO_MANY_CODES, status=401)
                    return factor.wrong  # committed
                self.record(db, admin, audit.Activity.GATE, now, method=method)
                moved = states.verified(db, row, now)
                if moved is None:
                    return None
                admin.last_sign_in_at = now
                if language:
                    admin.language = language[:16]
                self.record(db, admin, audit.Activity.SIGN_IN, now)
                return moved.token, admin.id

        result = await asyncio.to_thread(check)
        if isinstance(result, ConsoleError):
            raise result
        await counter.refund(key)
        return result

    async def admin(
        self, tenant: ConsoleTenant, token: str | None, permission: Permission | None = None
    ) -> SignedInAdmin:
        """The signed-in administrator of this request.

        Raises:
            ConsoleError: ``not_signed_in`` (401); ``forbidden`` (403): the
                role lacks ``permission``.
        """

        def read() -> SignedInAdmin | None:
            now = self._clock()
            with self.services.sessions() as db, db.begin():
                row = self.session_of(db, tenant, token, states.State.SIGNED_IN, now)
                admin = db.get(Admin, row.admin_id)
                if admin is None or admin.disabled_at is not None:
                    db.delete(row)
                    return None  # committed: the session is gone
                return SignedInAdmin(
                    admin.id,
                    admin.email,
                    admin.name,
                    Role(admin.role),
                    self.csrf_token(token or ""),
                    states.recently_verified(row, now),
                )

        signed_in = await asyncio.to_thread(read)
        if signed_in is None:
            raise ConsoleError("not_signed_in", NOT_SIGNED_IN, status=401)
        if permission is not None and not signed_in.may(permission):
            raise ConsoleError("forbidden", FORBIDDEN, status=403)
        return signed_in

    async def sign_out(self, tenant: ConsoleTenant, token: str | None) -> None:
        def drop() -> None:
            with self.services.sessions() as db, db.begin():
                row = db.get(AdminSession, flow_hash(token or ""))
                if row is not None and row.tenant_id == tenant.id:
                    db.delete(row)

        await asyncio.to_thread(drop)

    def csrf_token(self, token: str) -> str:
        return self.hasher.csrf_token("console:" + token)

    def csrf_matches(self, token: str | None, csrf: str) -> bool:
        return token is not None and self.hasher.csrf_matches("console:" + token, csrf)

    # -- internals ------------------------------------------------------------

    async def find_active(
        self, tenant: ConsoleTenant, email: str, *, client: str, purpose: str
    ) -> tuple[Admin | None, str]:
        """The active administrator of ``email`` (as typed) and the email as
        stored, within the client address's limit for ``purpose``.

        Raises:
            ConsoleError: ``rate_limited`` (429).
        """
        if not await self.address_limiter.allow(f"{purpose}:{address_key(client)}"):
            raise ConsoleError(
                "rate_limited",
                N_("Too many attempts from your network. Wait a few minutes and try again."),
                status=429,
            )
        try:
            canonical = admins.canonical_email(email)
        except ConsoleError:
            canonical = ""
        return await asyncio.to_thread(self.active_admin, tenant, canonical), canonical

    def active_admin(self, tenant: ConsoleTenant, email: str) -> Admin | None:
        with self.services.sessions() as db:
            row = admins.active(db, tenant.id, email) if email else None
            if row is not None:
                db.expunge(row)
            return row

    def code_counter(
        self, tenant: ConsoleTenant, admin_id: str, device: str | None
    ) -> tuple[FailureCounter, str]:
        known = self.hasher.device_of(device)
        if known is not None and known[0] == "admin-" + admin_id:
            return self.device_failures, f"console-code-device:{tenant.id}:{known[1]}"
        return self.code_failures, f"console-code:{tenant.id}:{admin_id}"

    def _failure_key(
        self, tenant: ConsoleTenant, row: Admin | None, email: str, device: str | None
    ) -> tuple[FailureCounter, str]:
        known = self.hasher.device_of(device)
        if row is not None and known is not None and known[0] == "admin-" + row.id:
            return self.device_failures, f"console-device:{tenant.id}:{known[1]}"
        who = row.id if row is not None else "email:" + email
        return self.account_failures, f"console:{tenant.id}:{who}"

    async def _pad(self, started: float) -> None:
        left = self._floor - (time.monotonic() - started)
        if left > 0:
            await asyncio.sleep(left)

    def session_of(
        self,
        db: Session,
        tenant: ConsoleTenant,
        token: str | None,
        state: states.State,
        now: dt.datetime,
    ) -> AdminSession:
        """The live session of ``token`` in ``state`` (seen now).

        Raises:
            ConsoleError: ``not_signed_in`` (401).
        """
        row = db.get(AdminSession, flow_hash(token)) if token else None
        if row is not None and row.tenant_id != tenant.id:
            row = None
        try:
            return states.require(row, state, now)
        except states.SessionRefused:
            raise ConsoleError("not_signed_in", NOT_SIGNED_IN, status=401) from None

    @staticmethod
    def record(
        db: Session,
        admin: Admin,
        activity: audit.Activity,
        now: dt.datetime,
        *,
        success: bool = True,
        method: str | None = None,
    ) -> None:
        audit.record(
            db,
            tenant_id=admin.tenant_id,
            user_id=None,
            activity=activity,
            success=success,
            at=now,
            actor=audit.Actor.ADMIN,
            method=method,
            admin=admin.id,
        )
