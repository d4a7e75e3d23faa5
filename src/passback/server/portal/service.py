"""The self-service reset as use-cases, shared by the pages and the JSON API
(SPEC W1, W2, W8, T2): start with a username, enter the emailed code, set the
new password. Each call checks the flow's step; none can be skipped.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import functools
import json
import logging
import math
from collections.abc import Awaitable, Callable

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from passback.policy import gates
from passback.policy.gates import GatePolicy, Method
from passback.protocol.operations import Operation
from passback.protocol.outcomes import Outcome
from passback.server import audit, entitlements, support, writeback
from passback.server.directory_users import MAX_USERNAME, users_named
from passback.server.errors import NotFound, Refused
from passback.server.gate_policies import gate_policy
from passback.server.i18n import LOCALES, Catalogs, Translator
from passback.server.i18n.translations import N_
from passback.server.notify import MailError, MailMessage
from passback.server.portal import blocks, flow, help_requests, registrations
from passback.server.portal.codes import Hasher, flow_hash
from passback.server.portal.errors import (
    ENDING_OUTCOMES,
    FlowRefused,
    PortalError,
    Refusal,
    refusal_error,
    writeback_error,
)
from passback.server.portal.gates import email_gate, registry
from passback.server.portal.gates.base import Answer, Armed, At, subject
from passback.server.portal.help_mail import help_mail
from passback.server.portal.notice_mail import Notice, notice_mail
from passback.server.ratelimit import address_key
from passback.server.rules import PasswordRules, rules_for, rules_from_json
from passback.server.services import Services
from passback.server.store.models import DirectoryUser, PortalFlow, Tenant, utcnow
from passback.server.types import Clock, MailSender, PhoneSender, RateLimiter

logger = logging.getLogger(__name__)

BLOCKED = N_(
    "Too many attempts for this account from your network: you can try again after "
    "%(until)s. Your administrator can lift this sooner."
)
#: Built once (building a statement costs more than running it on SQLite).
_TENANT_BY_SLUG = select(Tenant).where(Tenant.slug == bindparam("slug"))
UNAVAILABLE = N_("Your password can't be reset right now. Try again in a few minutes.")
#: E1, G6: the seed's words for a feature the user has no licence or scope for.
NOT_ENABLED = N_(
    "Your administrator has not enabled this feature for your account. Contact your "
    "administrator to reset or unlock your password."
)


@dataclasses.dataclass(frozen=True)
class SelfService:
    """Whether the tenant's users may use self-service (E1, G6), as read with
    the tenant for one request."""

    #: Why none of them may, whoever they are; None: those in scope may.
    refused: entitlements.Refusal | None
    #: The policy, for what depends on the user (the scope's group, assignment).
    policy: GatePolicy

    @classmethod
    def read(cls, db: Session, tenant: Tenant) -> SelfService:
        policy = gate_policy(db, tenant.id)
        return cls(entitlements.tenant_refusal(tenant, policy), policy)

    def refusal(self, user: DirectoryUser) -> entitlements.Refusal | None:
        """Why ``user`` may not use self-service (reset, unlock, change), or None."""
        return self.refused or entitlements.user_refusal(self.policy, user)


@dataclasses.dataclass(frozen=True)
class PortalTenant:
    id: str
    name: str
    slug: str
    #: The server refuses common and easily guessed passwords (the rules say so).
    refuse_common: bool = True
    #: Read with the tenant by :meth:`Portal.tenant`, at the request's start
    #: (each request reads it again); None: not read (the checks that need it
    #: read it themselves).
    self_service: SelfService | None = None


@dataclasses.dataclass(frozen=True)
class CodePassed:
    """The flow's new token once its code passed, and where the flow leads:
    the choice of another gate, or (``step`` PASSWORD) the purpose's page."""

    token: str = dataclasses.field(repr=False)
    purpose: flow.Purpose
    step: flow.Step = flow.Step.PASSWORD


@dataclasses.dataclass(frozen=True)
class Choice:
    """The methods the flow's next gate may use, and how many are passed."""

    methods: tuple[Method, ...]
    passed: int
    required: int


@dataclasses.dataclass(frozen=True)
class Ended:
    """How a user's own password operation ended, as the audit log keeps it
    (E5): recorded in a transaction the portal writes anyway (the flow moved
    on, the session changed), so that it costs no extra one."""

    tenant_id: str
    #: None: the username matched nobody (a sign-in); ``subject`` keys it.
    user_id: str | None
    activity: audit.Activity
    #: An ``Outcome`` value, or the code of the error that stopped the write.
    outcome: str
    support_code: str | None
    subject: str | None = None

    def record(self, db: Session, at: dt.datetime) -> None:
        audit.operation(
            db,
            tenant_id=self.tenant_id,
            user_id=self.user_id,
            activity=self.activity,
            outcome=self.outcome,
            support_code=self.support_code,
            at=at,
            subject=self.subject,
        )


@dataclasses.dataclass(frozen=True)
class Started:
    token: str = dataclasses.field(repr=False)
    expires_at: dt.datetime
    #: Sends the code; run after the answer went out, so that the answer takes
    #: the same time whether or not a mail is sent (T2). None: nothing to send.
    deliver: Callable[[], Awaitable[None]] | None
    #: The step the flow is at: a gate's code, the choice of a method, or a
    #: phone gate's number.
    step: flow.Step = flow.Step.CODE
    #: The page of that step, as the gate names it.
    page: str = "code"


