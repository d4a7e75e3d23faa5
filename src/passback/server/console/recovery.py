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
import time

from sqlalchemy import delete
from sqlalchemy.orm import Session

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
from passback.server.entitlements import Feature
from passback.server.i18n import LOCALES, Catalogs, Translator
from passback.server.i18n.translations import N_
from passback.server.notify import MailMessage
from passback.server.portal.codes import flow_hash, new_code, new_flow_token
from passback.server.ratelimit import address_key
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
#: Tries a reset may get wrong; the next ends it, whoever's email it was.
WRONG_TRIES = states.MAX_CODE_ATTEMPTS - 1
#: Seconds a start takes at least, known email or not (T2).
START_FLOOR = 0.3


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
        tries: RateLimiter,
        catalogs: Catalogs,
    ) -> None:
        self.console = console
        self.catalogs = catalogs  # each administrator is told in their own language
        self.mailer = mailer
        self.mails = mails  # reset mails per administrator and client address (or device)
        #: Tries per reset token, whoever's: an unknown email's token ends as a
        #: known one's does (T2).
        self.tries = tries
        self._tasks: set[asyncio.Future[None]] = set()

    async def start(
        self,
        tenant: ConsoleTenant,
        email: str,
        *,
        client: str,
        t: Translator,
        device: str | None = None,
    ) -> Started:
        """A reset for the administrator of ``email``, if there is one; the same
        answer either way (T2).

        Raises:
            ConsoleError: ``not_enabled`` (403: the plan lacks it, E1),
                ``rate_limited`` (429), ``mail_unavailable`` (503: this server
                sends no mail).
        """
        console = self.console
        started = time.monotonic()
        check_enabled(tenant)
        if self.mailer is None:
            raise ConsoleError(
                "mail_unavailable",
                N_("This server sends no email: ask another administrator for a new set-up link."),
                status=503,
            )
        found, _ = await console.find_active(tenant, email, client=client, purpose="console-reset")
        if found is None or not await self._may_mail(found.id, client, device):
            await _pad(started)
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
        await _pad(started)
        return Started(token)

    async def _may_mail(self, admin_id: str, client: str, device: str | None) -> bool:
        """Whether one more reset mail may go to the administrator: 3 an hour
        from their own browser (it signed in before), 3 an hour from each
        other address. No count is shared between addresses: a stranger's
        requests, from however many addresses, never use up what the
        administrator may ask for from a browser or an address of their own."""
        known = self.console.hasher.device_of(device)
        if known is not None and known[0] == "admin-" + admin_id:
            return await self.mails.allow(f"console-reset-device:{admin_id}:{known[1]}")
        return await self.mails.allow(f"console-reset:{admin_id}:{address_key(client)}")

    async def check_codes(
        self, tenant: ConsoleTenant, token: str | None, mailed: str, app: str
    ) -> None:
        """Both codes of the reset; then the new password may be chosen.

        A reset counts its tries whether its email is an administrator's or
        not, and ends alike after ``MAX_CODE_ATTEMPTS`` (T2). The authenticator
        code counts toward the administrator's wrong codes only once the
        emailed code was right: a stranger, who has no mail, cannot spend
        what the administrator's own sign-ins need.

        Raises:
            ConsoleError: ``wrong_codes`` (field code), ``too_many_codes`` (401:
                the reset is over), ``code_throttled`` (429: the right emailed
                code, and too many wrong authenticator codes of late).
        """
        console = self.console
        key = flow_hash(token or "")
        if not await self.tries.allow("console-reset-try:" + key):
            raise ConsoleError("too_many_codes", TOO_MANY_CODES, status=401)

        def mail_step() -> str | ConsoleError:
            """The emailed code: the administrator's id once it is right."""
            now = console.now()
            with console.services.sessions() as db, db.begin():
                found = _at_codes(db, tenant, key, now)
                if found is None:  # an unknown email's token, or an ended reset
                    return ConsoleError("wrong_codes", WRONG_CODES, field="code")
                row, admin = found
                if not states.claim_code(db, row.id_hash):
                    db.delete(row)
                    return ConsoleError("too_many_codes", TOO_MANY_CODES, status=401)
                db.refresh(row)
                right = console.hasher.code_matches(row.code_hash, row.id_hash, mailed)
                console.record(db, admin, audit.Activity.GATE, now, success=right, method="email")
                return admin.id if right else self._wrong(db, row)

        admin_id = await asyncio.to_thread(mail_step)
        if isinstance(admin_id, ConsoleError):
            raise admin_id
        counter, counted = console.code_counter(tenant, admin_id, None)
        if not await counter.allow(counted):
            raise ConsoleError("code_throttled", CODE_THROTTLED, status=429, field="code")

        def app_step() -> ConsoleError | None:
            now = console.now()
            with console.services.sessions() as db, db.begin():
                found = _at_codes(db, tenant, key, now)
                if found is None:
                    return ConsoleError("wrong_codes", WRONG_CODES, field="code")
                row, admin = found
                right = admins.take_code(db, admin, app, console.services.master_key, now)
                console.record(db, admin, audit.Activity.GATE, now, success=right, method="totp")
                if not right:
                    return self._wrong(db, row)
                row.state = states.State.RESET_PASSWORD.value
                row.code_hash = None
                return None

        refused = await asyncio.to_thread(app_step)
        if refused is not None:
            raise refused
        await counter.refund(counted)

    @staticmethod
    def _wrong(db: Session, row: AdminSession) -> ConsoleError:
        """A wrong try of the reset (already counted); the last ends it."""
        if row.code_attempts >= states.MAX_CODE_ATTEMPTS:
            db.delete(row)
            return ConsoleError("too_many_codes", TOO_MANY_CODES, status=401)
        return ConsoleError("wrong_codes", WRONG_CODES, field="code")

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

        def change() -> tuple[Admin, admins.Recipients]:
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
                told = admins.to_tell(db, tenant.id)
                db.expunge(admin)
                return admin, told

        admin, told = await asyncio.to_thread(change)
        how = N_("with a code by email and a code of their authenticator app")
        self.tell_admins(tenant, admin.name, admin.email, told, how, t)
        return admin.email

    def tell_admins(
        self,
        tenant: ConsoleTenant,
        name: str,
        email: str,
        to: admins.Recipients,
        how: str,
        t: Translator,
    ) -> None:
        """G9: every administrator in ``to`` (address, language) is told that
        ``email``'s console password was reset (``how``: by what, marked for
        translation), in their own language (else ``t``'s), in the background."""
        if self.mailer is None:
            return
        now = self.console.now()
        for address, language in to:
            own = (
                Translator.for_locale(self.catalogs, language)
                if language is not None and language in LOCALES
                else t
            )
            self._send(
                MailMessage(
                    to=address,
                    subject=own.gettext(N_("An administrator's console password was reset")),
                    body=own.gettext(
                        N_(
                            "The console password of %(name)s (%(email)s) at %(organisation)s "
                            "was reset on %(when)s, %(how)s.\n\nIf this was not expected, "
                            "disable the account under Administrators in the console."
                        ),
                        name=name,
                        email=email,
                        organisation=tenant.name,
                        when=own.datetime(now),
                        how=own.gettext(how),
                    ),
                    language=own.tag,
                )
            )

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


