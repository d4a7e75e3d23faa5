"""Use-cases of "Security info" in My account (SPEC G2, G3, G8): the methods a
signed-in user has on file, and registering or removing them. Each item is
its own audit event (E5)."""

from __future__ import annotations

import asyncio
import dataclasses

from passback.policy.gates import GatePolicy, Method
from passback.server import audit
from passback.server.gate_policies import gate_policy
from passback.server.i18n.translations import N_
from passback.server.portal import registrations
from passback.server.portal.account import Accounts
from passback.server.portal.errors import PortalError
from passback.server.portal.gates import questions, totp
from passback.server.portal.service import PortalTenant
from passback.server.store.models import utcnow
from passback.server.types import Clock


@dataclasses.dataclass(frozen=True)
class SecurityView:
    username: str
    policy: GatePolicy
    #: The directory's mail, masked (``a•••@contoso.test``); None: none on file.
    mail: str | None
    methods: frozenset[Method]  # confirmed, on file


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

    async def view(self, tenant: PortalTenant, token: str | None) -> SecurityView:
        _, user = await self.accounts.signed_in(tenant, token)

        def read() -> SecurityView:
            with self.services.sessions() as db:
                return SecurityView(
                    username=user.sam_account_name,
                    policy=gate_policy(db, tenant.id),
                    mail=mask_mail(user.mail) if user.mail else None,
                    methods=frozenset(registrations.on_file(db, user)),
                )

        return await asyncio.to_thread(read)

    async def authenticator(self, tenant: PortalTenant, token: str | None) -> Enrolment:
        """The authenticator being set up (a new secret the first time).

        Raises:
            PortalError: not signed in; ``already_registered`` (409).
        """
        _, user = await self.accounts.signed_in(tenant, token)
        await self._allowed(tenant, Method.TOTP)

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
        self, tenant: PortalTenant, token: str | None, code: str
    ) -> None:
        """The app's first code: the authenticator is on file if it is right.

        Raises:
            PortalError: not signed in; ``wrong_code`` (422, field ``code``).
        """
        _, user = await self.accounts.signed_in(tenant, token)

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

    async def question_form(self, tenant: PortalTenant, token: str | None) -> int:
        """How many questions the user registers (the tenant's N).

        Raises:
            PortalError: not signed in; ``method_not_allowed`` (403).
        """
        await self.accounts.signed_in(tenant, token)
        policy = await self._allowed(tenant, Method.QUESTIONS)
        return policy.questions_to_register

    async def set_questions(
        self, tenant: PortalTenant, token: str | None, keys: list[str], answers: list[str]
    ) -> None:
        """Register the user's questions (G2): N different predefined ones, each
        answer at least 3 characters, not the username, not another answer.
        Nothing is kept unless all are right.

        Raises:
            PortalError: not signed in; ``invalid_answer`` (422, field
                ``answer-<n>``) or ``invalid_question`` (422).
        """
        _, user = await self.accounts.signed_in(tenant, token)
        count = (await self._allowed(tenant, Method.QUESTIONS)).questions_to_register
        if (
            len(keys) != count
            or len(answers) != count
            or len(set(keys)) != count
            or not set(keys) <= questions.QUESTIONS.keys()
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

    async def remove(self, tenant: PortalTenant, token: str | None, method: Method) -> None:
        _, user = await self.accounts.signed_in(tenant, token)

        def forget() -> None:
            now = self._clock()
            with self.services.sessions() as db, db.begin():
                if registrations.remove(db, tenant.id, user.id, method):
                    audit.record(
                        db,
                        tenant_id=tenant.id,
                        user_id=user.id,
                        activity=audit.Activity.REMOVE_METHOD,
                        success=True,
                        at=now,
                        method=method.value,
                    )

        await asyncio.to_thread(forget)

    async def _allowed(self, tenant: PortalTenant, method: Method) -> GatePolicy:
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


def mask_mail(mail: str) -> str:
    """``alice@contoso.test`` → ``a•••@contoso.test``: enough to recognise, not to collect."""
    local, at, domain = mail.partition("@")
    return f"{local[:1]}•••{at}{domain}" if at else f"{mail[:1]}•••"