class Portal:
    def __init__(
        self,
        services: Services,
        *,
        mailer: MailSender | None,
        limiter: RateLimiter,
        hasher: Hasher,
        catalogs: Catalogs,
        clock: Clock = utcnow,
        phone: PhoneSender | None = None,
    ) -> None:
        self.services = services
        self.mailer = mailer
        #: Sends phone gates' codes; None: no phone method is offered.
        self.phone = phone
        self.limiter = limiter
        self.hasher = hasher
        self.catalogs = catalogs
        self._clock = clock

    def now(self) -> dt.datetime:
        return self._clock()

    # -- steps ----------------------------------------------------------------

    async def tenant(self, slug: str) -> PortalTenant:
        """The tenant of the portal at ``slug``, read once for the request, with
        whether self-service is on for it.

        Raises:
            PortalError: ``tenant_not_found`` (404).
        """

        def load() -> PortalTenant | None:
            with self.services.sessions() as db:
                row = db.scalar(_TENANT_BY_SLUG, {"slug": slug})
                if row is None:
                    return None
                state = SelfService.read(db, row)
                return PortalTenant(row.id, row.name, row.slug, row.refuse_common, state)

        found = await asyncio.to_thread(load)
        if found is None:
            raise PortalError("tenant_not_found", N_("There is no such portal."))
        return found

    async def check_available(self, tenant: PortalTenant) -> None:
        """A reset may start only if the tenant has self-service (E1, G6), a
        code can be sent at all, and (W2) an agent of the tenant is connected.

        Raises:
            PortalError: ``not_enabled`` (403) or ``service_unavailable`` (503), at once.
        """
        await self.check_enabled(tenant)
        if self.mailer is None:
            raise PortalError(
                Outcome.SERVICE_UNAVAILABLE.value,
                UNAVAILABLE,
                note="no SMTP server is configured (passback server --smtp-host)",
            )
        await self._check_agent(tenant)

    async def check_agent(self, tenant: PortalTenant) -> None:
        """The tenant has self-service (E1, G6) and (W2) an agent of the
        tenant is connected.

        Raises:
            PortalError: ``not_enabled`` (403) or ``service_unavailable`` (503), at once.
        """
        await self.check_enabled(tenant)
        await self._check_agent(tenant)

    async def check_enabled(self, tenant: PortalTenant) -> None:
        """Self-service is on for the tenant: its plan has writeback (E1) and
        the policy's scope is not None (G6). Said of the tenant, whoever asks:
        nothing of an account shows (T2).

        Raises:
            PortalError: ``not_enabled`` (403).
        """

        def read() -> SelfService | None:
            with self.services.sessions() as db:
                row = db.get(Tenant, tenant.id)
                return SelfService.read(db, row) if row is not None else None

        state = tenant.self_service or await asyncio.to_thread(read)
        refused = state.refused if state is not None else None
        if refused is not None:
            raise PortalError("not_enabled", NOT_ENABLED, note=f"E1/G6: {refused} (tenant)")

    async def _check_agent(self, tenant: PortalTenant) -> None:
        if not await self.services.router.present(tenant.id):
            raise PortalError(
                Outcome.SERVICE_UNAVAILABLE.value,
                UNAVAILABLE,
                note="no agent of the tenant is connected (W2)",
            )

    async def start(
        self,
        tenant: PortalTenant,
        username: str,
        *,
        client: str,
        language: str,
        purpose: flow.Purpose = flow.Purpose.RESET,
    ) -> Started:
        """Look the user up and make a flow at the code step. Known or not,
        the answer is the same (T2); only a known user with a mail gets one.

        Raises:
            PortalError: ``rate_limited`` (429), ``service_unavailable`` (503),
                ``invalid_username`` (422).
        """
        if not await self.limiter.allow(address_key(client)):
            raise PortalError(
                "rate_limited",
                N_("Too many attempts from your network. Wait a few minutes and try again."),
            )
        await self.check_available(tenant)
        username = username.strip()
        if not username or len(username) > MAX_USERNAME:
            raise PortalError("invalid_username", N_("Enter your username."), field="username")
        started = await asyncio.to_thread(
            self._start, tenant, username, address_key(client), purpose
        )
        if isinstance(started, dt.datetime):
            raise PortalError(
                "blocked",
                BLOCKED,
                values={"until": started},
                note="T1: 5 starts for this username from this address within an hour",
            )
        new, user, to = started
        if new.row.step == flow.Step.CHOOSE.value:
            return Started(new.token, new.row.expires_at, None, flow.Step.CHOOSE)
        sending = email_gate.Sending(new.row.id_hash, new.code, new.row.blocked, user, new.link, to)
        deliver = email_gate.delivery(self, tenant, sending, username, language)
        return Started(new.token, new.row.expires_at, deliver)

    async def choice(self, tenant: PortalTenant, token: str | None) -> Choice:
        """The methods the flow's next gate may use. Before any gate passed,
        the tenant's allowed methods, the same for every username (T2); after
        one, the user's own that the policy allows and that are not passed.

        Raises:
            PortalError: not at the choice; ``not_enough_methods`` (409, the
                flow ends) when the user cannot pass the gates the policy
                requires, saying exactly what is missing (G6).
        """
        row = await self.require(tenant, token, flow.Step.CHOOSE)
        found = await asyncio.to_thread(self._choice, tenant, row)
        if isinstance(found, Choice):
            return found
        await asyncio.to_thread(self._end, row.id_hash)
        raise found

    def _choice(self, tenant: PortalTenant, row: PortalFlow) -> Choice | PortalError:
        passed = [Method(m) for m in flow.passed_gates(row)]
        with self.services.sessions() as db:
            policy = gate_policy(db, tenant.id)
            user = db.get(DirectoryUser, row.user_id) if passed and row.user_id else None
            if not passed:
                # Security questions come second when two gates are needed:
                # strangers then neither see an account's questions nor block them.
                first = policy.required < 2
                offered = [
                    m
                    for m in Method
                    if m in policy.methods
                    and self.serviceable(m)
                    and (first or registry.gate_of(m).first)
                ]
                return Choice(tuple(offered), 0, policy.required)
            on_file = (
                {m for m in registrations.on_file(db, user, policy.phone_region)}
                if user is not None
                else set()
            )
            on_file = {m for m in on_file if self.serviceable(m)}
        left = gates.choices(policy, on_file, passed)
        if left:
            return Choice(tuple(left), len(passed), policy.required)
        missing = gates.shortfall(policy, on_file)
        return PortalError(
            "not_enough_methods",
            N_(
                "Your organisation requires %(required)d ways to prove who you are, and "
                "only %(usable)d is on file for your account. Contact your administrator; "
                "once you can sign in, add another method under Security info in My account."
            ),
            values={"required": policy.required, "usable": missing.usable if missing else 0},
            user_id=row.user_id,
            flow_ended=True,
            note=f"G6: passed {','.join(flow.passed_gates(row))}, on file "
            f"{','.join(sorted(on_file))}",
        )

    async def choose(
        self, tenant: PortalTenant, token: str | None, method: str, *, language: str
    ) -> Started:
        """Put the flow at the gate of ``method``: an email code is sent (after
        the answer, as at the start); an authenticator needs nothing sent.

        Raises:
            PortalError: not at the choice, or ``method`` is not offered (422).
        """
        row = await self.require(tenant, token, flow.Step.CHOOSE)
        offered = await self.choice(tenant, token)
        if method not in {m.value for m in offered.methods}:
            raise PortalError(
                "invalid_method", N_("Choose one of the ways offered."), field="method"
            )
        armed = await asyncio.to_thread(self._arm, tenant, row.id_hash, Method(method), language)
        return Started(token or "", row.expires_at, armed.deliver, armed.step, armed.page)

    def _arm(self, tenant: PortalTenant, key: str, method: Method, language: str) -> Armed:
        """Move the flow to the gate of ``method``."""
        now = self._clock()
        with self.services.sessions() as db, db.begin():
            try:
                row = flow.require(db.get(PortalFlow, key), flow.Step.CHOOSE, now)
                return registry.gate_of(method).arm(At(db, self, tenant, row, now), language)
            except FlowRefused as refused:
                raise refusal_error(refused) from None

    async def send_again(
        self, tenant: PortalTenant, token: str | None, *, language: str
    ) -> Started:
        """G5 "try again": an email gate's code is sent again (a new code, within
        the caps); a phone gate goes back to its number (``step`` NUMBER).

        Raises:
            PortalError: not at the code step of an email or phone gate.
        """
        row = await self.require(tenant, token, flow.Step.CODE)

        def again() -> Armed | PortalError:
            now = self._clock()
            with self.services.sessions() as db, db.begin():
                try:
                    found = flow.require(db.get(PortalFlow, row.id_hash), flow.Step.CODE, now)
                    gate = registry.gate_of(found.gate)
                    return gate.again(At(db, self, tenant, found, now), language)
                except FlowRefused as refused:
                    return refusal_error(refused, row.user_id)

        armed = await asyncio.to_thread(again)
        if isinstance(armed, PortalError):
            raise armed
        return Started(token or "", row.expires_at, armed.deliver, armed.step, armed.page)

    async def help_offered(self, tenant: PortalTenant, row: PortalFlow) -> bool:
        """Whether the gate's page offers to ask the administrators (G5): the
        tenant named some, and this flow has not asked yet."""

        def read() -> bool:
            with self.services.sessions() as db:
                return bool(gate_policy(db, tenant.id).admin_contacts)

        return row.contacted_at is None and await asyncio.to_thread(read)

    async def ask_admin(self, tenant: PortalTenant, token: str | None, *, language: str) -> None:
        """G5: a user whom the gate's code does not reach asks the tenant's
        administrators for help; they are emailed who it is and what was
        tried. Once per flow; strangers can type anyone's username, so the
        mails are capped per account and per tenant, each cap with a share per
        client address (``help_requests``), and every request, mailed or
        not, is in the audit log the console's reports list. The answer is the
        same for every username (T2), mailed or not.

        Raises:
            PortalError: not at a gate's number or code step; ``no_admin_contacts``.
        """
        token_row = await self.require_gate(tenant, token)

        def ask() -> (
            tuple[tuple[str, ...], DirectoryUser, help_requests.Asked, bool, str]
            | PortalError
            | None
        ):
            now = self._clock()
            with self.services.sessions() as db, db.begin():
                row = db.get(PortalFlow, token_row.id_hash)
                if row is None:
                    return refusal_error(FlowRefused(Refusal.NO_FLOW))
                contacts = gate_policy(db, tenant.id).admin_contacts
                if not contacts:
                    return PortalError(
                        "no_admin_contacts",
                        N_(
                            "Your organisation has not set up help by email. "
                            "Contact your help desk."
                        ),
                    )
                # Once per flow, in one statement: of parallel requests one wins.
                claimed = db.execute(
                    update(PortalFlow)
                    .where(PortalFlow.id_hash == row.id_hash, PortalFlow.contacted_at.is_(None))
                    .values(contacted_at=now)
                    .execution_options(synchronize_session=False)
                )
                if int(claimed.rowcount) != 1:  # type: ignore[attr-defined]
                    return None
                # One request of a user at a time counts (the user's row lock, as
                # for the code caps), the same statements for no user (T2).
                db.execute(
                    update(DirectoryUser)
                    .where(DirectoryUser.id == (row.user_id or ""))
                    .values(id=DirectoryUser.id)
                    .execution_options(synchronize_session=False)
                )
                user = db.get(DirectoryUser, row.user_id or "")
                asked = help_requests.ask(db, row, now)
                if user is None:  # gone from the store since the start: no mail
                    row.help_mailed_at = None
                audit.record(
                    db,
                    tenant_id=tenant.id,
                    user_id=row.user_id,
                    activity=audit.Activity.ASK_ADMIN,
                    success=True,
                    at=now,
                    method=row.gate or Method.EMAIL.value,
                    subject=subject(row),
                    mailed=asked.held or "yes",
                )
                if user is None or asked.held is not None:
                    return None
                db.expunge(user)
                unlock = row.purpose == flow.Purpose.UNLOCK.value
                return contacts, user, asked, unlock, row.gate or Method.EMAIL.value

        found = await asyncio.to_thread(ask)
        if isinstance(found, PortalError):
            raise found
        if found is None:
            return
        contacts, user, asked, unlock, method = found
        t = Translator.for_locale(self.catalogs, language)
        when = self._clock()
        for address in contacts:
            message = help_mail(
                t,
                to=address,
                username=user.sam_account_name,
                principal=user.user_principal_name,
                unlock=unlock,
                method=method,
                when=when,
                tenant_name=tenant.name,
                last_for_account=asked.last_for_account,
                last_for_tenant=asked.last_for_tenant,
            )
            self.services.deferred.run_async(
                functools.partial(self._send_help, message), f"help mail to {address}"
            )

    async def _send_help(self, message: MailMessage) -> None:
        if self.mailer is None:
            return
        try:
            await self.mailer.send(message)
        except MailError as exc:
            logger.warning("portal: the help request to %s failed: %s", message.to, exc)

    async def require_gate(self, tenant: PortalTenant, token: str | None) -> PortalFlow:
        """The flow of ``token`` at a gate: its number step or its code step.

        Raises:
            PortalError: no such flow, or not at a gate.
        """
        try:
            return await self.require(tenant, token, flow.Step.CODE)
        except PortalError:
            return await self.require(tenant, token, flow.Step.NUMBER)

    async def at_gate(self, tenant: PortalTenant, token: str | None, method: Method) -> PortalFlow:
        """The flow of ``token`` at the answer of a gate of ``method`` (its page).

        Raises:
            PortalError: the flow is not at such a gate.
        """
        row = await self.require(tenant, token, flow.Step.CODE)
        if row.gate != method.value:
            raise refusal_error(FlowRefused(Refusal.WRONG_STEP), row.user_id)
        return row

    def serviceable(self, method: Method) -> bool:
        """Whether the server can run ``method``'s gate (a phone method needs
        a provider with its channel; the same for every username, T2)."""
        return registry.gate_of(method).serviceable(self)

    async def enter_number(
        self, tenant: PortalTenant, token: str | None, typed: str, *, language: str
    ) -> Started:
        """G4: the number on file, typed in full with its country code, at a
        gate that asks for it first (a phone gate); the right one sends the
        code (after the answer, as for mail).

        Raises:
            PortalError: not at a number step; the gate's refusal of the number.
        """
        row = await self.require(tenant, token, flow.Step.NUMBER)
        typed = typed.strip()

        def check() -> Armed | PortalError:
            now = self._clock()
            with self.services.sessions() as db, db.begin():
                try:
                    found = flow.require(db.get(PortalFlow, row.id_hash), flow.Step.NUMBER, now)
                except FlowRefused as refused:
                    return refusal_error(refused)
                gate = registry.gate_of(found.gate)
                return gate.enter_number(At(db, self, tenant, found, now), typed, language)

        armed = await asyncio.to_thread(check)
        if isinstance(armed, PortalError):
            raise armed
        return Started(token or "", row.expires_at, armed.deliver, armed.step, armed.page)

    async def enter(
        self,
        tenant: PortalTenant,
        token: str | None,
        answer: Answer,
        *,
        link: str | None = None,
        language: str | None = None,
        device: str | None = None,
    ) -> CodePassed:
        """Check ``answer`` at the flow's gate (found by ``token``, or by the
        code mail's ``link``): the flow's new token once it passed (the old
        one is dead), and where the flow leads. ``device``: the browser's
        device token, if any (a gate may count its tries apart, T1).

        Raises:
            PortalError: the answer is wrong (attempts left), the gate takes
                another kind of answer or is blocked (T1), or the flow is not
                at a gate's answer, expired or ended.
        """

        def check() -> tuple[FlowRefused | str, PortalFlow | None]:
            now = self._clock()
            with self.services.sessions() as db, db.begin():
                if link is not None:  # from the code mail, maybe on another device
                    row = flow.find_by_link(db, tenant.id, link)
                else:
                    row = flow.find(db, tenant.id, token)
                try:
                    found = flow.require(row, flow.Step.CODE, now)
                    return self._check(At(db, self, tenant, found, now, device), answer), row
                except FlowRefused as refused:
                    return refused, row

        outcome, row = await asyncio.to_thread(check)
        if isinstance(outcome, FlowRefused):
            raise answer.refused(outcome, row)
        assert row is not None  # the gate passed: the flow exists
        await self.proven(tenant, row.user_id, flow_key=row.id_hash, language=language)
        return CodePassed(outcome, flow.Purpose(row.purpose), flow.Step(row.step))

    async def proven(
        self,
        tenant: PortalTenant,
        user_id: str | None,
        *,
        flow_key: str | None = None,
        language: str | None = None,
    ) -> None:
        """A gate (or the directory password) proved who the user is
        (:meth:`proven_in`, in a transaction of its own).

        Raises:
            PortalError: ``not_enabled`` (403).
        """

        def check() -> entitlements.Refusal | None:
            with self.services.sessions() as db, db.begin():
                return self.proven_in(db, tenant, user_id, flow_key=flow_key, language=language)

        refused = await asyncio.to_thread(check)
        if refused is not None:
            raise self.not_enabled(user_id, refused, flow_ended=flow_key is not None)

    def proven_in(
        self,
        db: Session,
        tenant: PortalTenant,
        user_id: str | None,
        *,
        flow_key: str | None = None,
        language: str | None = None,
    ) -> entitlements.Refusal | None:
        """A gate (or the directory password) proved who the user is, in the
        caller's transaction: keep the portal's ``language`` as theirs (notices
        to them are written in it), and — only now (T2) — tell whether
        self-service is not enabled for them (E1, G6): the tenant's plan, the
        policy's scope, or a missing assignment. If it is not, the flow of
        ``flow_key`` ends and the refusal is audited; the caller answers
        :meth:`not_enabled`."""
        user = db.get(DirectoryUser, user_id) if user_id else None
        if user is None:
            return None
        if language in LOCALES:
            user.language = language
        state = tenant.self_service  # read with the tenant, for this request
        if state is None:
            row = db.get(Tenant, tenant.id)
            if row is None:
                return None
            state = SelfService.read(db, row)
        refused = state.refusal(user)
        if refused is None:
            return None
        now = self._clock()
        if flow_key is not None:
            found = db.get(PortalFlow, flow_key)
            if found is not None:
                flow.end(found, now)
        audit.record(
            db,
            tenant_id=tenant.id,
            user_id=user.id,
            activity=audit.Activity.NOT_ENABLED,
            success=False,
            at=now,
            reason=refused.value,
        )
        return refused

    @staticmethod
    def not_enabled(
        user_id: str | None, refused: entitlements.Refusal, *, flow_ended: bool = False
    ) -> PortalError:
        """What a user whom self-service is not enabled for is told (E1, G6)."""
        return PortalError(
            "not_enabled",
            NOT_ENABLED,
            user_id=user_id,
            flow_ended=flow_ended,
            note=f"E1/G6: {refused}",
        )

    async def password_step(self, tenant: PortalTenant, token: str | None) -> PasswordRules | None:
        """The rules for the flow's user, once the code passed (None: no agent
        could tell).

        Raises:
            PortalError: the flow is not at the password step.
        """
        row = await self.require(tenant, token, flow.Step.PASSWORD)
        await self._refuse_disabled(row)
        kept = rules_from_json(row.rules_json)
        if kept is not None:
            return kept  # the agent already reported them for this flow
        rules = await rules_for(self.services, tenant.id, _user_of(row))
        if rules is not None:
            await asyncio.to_thread(self._keep_rules, row.id_hash, rules)
        return rules

    def _keep_rules(self, key: str, rules: PasswordRules) -> None:
        with self.services.sessions() as db, db.begin():
            db.execute(
                update(PortalFlow)
                .where(PortalFlow.id_hash == key)
                .values(rules_json=json.dumps(dataclasses.asdict(rules)))
                .execution_options(synchronize_session=False)
            )

    async def set_password(
        self,
        tenant: PortalTenant,
        token: str | None,
        new_password: str,
        confirm: str | None,
        *,
        language: str = "en",
    ) -> writeback.WritebackResult:
        """Write the new password back (W1): the directory's answer at once.

        Args:
            confirm: the password typed again (pages); None when not asked (API).

        Raises:
            PortalError: not at the password step; ``not_enabled`` (E1, G6:
                no longer, the flow ends); the two passwords differ; the
                directory refused (its ``Outcome``, with the support code of
                the operation).
        """
        row = await self.require(tenant, token, flow.Step.PASSWORD)
        user_id = _user_of(row)
        # E1, G6 again: an assignment, the scope or the plan may have changed
        # since the gate.
        await self.proven(tenant, user_id, flow_key=row.id_hash)
        if not new_password:
            raise PortalError(
                "empty", N_("Enter the new password."), field="new_password", user_id=user_id
            )
        if confirm is not None and confirm != new_password:
            raise PortalError(
                "mismatch",
                N_("The two passwords are not the same. Type them again."),
                field="confirm_password",
                user_id=user_id,
            )
        # H2: one request at a time writes, and each try counts.
        pending = await asyncio.to_thread(self._claim_password_step, row.id_hash, user_id)

        async def write() -> writeback.WritebackResult:
            # The agent's journal answers a retry of a request whose outcome
            # was unknown; with another password it refuses it as a replay,
            # and a new request writes the password the user typed now.
            result = await self._write(tenant, user_id, new_password, pending)
            if pending is not None and result.outcome is Outcome.REPLAYED:
                result = await self._write(tenant, user_id, new_password, None)
            return result

        reset = functools.partial(Ended, tenant.id, user_id, audit.Activity.RESET_PASSWORD)
        result = await self._while_held(row.id_hash, user_id, pending, write, reset)
        ended = reset(result.outcome.value, result.support_code)
        if result.outcome is Outcome.OK:
            await self._settle(row.id_hash, done=True, ended=ended)
            self.notify(tenant, user_id, Notice.RESET, language)
            return result
        ending = result.outcome in ENDING_OUTCOMES
        unknown = result.outcome is Outcome.OUTCOME_UNKNOWN
        released = await self._settle(
            row.id_hash,
            end=ending,
            pending=result.request_id if unknown else None,
            ended=ended,
        )
        raise self._refused(result, user_id, ending=ending, released=released)

    async def unlock_step(self, tenant: PortalTenant, token: str | None) -> PortalFlow:
        """The flow, once its code passed, if it was started to unlock.

        Raises:
            PortalError: the flow is not at that step, or was started to reset.
        """
        row = await self.require(tenant, token, flow.Step.PASSWORD)
        if row.purpose != flow.Purpose.UNLOCK.value:
            raise refusal_error(FlowRefused(Refusal.WRONG_STEP), row.user_id)
        await self._refuse_disabled(row)
        return row

    async def _refuse_disabled(self, row: PortalFlow) -> None:
        """T2: an account the directory reports disabled is told so right
        after the gates, before a new password is typed (never before: the
        gates prove who is asking); the flow ends.

        Raises:
            PortalError: ``disabled`` (409).
        """

        def enabled() -> bool:
            with self.services.sessions() as db:
                user = db.get(DirectoryUser, row.user_id) if row.user_id else None
                return user is None or user.enabled

        if await asyncio.to_thread(enabled):
            return
        await asyncio.to_thread(self._end, row.id_hash)
        raise PortalError.of_outcome(
            Outcome.DISABLED,
            {},
            request_id="",
            support_code=support.new_code(),
            user_id=row.user_id or "",
            flow_ended=True,
        )

    async def unlock(
        self, tenant: PortalTenant, token: str | None, *, language: str = "en"
    ) -> None:
        """Unlock the flow's user's account, the password untouched (W3); once
        per flow (again: nothing is written). The flow stays at the password
        step, so the user may also choose a new password.

        Raises:
            PortalError: not at the unlock step; the directory refused (its
                ``Outcome``, with the support code of the operation).
        """
        row = await self.unlock_step(tenant, token)
        user_id = _user_of(row)
        await self.proven(tenant, user_id, flow_key=row.id_hash)  # E1, G6 again
        if row.unlocked_at is not None:
            return
        # The step is held as for a password, and the unlock counts as one of
        # the flow's writes. It is idempotent: a new request id every time,
        # and a pending password request keeps its id for the password step.
        pending = await asyncio.to_thread(self._claim_password_step, row.id_hash, user_id)

        async def write() -> writeback.WritebackResult:
            return await writeback.write_account(
                Operation.UNLOCK,
                services=self.services,
                tenant_id=tenant.id,
                user=writeback.UserId(user_id),
            )

        unlock = functools.partial(Ended, tenant.id, user_id, audit.Activity.UNLOCK_ACCOUNT)
        result = await self._while_held(row.id_hash, user_id, pending, write, unlock)
        ending = result.outcome in ENDING_OUTCOMES and result.outcome is not Outcome.LOCKED
        released = await self._settle(
            row.id_hash,
            end=ending,
            pending=pending,
            unlocked=result.outcome is Outcome.OK,
            ended=unlock(result.outcome.value, result.support_code),
        )
        if result.outcome is not Outcome.OK:
            raise self._refused(result, user_id, ending=ending, released=released)
        self.notify(tenant, user_id, Notice.UNLOCKED, language)

    def notify(self, tenant: PortalTenant, user_id: str, notice: Notice, language: str) -> None:
        """Email the user that ``notice`` happened (G9), unless it is a notice
        the policy may turn off and did, once the answer is out
        (``Services.deferred``): a mail that cannot be sent is logged and undoes
        nothing."""
        self.services.deferred.run_async(
            functools.partial(self._send_notice, tenant, user_id, notice, language),
            f"{notice} notice for user {user_id}",
        )

    async def _send_notice(
        self, tenant: PortalTenant, user_id: str, notice: Notice, language: str
    ) -> None:
        def mail_of() -> tuple[str | None, str] | None:
            """The user's address and language; None: the policy turned it off."""
            with self.services.sessions() as db:
                if notice.optional and not gate_policy(db, tenant.id).notify_users:
                    return None
                user = db.get(DirectoryUser, user_id)
                if user is None:
                    return None, language
                return user.mail, user.language or language

        try:
            found = await asyncio.to_thread(mail_of)
            if found is None:
                logger.info("portal: no %s notice for user %s: the policy is off", notice, user_id)
                return
            to, own = found
            if to is None or self.mailer is None:
                logger.info("portal: no %s notice for user %s: no mail address", notice, user_id)
                return
            t = Translator.for_locale(self.catalogs, own if own in LOCALES else language)
            message = notice_mail(t, notice, to=to, when=self._clock(), tenant_name=tenant.name)
            await self.mailer.send(message)
        except Exception as exc:  # noqa: BLE001 - a notice must never undo the operation
            logger.warning("portal: the %s notice for user %s failed: %s", notice, user_id, exc)

    # -- helpers ----------------------------------------------------------------

    async def _while_held(
        self,
        key: str,
        user_id: str,
        pending: str | None,
        write: Callable[[], Awaitable[writeback.WritebackResult]],
        ended: Callable[[str, str | None], Ended],
    ) -> writeback.WritebackResult:
        """Run ``write`` while this request holds the flow's step; if it
        fails on the way, the step is left (as it was, or ended) and the
        refusal audited as ``ended`` tells.

        Raises:
            PortalError: the user left the directory (the flow ends), or the
                writeback refused the request.
        """
        try:
            return await write()
        except NotFound:  # the user left the directory since the flow started
            code = support.new_code()
            await self._settle(key, end=True, ended=ended(Outcome.USER_NOT_FOUND.value, code))
            raise PortalError.of_outcome(
                Outcome.USER_NOT_FOUND,
                {},
                request_id="",
                support_code=code,
                user_id=user_id,
                flow_ended=True,
            ) from None
        except Refused as exc:
            # The audit event names the code the user is shown.
            exc.support_code = exc.support_code or support.new_code()
            released = await self._settle(
                key, pending=pending, ended=ended(exc.code, exc.support_code)
            )
            if not released:
                raise self._too_many_passwords(user_id, exc.request_id, exc.support_code) from None
            raise writeback_error(exc, user_id) from None
        except BaseException:  # anything unforeseen: the step is not left held
            await self._settle(key, pending=pending)
            raise

    def _refused(
        self, result: writeback.WritebackResult, user_id: str, *, ending: bool, released: bool
    ) -> PortalError:
        """The error for a write the directory did not take."""
        if not ending and not released:
            return self._too_many_passwords(user_id, result.request_id, result.support_code)
        return PortalError.of_outcome(
            result.outcome,
            result.detail,
            request_id=result.request_id,
            support_code=result.support_code,
            user_id=user_id,
            flow_ended=ending,
        )

    async def _write(
        self, tenant: PortalTenant, user_id: str, new_password: str, request_id: str | None
    ) -> writeback.WritebackResult:
        return await writeback.reset_password(
            Operation.RESET,
            services=self.services,
            tenant_id=tenant.id,
            user=writeback.UserId(user_id),
            new_password=new_password,
            request_id=request_id,
        )

    def _start(
        self, tenant: PortalTenant, username: str, client: str, purpose: flow.Purpose
    ) -> tuple[flow.NewFlow, DirectoryUser | None, tuple[str, ...]] | dt.datetime:
        """``client``: the starting address's limiter key (``address_key``).
        A tenant that allows only the email code starts at its gate (as the
        portal always did); one that allows more starts at the choice. When
        this address may not start another flow for this username (T1), when
        the block ends instead."""
        now = self._clock()
        who, client_hash = self.hasher.who_hash(username), self.hasher.client_hash(client)
        with self.services.sessions() as db, db.begin():
            until = blocks.active(db, tenant.id, who, blocks.Scope.RESET, now, client_hash)
            if until is None and blocks.starts(db, tenant.id, who, client_hash, now) >= (
                blocks.MAX_RESET_STARTS
            ):
                until = blocks.block(db, tenant.id, who, blocks.Scope.RESET, now, client_hash)
            if until is not None:
                return until
            matches = users_named(db, tenant.id, username)
            user = matches[0] if len(matches) == 1 else None
            policy = gate_policy(db, tenant.id)
            choose = offers_choice(policy)
            blocked: flow.Blocked | None = None
            to: tuple[str, ...] = ()
            if not choose:
                blocked, to = email_gate.held_back(db, tenant.id, user, client_hash, now)
            new = flow.new_flow(
                self.hasher,
                tenant_id=tenant.id,
                user_id=user.id if user else None,
                client=client,
                blocked=blocked,
                code_ttl=self.services.settings.code_ttl,
                now=now,
                purpose=purpose,
                choose=choose,
                who_hash=who,
            )
            db.add(new.row)
            if not choose:
                email_gate.count_send(db, new.row, now)
            if user is not None:
                db.expunge(user)
        return new, user, to

    async def offers_choice(self, tenant: PortalTenant) -> bool:
        """Whether the tenant's users choose the method of their gates."""

        def read() -> bool:
            with self.services.sessions() as db:
                return offers_choice(gate_policy(db, tenant.id))

        return await asyncio.to_thread(read)

    async def choose_again(self, tenant: PortalTenant, token: str | None) -> None:
        """Back from a gate to the choice of its method (a tenant that offers
        a choice only).

        Raises:
            PortalError: not at a gate, or the tenant offers no choice.
        """

        def back() -> FlowRefused | None:
            now = self._clock()
            with self.services.sessions() as db, db.begin():
                row = flow.find(db, tenant.id, token)
                try:
                    at_number = row is not None and row.step == flow.Step.NUMBER.value
                    row = flow.require(row, flow.Step.NUMBER if at_number else flow.Step.CODE, now)
                    if not offers_choice(gate_policy(db, tenant.id)):
                        raise FlowRefused(Refusal.WRONG_STEP)
                    flow.back_to_choice(row, now)
                except FlowRefused as refused:
                    return refused
                return None

        refused = await asyncio.to_thread(back)
        if refused is not None:
            raise refusal_error(refused)

    def _end(self, key: str) -> None:
        with self.services.sessions() as db, db.begin():
            row = db.get(PortalFlow, key)
            if row is not None:
                flow.end(row, self._clock())

    def _check(self, at: At, answer: Answer) -> str:
        """The flow's new token if ``answer`` passes its gate. H1: the try is
        counted by one atomic statement before the answer is compared, so
        parallel guesses cannot beat the limit (5 per flow)."""
        db, row, now = at.db, at.row, at.now
        gate = registry.gate_of(row.gate)
        if not isinstance(answer, gate.takes):
            raise FlowRefused(Refusal.WRONG_STEP)  # another gate's answer
        gate.admit(at)
        claimed = flow.claim_code_attempt(db, row.id_hash)
        db.refresh(row)
        if claimed is None:
            flow.require(row, flow.Step.CODE, now)  # moved on meanwhile: say how
            raise FlowRefused(Refusal.TOO_MANY_CODES)
        counted_as = gate.counted_as(at)  # before the flow moves on
        matches = gate.check(at, answer)
        try:
            return self._pass(at, gate.method, matches, counted_as)
        except FlowRefused:
            gate.failed(at)
            raise

    def _pass(self, at: At, gate: Method, matches: bool, counted_as: str) -> str:
        """Record the gate attempt (E5), as ``counted_as``'s (T1), and move the
        flow (``flow.pass_gate``)."""
        db, row = at.db, at.row
        audit.record(
            db,
            tenant_id=at.tenant.id,
            user_id=row.user_id,
            activity=audit.Activity.GATE,
            success=matches,
            at=at.now,
            method=gate.value,
            subject=counted_as,
        )
        passed = [*(Method(m) for m in flow.passed_gates(row)), gate]
        done = gates.satisfied(gate_policy(db, at.tenant.id), passed)
        return flow.pass_gate(row, matches=matches, done=done, now=at.now)

    def _claim_password_step(self, key: str, user_id: str) -> str | None:
        """Take the flow's password step for this request; the pending request
        id to reuse, if any.

        Raises:
            PortalError: another request holds the step, the flow moved on,
                or its password attempts are used up.
        """
        with self.services.sessions() as db, db.begin():
            claimed = flow.claim_password_step(db, key)
            if claimed is not None:
                return claimed[1]
            row = db.get(PortalFlow, key)
            try:
                flow.require(row, flow.Step.PASSWORD, self._clock())
            except FlowRefused as refused:
                raise refusal_error(refused, user_id) from None
        raise self._too_many_passwords(user_id, None, None)

    async def _settle(
        self,
        key: str,
        *,
        done: bool = False,
        end: bool = False,
        pending: str | None = None,
        unlocked: bool = False,
        ended: Ended | None = None,
    ) -> bool:
        """Leave the ``writing`` step: ``done``, ``end``, or back to the
        password step keeping ``pending`` (``unlocked``: the account was just
        unlocked); the write audited as it ``ended``, in the same transaction.
        False: the flow ended."""

        def settle() -> bool:
            now = self._clock()
            with self.services.sessions() as db, db.begin():
                if ended is not None:
                    ended.record(db, now)
                row = db.get(PortalFlow, key)
                if row is None or row.step != flow.Step.WRITING.value:
                    return False
                if done:
                    flow.finish(row, now)
                    return False
                if end:
                    flow.end(row, now)
                    return False
                if unlocked:
                    row.unlocked_at = now
                return flow.release(row, pending, now)

        return await asyncio.to_thread(settle)

    @staticmethod
    def _too_many_passwords(
        user_id: str, request_id: str | None, support_code: str | None
    ) -> PortalError:
        error = refusal_error(FlowRefused(Refusal.TOO_MANY_PASSWORDS), user_id)
        error.request_id = request_id
        error.support_code = support_code
        return error

    async def require(self, tenant: PortalTenant, token: str | None, step: flow.Step) -> PortalFlow:
        """The tenant's flow of ``token``, alive at ``step``.

        Raises:
            PortalError: no such flow, expired, ended or at another step.
        """

        def check() -> PortalFlow | FlowRefused:
            with self.services.sessions() as db:
                try:
                    return flow.require(flow.find(db, tenant.id, token), step, self._clock())
                except FlowRefused as refused:
                    return refused

        found = await asyncio.to_thread(check)
        if isinstance(found, FlowRefused):
            raise refusal_error(found)
        return found

    async def gate_of(self, slug: str, token: str) -> tuple[str, str | None]:
        """The method of the gate the flow of ``token`` is at (``email`` if
        none), and for a phone gate the last digits of its number."""

        def read() -> tuple[str, str | None]:
            with self.services.sessions() as db:
                tenant = db.scalar(select(Tenant.id).where(Tenant.slug == slug))
                row = flow.find(db, tenant or "", token)
                if row is None:
                    return Method.EMAIL.value, None
                return row.gate or Method.EMAIL.value, registry.gate_of(row.gate).target(row)

        return await asyncio.to_thread(read)

    async def link_step(self, tenant: PortalTenant, link: str) -> int:
        """The minutes (started) that the code of the flow the code mail's
        ``link`` finds at its email gate still works.

        Raises:
            PortalError: no such flow, or it moved on, expired or ended.
        """

        def check() -> FlowRefused | int:
            now = self._clock()
            with self.services.sessions() as db:
                try:
                    row = flow.require(flow.find_by_link(db, tenant.id, link), flow.Step.CODE, now)
                except FlowRefused as refused:
                    return refused
                if row.gate not in (None, Method.EMAIL.value):
                    return FlowRefused(Refusal.WRONG_STEP)
                return math.ceil((row.expires_at - now).total_seconds() / 60)

        found = await asyncio.to_thread(check)
        if isinstance(found, FlowRefused):
            raise refusal_error(found)
        return found

    def link_csrf_token(self, link: str) -> str:
        return self.hasher.csrf_token("link:" + flow_hash(link))

    def link_csrf_matches(self, link: str, csrf: str) -> bool:
        return self.hasher.csrf_matches("link:" + flow_hash(link), csrf)

    def csrf_token(self, token: str) -> str:
        return self.hasher.csrf_token(flow_hash(token))

    def csrf_matches(self, token: str | None, csrf: str) -> bool:
        return token is not None and self.hasher.csrf_matches(flow_hash(token), csrf)


def offers_choice(policy: GatePolicy) -> bool:
    """Whether a tenant's users choose the method of their gates: a tenant
    that allows only the email code, once, starts at its gate (as the portal
    always did)."""
    return policy.methods != {Method.EMAIL} or policy.required != 1


def _user_of(row: PortalFlow) -> str:
    """The user of a flow past the code step.

    Raises:
        PortalError: the flow has no user (only blocked flows lack one, and
            they never pass the code step).
    """
    if row.user_id is None:
        raise refusal_error(FlowRefused(Refusal.WRONG_STEP))
    return row.user_id
