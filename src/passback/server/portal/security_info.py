"""Use-cases of "Security info" in My account (SPEC G2, G3, G8): the methods a
signed-in user has on file, and registering or removing them. Each item is
its own audit event (E5), and the user is told of it by mail (G9).

A password alone does not change how an account proves who it is: a session
first confirms with a code sent to the directory's mail (for 10 minutes), so
that someone who phished the password cannot add their own authenticator or
questions and keep a way in after the owner changed it. A user without any
mail on file registers with the password alone (nothing else could confirm).
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import enum
import logging
from collections.abc import Awaitable, Callable

from sqlalchemy.orm import Session

from passback.policy import gates
from passback.policy.gates import GatePolicy, Method
from passback.server import audit, phones
from passback.server.gate_policies import gate_policy
from passback.server.i18n import Translator
from passback.server.i18n.translations import N_
from passback.server.notify import MailError
from passback.server.portal import account_session as sessions
from passback.server.portal import blocks, registrations
from passback.server.portal.account import Accounts
from passback.server.portal.codes import new_code
from passback.server.portal.errors import PortalError
from passback.server.portal.gates import passkey, questions, totp
from passback.server.portal.gates.totp_gate import after_a_gate
from passback.server.portal.notice_mail import Notice, confirm_mail
from passback.server.portal.service import PortalTenant
from passback.server.store.models import AccountSession, DirectoryUser, utcnow
from passback.server.types import Clock

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class SecurityView:
    username: str
    policy: GatePolicy
    #: The directory's mail, masked (``a•••@contoso.test``); None: none on file.
    mail: str | None
    methods: frozenset[Method]  # confirmed, on file
    #: The directory's mobile and office numbers, masked (``••••••••••42``);
    #: None: none on file (or not a number).
    mobile: str | None = None
    office: str | None = None
    #: The user's own address and mobile number (Security info), masked.
    own_mail: str | None = None
    own_mobile: str | None = None


class Due(enum.StrEnum):
    """What the tenant asks of a user at sign-in (G8)."""

    REGISTER = "register"  # registration required, and the policy cannot be met yet
    RECONFIRM = "reconfirm"  # the methods were last confirmed too long ago


#: What Security info tells a user who must act, by what is due.
DUE_NOTICES = {
    Due.REGISTER: N_(
        "Your organisation asks you to set up enough ways to prove who you are before you "
        "go on. Add them below."
    ),
    Due.RECONFIRM: N_(
        "Your organisation asks you to check your security info now and then. Is it still "
        "right? Change what is not, or confirm it below."
    ),
}


@dataclasses.dataclass(frozen=True)
class Enrolment:
    """An authenticator being set up: what the page shows."""

    secret: str = dataclasses.field(repr=False)
    qr_svg: str = dataclasses.field(repr=False)


class SecurityInfo:
    def __init__(self, accounts: Accounts, *, clock: Clock = utcnow) -> None:
        self.accounts = accounts
        self.services = accounts.services
        self._clock = clock

    def _usable(self, on_file: set[Method]) -> set[Method]:
        """What of ``on_file`` this server can run a gate for (a phone method
        needs a phone provider with its channel)."""
        return {m for m in on_file if self.accounts.portal.serviceable(m)}

    # -- what the tenant asks at sign-in (G8) ---------------------------------------

    async def due(self, tenant: PortalTenant, token: str | None) -> Due | None:
        """What the user must do before My account, if anything."""
        _, user = await self.accounts.signed_in_row(tenant, token)
        now = self._clock()

        def read() -> Due | None:
            with self.services.sessions() as db:
                policy = gate_policy(db, tenant.id)
                if policy.registration_required and gates.shortfall(
                    policy, self._usable(registrations.on_file(db, user, policy.phone_region))
                ):
                    return Due.REGISTER
                confirmed = [
                    r.confirmed_at
                    for r in registrations.registered(db, tenant.id, user.id).values()
                    if r.confirmed_at is not None
                ]
                days = policy.reconfirm_days
                if days and confirmed and min(confirmed) < now - dt.timedelta(days=days):
                    return Due.RECONFIRM
                return None

        return await asyncio.to_thread(read)

    async def still_right(self, tenant: PortalTenant, token: str | None) -> None:
        """The user confirmed that their methods are still right (G8): they
        count as confirmed now. Nothing is added or removed."""
        _, user = await self.accounts.signed_in_row(tenant, token)

        def store() -> None:
            now = self._clock()
            with self.services.sessions() as db, db.begin():
                for row in registrations.registered(db, tenant.id, user.id).values():
                    row.confirmed_at = now
                audit.record(
                    db,
                    tenant_id=tenant.id,
                    user_id=user.id,
                    activity=audit.Activity.RECONFIRM,
                    success=True,
                    at=now,
                )

        await asyncio.to_thread(store)

    # -- confirming by mail --------------------------------------------------------

    async def needs_confirmation(self, tenant: PortalTenant, token: str | None) -> str | None:
        """The masked mail a code would go to, when the session must confirm
        before it changes anything; None when it may change now."""
        row, user = await self.accounts.signed_in_row(tenant, token)
        if not user.mail or sessions.confirmed(row, self._clock()):
            return None
        return mask_mail(user.mail)

    async def send_confirmation(
        self, tenant: PortalTenant, token: str | None, *, language: str
    ) -> Callable[[], Awaitable[None]]:
        """Make a confirmation code; what sends it (run after the answer).

        Raises:
            PortalError: not signed in; ``no_mail`` (409); ``too_many_confirm_codes``
                (429) once the session sent its codes.
        """
        row, user = await self.accounts.signed_in_row(tenant, token)
        if not user.mail:
            raise PortalError("no_mail", N_("There is no email address on file for your account."))
        code = new_code()
        portal = self.accounts.portal

        def arm() -> bool:
            with self.services.sessions() as db, db.begin():
                stored = db.get(AccountSession, row.id_hash)
                return stored is not None and sessions.arm_confirmation(
                    stored, portal.hasher.code_hash("confirm:" + row.id_hash, code)
                )

        if not await asyncio.to_thread(arm):
            raise PortalError(
                "too_many_confirm_codes",
                N_("Too many codes were sent in this session. Sign out and in again later."),
                user_id=user.id,
            )
        message = confirm_mail(
            Translator.for_locale(portal.catalogs, language),
            to=user.mail,
            code=code,
            tenant_name=tenant.name,
        )
        mailer = portal.mailer

        async def deliver() -> None:
            if mailer is None:
                return
            try:
                await mailer.send(message)
            except MailError as exc:
                logger.warning("security info: the confirmation mail failed: %s", exc)

        return deliver

    async def confirm(self, tenant: PortalTenant, token: str | None, code: str) -> None:
        """Check the emailed code: the session may change Security info for 10 minutes.

        Raises:
            PortalError: not signed in; ``wrong_code`` (422, field ``code``).
        """
        row, user = await self.accounts.signed_in_row(tenant, token)
        hasher = self.accounts.portal.hasher

        def check() -> bool:
            with self.services.sessions() as db, db.begin():
                stored = db.get(AccountSession, row.id_hash)
                if stored is None:
                    return False
                matches = hasher.code_matches(
                    stored.confirm_code_hash, "confirm:" + row.id_hash, code
                )
                return sessions.confirm(stored, matches, self._clock())

        if not await asyncio.to_thread(check):
            raise PortalError(
                "wrong_code",
                N_("The code is not correct, or it is used up. Ask for a new one."),
                field="code",
                user_id=user.id,
            )

    async def confirmed_user(self, tenant: PortalTenant, token: str | None) -> DirectoryUser:
        """The session's user, once it confirmed by mail (or has no mail to).

        Raises:
            PortalError: not signed in; ``confirm_first`` (403).
        """
        row, user = await self.accounts.signed_in_row(tenant, token)
        if user.mail and not sessions.confirmed(row, self._clock()):
            raise PortalError(
                "confirm_first",
                N_("Confirm with the code we email you before you change your security info."),
                user_id=user.id,
            )
        return user

    async def view(self, tenant: PortalTenant, token: str | None) -> SecurityView:
        _, user = await self.accounts.signed_in(tenant, token)

        def read() -> SecurityView:
            with self.services.sessions() as db:
                policy = gate_policy(db, tenant.id)
                region = policy.phone_region
                mobile = registrations.phone_number(user, Method.MOBILE_SMS, region)
                office = registrations.phone_number(user, Method.OFFICE_VOICE, region)
                own_mail = registrations.contact_of(db, tenant.id, user.id, Method.EMAIL)
                own_mobile = registrations.contact_of(db, tenant.id, user.id, Method.MOBILE_SMS)
                return SecurityView(
                    username=user.sam_account_name,
                    policy=policy,
                    mail=mask_mail(user.mail) if user.mail else None,
                    methods=frozenset(self._usable(registrations.on_file(db, user, region))),
                    mobile=phones.masked(mobile) if mobile else None,
                    office=phones.masked(office) if office else None,
                    own_mail=mask_mail(own_mail) if own_mail else None,
                    own_mobile=phones.masked(own_mobile) if own_mobile else None,
                )

        return await asyncio.to_thread(read)

    async def authenticator(self, tenant: PortalTenant, token: str | None) -> Enrolment:
        """The authenticator being set up (a new secret the first time).

        Raises:
            PortalError: not signed in; ``already_registered`` (409).
        """
        user = await self.confirmed_user(tenant, token)
        await self.allowed_by_policy(tenant, Method.TOTP)

        def pending() -> str | None:
            with self.services.sessions() as db, db.begin():
                return registrations.pending_totp(
                    db, self.services.master_key, tenant.id, user.id, self._clock()
                )

        secret = await asyncio.to_thread(pending)
        if secret is None:
            raise PortalError(
                "already_registered",
                N_("An authenticator app is already set up. Remove it to set up another."),
            )
        account = user.user_principal_name or user.sam_account_name
        uri = totp.provisioning_uri(secret, account=account, issuer=tenant.name)
        return Enrolment(secret, totp.qr_svg(uri))

    async def confirm_authenticator(
        self, tenant: PortalTenant, token: str | None, code: str, *, language: str = "en"
    ) -> None:
        """The app's first code: the authenticator is on file if it is right.

        Raises:
            PortalError: not signed in; ``wrong_code`` (422, field ``code``).
        """
        user = await self.confirmed_user(tenant, token)

        def confirm() -> bool:
            now = self._clock()
            with self.services.sessions() as db, db.begin():
                ok = registrations.confirm_totp(
                    db, self.services.master_key, tenant.id, user.id, code, now
                )
                audit.record(
                    db,
                    tenant_id=tenant.id,
                    user_id=user.id,
                    activity=audit.Activity.REGISTER_METHOD,
                    success=ok,
                    at=now,
                    method=Method.TOTP.value,
                )
                return ok

        if not await asyncio.to_thread(confirm):
            raise PortalError(
                "wrong_code",
                N_("The code is not correct. Type the 6-digit code the app shows now."),
                field="code",
                user_id=user.id,
            )
        self.accounts.portal.notify(tenant, user.id, Notice.SECURITY_INFO, language)

    async def passkey_options(
        self, tenant: PortalTenant, token: str | None, rp: passkey.RelyingParty
    ) -> str:
        """The options (JSON) for the browser to make a passkey, with a new
        challenge kept in the pending registration.

        Raises:
            PortalError: not signed in; ``method_not_allowed`` (403);
                ``already_registered`` (409).
        """
        user = await self.confirmed_user(tenant, token)
        await self.allowed_by_policy(tenant, Method.PASSKEY)

        def pending() -> str | None:
            with self.services.sessions() as db, db.begin():
                return registrations.pending_passkey(db, tenant.id, user.id, self._clock())

        challenge = await asyncio.to_thread(pending)
        if challenge is None:
            raise PortalError(
                "already_registered",
                N_("A passkey is already set up. Remove it to set up another."),
            )
        return passkey.registration_options(
            rp,
            challenge=challenge,
            user_handle=user.id,
            user_name=user.user_principal_name or user.sam_account_name,
            display_name=user.sam_account_name,
        )

    async def confirm_passkey(
        self,
        tenant: PortalTenant,
        token: str | None,
        credential: str,
        rp: passkey.RelyingParty,
        *,
        language: str = "en",
    ) -> None:
        """The browser's new passkey: on file if it answers the pending challenge.

        Raises:
            PortalError: not signed in; ``passkey_refused`` (422, field ``passkey``).
        """
        user = await self.confirmed_user(tenant, token)
        await self.allowed_by_policy(tenant, Method.PASSKEY)

        def confirm() -> bool:
            now = self._clock()
            with self.services.sessions() as db, db.begin():
                ok = registrations.confirm_passkey(db, rp, tenant.id, user.id, credential, now)
                audit.record(
                    db,
                    tenant_id=tenant.id,
                    user_id=user.id,
                    activity=audit.Activity.REGISTER_METHOD,
                    success=ok,
                    at=now,
                    method=Method.PASSKEY.value,
                )
                return ok

        if not await asyncio.to_thread(confirm):
            raise PortalError(
                "passkey_refused",
                N_("The passkey could not be set up. Try again, and follow your browser."),
                field="passkey",
                user_id=user.id,
            )
        self.accounts.portal.notify(tenant, user.id, Notice.SECURITY_INFO, language)

    # -- test a method (G2): prove it works now, nothing changed ----------------

    async def test_authenticator(self, tenant: PortalTenant, token: str | None, code: str) -> None:
        """Check a code of the user's app, as a gate would: the code is taken,
        and a wrong one counts with the gate's after a first one (10 an hour,
        T1: the password proved who this is, so strangers' tries do not count).

        Raises:
            PortalError: not signed in; ``wrong_code`` (422, field ``code``).
        """
        _, user = await self.accounts.signed_in(tenant, token)

        def check() -> bool:
            now = self._clock()
            with self.services.sessions() as db, db.begin():
                counted_as = after_a_gate(user.id)
                tried = blocks.failures(db, tenant.id, counted_as, Method.TOTP.value, now)
                ok = tried < blocks.MAX_WRONG_APP_CODES and registrations.check_totp(
                    db, self.services.master_key, tenant.id, user.id, code, now
                )
                _record_test(db, tenant.id, user.id, Method.TOTP, ok, now, counted_as)
                return ok

        if not await asyncio.to_thread(check):
            raise PortalError(
                "wrong_code",
                N_("The code is not correct. Type the 6-digit code the app shows now."),
                field="code",
                user_id=user.id,
            )

    async def passkey_test_options(
        self, tenant: PortalTenant, token: str | None, rp: passkey.RelyingParty
    ) -> str:
        """The options (JSON) to test the user's passkey.

        Raises:
            PortalError: not signed in; ``method_not_allowed`` (403) without a passkey.
        """
        _, user = await self.accounts.signed_in(tenant, token)

        def challenge() -> str | None:
            with self.services.sessions() as db, db.begin():
                return registrations.passkey_test_challenge(db, tenant.id, user.id)

        found = await asyncio.to_thread(challenge)
        if found is None:
            raise PortalError("method_not_allowed", N_("You have no passkey set up."))
        return passkey.authentication_options(rp, challenge=found)

    async def test_passkey(
        self, tenant: PortalTenant, token: str | None, credential: str, rp: passkey.RelyingParty
    ) -> None:
        """Check the browser's answer with the user's passkey.

        Raises:
            PortalError: not signed in; ``passkey_refused`` (422, field ``passkey``).
        """
        _, user = await self.accounts.signed_in(tenant, token)

        def check() -> bool:
            now = self._clock()
            with self.services.sessions() as db, db.begin():
                challenge = registrations.take_test_challenge(db, tenant.id, user.id)
                ok = challenge is not None and registrations.check_passkey(
                    db, rp, tenant.id, user.id, challenge, credential
                )
                _record_test(db, tenant.id, user.id, Method.PASSKEY, ok, now)
                return ok

        if not await asyncio.to_thread(check):
            raise PortalError(
                "passkey_refused",
                N_("Your passkey did not answer. Try again, and follow your browser."),
                field="passkey",
                user_id=user.id,
            )

    async def question_form(self, tenant: PortalTenant, token: str | None) -> GatePolicy:
        """The policy the form follows: how many questions the user registers
        (the tenant's N), and the tenant's own questions beside the predefined.

        Raises:
            PortalError: not signed in; ``method_not_allowed`` (403).
        """
        await self.confirmed_user(tenant, token)
        return await self.allowed_by_policy(tenant, Method.QUESTIONS)

    async def set_questions(
        self,
        tenant: PortalTenant,
        token: str | None,
        keys: list[str],
        answers: list[str],
        *,
        language: str = "en",
    ) -> None:
        """Register the user's questions (G2): N different ones of the tenant's, each
        answer at least 3 characters, not the username, not another answer.
        Nothing is kept unless all are right.

        Raises:
            PortalError: not signed in; ``invalid_answer`` (422, field
                ``answer-<n>``) or ``invalid_question`` (422).
        """
        user = await self.confirmed_user(tenant, token)
        policy = await self.allowed_by_policy(tenant, Method.QUESTIONS)
        count = policy.questions_to_register
        if (
            len(keys) != count
            or len(answers) != count
            or len(set(keys)) != count
            or not set(keys) <= set(questions.pool(policy.custom_questions))
        ):
            raise PortalError(
                "invalid_question",
                N_("Choose a different question for each answer."),
                user_id=user.id,
            )
        seen: list[str] = []
        for number, answer in enumerate(answers, 1):
            problem = questions.answer_problem(answer, username=user.sam_account_name, others=seen)
            if problem is None and user.user_principal_name:
                local = user.user_principal_name.partition("@")[0]
                problem = questions.answer_problem(answer, username=local, others=seen)
            if problem is not None:
                raise PortalError(
                    "invalid_answer", problem, field=f"answer-{number}", user_id=user.id
                )
            seen.append(questions.normalise(answer))

        def store() -> None:
            now = self._clock()
            with self.services.sessions() as db, db.begin():
                registrations.set_questions(
                    db, tenant.id, user.id, dict(zip(keys, answers, strict=True)), now
                )
                audit.record(
                    db,
                    tenant_id=tenant.id,
                    user_id=user.id,
                    activity=audit.Activity.REGISTER_METHOD,
                    success=True,
                    at=now,
                    method=Method.QUESTIONS.value,
                    questions=count,
                )

        await asyncio.to_thread(store)
        self.accounts.portal.notify(tenant, user.id, Notice.SECURITY_INFO, language)

    async def remove(
        self, tenant: PortalTenant, token: str | None, method: Method, *, language: str = "en"
    ) -> None:
        user = await self.confirmed_user(tenant, token)

        def forget() -> bool:
            now = self._clock()
            with self.services.sessions() as db, db.begin():
                if not registrations.remove(db, tenant.id, user.id, method):
                    return False
                audit.record(
                    db,
                    tenant_id=tenant.id,
                    user_id=user.id,
                    activity=audit.Activity.REMOVE_METHOD,
                    success=True,
                    at=now,
                    method=method.value,
                )
                return True

        if await asyncio.to_thread(forget):
            self.accounts.portal.notify(tenant, user.id, Notice.SECURITY_INFO, language)

    async def allowed_by_policy(self, tenant: PortalTenant, method: Method) -> GatePolicy:
        """Raises PortalError ``method_not_allowed`` (403) when the tenant's
        policy does not allow ``method``."""

        def read() -> GatePolicy:
            with self.services.sessions() as db:
                return gate_policy(db, tenant.id)

        policy = await asyncio.to_thread(read)
        if method not in policy.methods:
            raise PortalError(
                "method_not_allowed",
                N_("Your organisation does not use this method."),
            )
        return policy


def _record_test(
    db: Session,
    tenant_id: str,
    user_id: str,
    method: Method,
    ok: bool,
    now: dt.datetime,
    counted_as: str | None = None,
) -> None:
    """A method tested in Security info: a gate event (E5), counted as the
    gate's own (T1), as ``counted_as``'s (the user's by default)."""
    audit.record(
        db,
        tenant_id=tenant_id,
        user_id=user_id,
        activity=audit.Activity.GATE,
        success=ok,
        at=now,
        method=method.value,
        subject=counted_as,
        check="test",
    )


def mask_mail(mail: str) -> str:
    """``alice@contoso.test`` → ``a•••@contoso.test``: enough to recognise, not to collect."""
    local, at, domain = mail.partition("@")
    return f"{local[:1]}•••{at}{domain}" if at else f"{mail[:1]}•••"