def check_enabled(tenant: ConsoleTenant) -> None:
    """E1: the tenant's plan has self-service for cloud accounts.

    Raises:
        ConsoleError: ``not_enabled`` (403).
    """
    if not tenant.has(Feature.CLOUD_SELF_SERVICE):
        raise ConsoleError(
            "not_enabled",
            N_(
                "Your organisation's plan does not include resetting a console password "
                "yourself. Ask another administrator for a new set-up link."
            ),
            status=403,
        )


async def _pad(started: float) -> None:
    """Every start takes at least ``START_FLOOR``: a known email's database
    work must not show in the time of the answer (T2)."""
    left = START_FLOOR - (time.monotonic() - started)
    if left > 0:
        await asyncio.sleep(left)


def _at_codes(
    db: Session, tenant: ConsoleTenant, key: str, now: dt.datetime
) -> tuple[AdminSession, Admin] | None:
    """The reset of ``key`` waiting for its codes, and its administrator."""
    try:
        row = states.require(_own(db.get(AdminSession, key), tenant), states.State.RESET_CODE, now)
    except states.SessionRefused:
        return None
    admin = db.get(Admin, row.admin_id)
    assert admin is not None  # the reset is deleted with its administrator
    return row, admin


def _own(row: AdminSession | None, tenant: ConsoleTenant) -> AdminSession | None:
    return row if row is not None and row.tenant_id == tenant.id else None
