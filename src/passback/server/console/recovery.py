"""An administrator resets their own console password (U1, G7, G9): two gates,
never fewer — a code emailed to their address *and* a code of their
authenticator app — then the new password. Every session of theirs ends, and
every administrator of the tenant is told by mail (G9).

An unknown email address is answered exactly as a known one (T2): a token
that leads to a code form, where no code is ever right. Mails per
administrator and attempts per reset are capped; wrong authenticator codes
count with those of sign-ins, per administrator. An administrator who lost
the authenticator is given a new set-up link by another administrator
(``admins.new_setup``), or by the operator (``passback tenant admin-link
--new-setup``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging

from sqlalchemy import delete, select

from passback.server import audit
from passback.server.console import admins
from passback.server.console import sessions as states
from passback.server.console.errors import ConsoleError
from passback.server.console.service import (
    CODE_THROTTLED,
    TOO_MANY_CODES,
    Console,
    ConsoleTenant,
)
from passback.server.i18n import Translator
from passback.server.i18n.translations import N_
from passback.server.notify import MailMessage
from passback.server.portal.codes import flow_hash, new_code, new_flow_token
from passback.server.portal.ratelimit import address_key
from passback.server.store.models import Admin, AdminSession
from passback.server.types import MailSender, RateLimiter

logger = logging.getLogger(__name__)

WRONG_CODES = N_(
    "At least one code is not right. Type the code from the email and the one your "
    "authenticator app shows now."
)
EXPIRED = N_("This reset has ended. Start again.")
#: Reset mails per administrator within the window: enough for a lost mail,
#: too few to flood anyone's inbox.
MAX_RESET_MAILS = 3
RESET_MAIL_WINDOW = 3600.0


@dataclasses.dataclass(frozen=True)
class Started:
    token: str = dataclasses.field(repr=False)


class Recovery:
    def __init__(
        self,
        console: Console,
        *,
        mailer: MailSender | None,
        mails: RateLimiter,
    ) -> None:
        self.console = console
        self.mailer = mailer
        self.mails = mails  # reset mails per administrator
        self._tasks: set[asyncio.Future[None]] = set()

    async def start(
        self, tenant: ConsoleTenant, email: str, *, client: str, t: Translator
    ) -> Started:
        """A reset for the administrator of ``email``, if there is one; the same
        answer either way (T2).

        Raises:
            ConsoleError: ``rate_limited`` (429), ``mail_unavailable`` (503:
                this server sends no mail).
        """
        console = self.console
        if self.mailer is None:
            raise ConsoleError(
                "mail_unavailable",
                N_("This server sends no email: ask another administrator for a new set-up link."),
                status=503,
            )
        if not await console.address_limiter.allow("console-reset:" + address_key(client)):
            raise ConsoleError(
                "rate_limited",
                N_("Too many attempts from your network. Wait a few minutes and try again."),
                status=429,
            )
        try:
            canonical = admins.canonical_email(email)
        except ConsoleError:
            canonical = ""
        found = await asyncio.to_thread(console.active_admin, tenant, canonical)
        if found is None or not await self.mails.allow(f"console-reset:{found.id}"):
            return Started(new_flow_token())  # stored nowhere: no code is ever right
        code = new_code()

        def open_reset() -> str:
            now = console.now()
            with console.services.sessions() as db, db.begin():
                new = states.new_session(
                    tenant_id=tenant.id, admin_id=found.id, now=now, state=states.State.RESET_CODE
                )
                new.row.code_hash = console.hasher.code_hash(new.row.id_hash, code)
                db.add(new.row)
                return new.token

        token = await asyncio.to_thread(open_reset)
        message = MailMessage(
            to=found.email,
            subject=t.gettext(N_("Your code to reset your console password")),
            body=t.gettext(
                N_(
                    "Someone asked to reset the console password of %(email)s at "
                    "%(organisation)s.\n\nYour code: %(code)s\n\nIt works once, for 15 "
                    "minutes, together with a code of your authenticator app. If it was "
                    "not you, ignore this email: nothing changes without both codes."
                ),
                email=found.email,
                organisation=tenant.name,
                code=code,
            ),
            language=t.tag,
        )
        self._send(message)  # after the answer: the time tells nothing (T2)
        return Started(token)

    async def check_codes(
        self, tenant: ConsoleTenant, token: str | None, mailed: str, app: str
    ) -> None:
        """Both codes of the reset; then the new password may be chosen.

        Raises:
            ConsoleError: ``wrong_codes`` (field code), ``code_throttled``
                (429), ``too_many_codes`` or ``reset_ended`` (the reset is over).
        """
        console = self.console

        def admin_of() -> str | None:
            with console.services.sessions() as db, db.begin():
                row = db.get(AdminSession, flow_hash(token or ""))
                try:
                    return states.require(
                        _own(row, tenant), states.State.RESET_CODE, console.now()
                    ).admin_id
                except states.SessionRefused:
                    return None

        admin_id = await asyncio.to_thread(admin_of)
        if admin_id is None:  # an unknown email's token, or an ended reset
            raise ConsoleError("wrong_codes", WRONG_CODES, field="code")
        counter, key = console.code_counter(tenant, admin_id, None)
        if not await counter.allow(key):
            raise ConsoleError("code_throttled", CODE_THROTTLED, status=429, field="code")

        def check() -> ConsoleError | None:
            now = console.now()
            with console.services.sessions() as db, db.begin():
                row = states.require(
                    _own(db.get(AdminSession, flow_hash(token or "")), tenant),
                    states.State.RESET_CODE,
                    now,
                )
                admin = db.get(Admin, row.admin_id)
                assert admin is not None
                if not states.claim_code(db, row.id_hash):
                    db.delete(row)
                    return ConsoleError("too_many_codes", TOO_MANY_CODES, status=401)
                db.refresh(row)
                mail_right = console.hasher.code_matches(row.code_hash, row.id_hash, mailed)
                app_right = mail_right and admins.take_code(
                    db, admin, app, console.services.master_key, now
                )
                console.record(db, admin, audit.Activity.GATE, now, success=mail_right,
                               method="email")  # fmt: skip
                if mail_right:
                    console.record(db, admin, audit.Activity.GATE, now, success=app_right,
                                   method="totp")  # fmt: skip
                if not app_right:
                    if row.code_attempts >= states.MAX_CODE_ATTEMPTS:
                        db.delete(row)
                        return ConsoleError("too_many_codes", TOO_MANY_CODES, status=401)
                    return ConsoleError("wrong_codes", WRONG_CODES, field="code")
                row.state = states.State.RESET_PASSWORD.value
                row.code_hash = None
                return None

        try:
            refused = await asyncio.to_thread(check)
        except states.SessionRefused:
            raise ConsoleError("reset_ended", EXPIRED, status=410) from None
        if refused is not None:
            raise refused
        await counter.refund(key)

    async def set_password(
        self,
        tenant: ConsoleTenant,
        token: str | None,
        password: str,
        confirm: str,
        *,
        t: Translator,
    ) -> str:
        """The new password, after both codes; returns the email to sign in with.
        Every session of the administrator ends; every administrator of the
        tenant is told (G9).

        Raises:
            ConsoleError: the password is not acceptable, or ``reset_ended``.
        """
        console = self.console

        def change() -> tuple[Admin, list[str]]:
            now = console.now()
            with console.services.sessions() as db, db.begin():
                try:
                    row = states.require(
                        _own(db.get(AdminSession, flow_hash(token or "")), tenant),
                        states.State.RESET_PASSWORD,
                        now,
                    )
                except states.SessionRefused:
                    raise ConsoleError("reset_ended", EXPIRED, status=410) from None
                admin = db.get(Admin, row.admin_id)
                assert admin is not None
                admins.set_password(admin, password, confirm)
                db.execute(delete(AdminSession).where(AdminSession.admin_id == admin.id))
                console.record(db, admin, audit.Activity.ADMIN_PASSWORD_RESET, now)
                told = list(
                    db.scalars(
                        select(Admin.email).where(
                            Admin.tenant_id == tenant.id,
                            Admin.activated_at.is_not(None),
                            Admin.disabled_at.is_(None),
                        )
                    )
                )
                db.expunge(admin)
                return admin, told

        admin, told = await asyncio.to_thread(change)
        when = t.datetime(dt.datetime.now(dt.UTC))
        for to in told:
            self._send(
                MailMessage(
                    to=to,
                    subject=t.gettext(N_("An administrator's console password was reset")),
                    body=t.gettext(
                        N_(
                            "The console password of %(name)s (%(email)s) at %(organisation)s "
                            "was reset on %(when)s, with a code by email and a code of their "
                            "authenticator app.\n\nIf this was not expected, disable the "
                            "account under Administrators in the console."
                        ),
                        name=admin.name,
                        email=admin.email,
                        organisation=tenant.name,
                        when=when,
                    ),
                    language=t.tag,
                )
            )
        return admin.email

    def _send(self, message: MailMessage) -> None:
        task = asyncio.ensure_future(self._deliver(message))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, message: MailMessage) -> None:
        assert self.mailer is not None
        try:
            await self.mailer.send(message)
        except Exception:
            logger.warning("console: a mail to an administrator could not be sent", exc_info=True)


def _own(row: AdminSession | None, tenant: ConsoleTenant) -> AdminSession | None:
    return row if row is not None and row.tenant_id == tenant.id else None
