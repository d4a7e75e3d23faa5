"""An own email address or mobile number in Security info (SPEC G1, G3): the
user types it, a code goes there, and once the code is typed back it is on
file beside the directory's contact data (an email gate's code goes to both
addresses; a phone gate accepts either mobile number).

Like every Security info change, it needs a session confirmed by the mail on
file, is an audit event and is told by mail (G9). At most 3 codes an hour for
one pending address or number, and 5 tries of each.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from passback.policy.gates import MAX_ADDRESS, Method, is_address
from passback.server import audit, phones
from passback.server.i18n import Translator
from passback.server.i18n.translations import N_
from passback.server.notify import MailError
from passback.server.notify.phone import PhoneError
from passback.server.portal import registrations
from passback.server.portal.code_phone import code_message
from passback.server.portal.errors import PortalError
from passback.server.portal.notice_mail import Notice, contact_mail
from passback.server.portal.security_info import SecurityInfo
from passback.server.portal.service import PortalTenant
from passback.server.store.models import utcnow
from passback.server.types import Clock

logger = logging.getLogger(__name__)

#: What an own contact is registered for: an address for the email gate, a
#: mobile number for the text and voice gates.
KINDS = {"email": Method.EMAIL, "mobile": Method.MOBILE_SMS}


class Contacts:
    def __init__(self, security: SecurityInfo, *, clock: Clock = utcnow) -> None:
        self.security = security
        self.services = security.services
        self.portal = security.accounts.portal
        self._clock = clock

    async def start(
        self, tenant: PortalTenant, token: str | None, kind: str, typed: str, *, language: str
    ) -> Callable[[], Awaitable[None]]:
        """Check ``typed`` and make its code; what sends it (run after the answer).

        Raises:
            PortalError: not signed in or confirmed; ``method_not_allowed``
                (403); ``invalid_address`` / ``invalid_number`` (422, field
                ``value``); ``too_many_confirm_codes`` (429).
        """
        method = KINDS[kind]
        user = await self.security.confirmed_user(tenant, token)
        policy = await self.security.allowed_by_policy(tenant, method)
        typed = typed.strip()
        if method is Method.EMAIL:
            if not is_address(typed) or len(typed) > MAX_ADDRESS:
                raise PortalError(
                    "invalid_address",
                    N_("Type one email address, like name@example.com."),
                    field="value",
                    user_id=user.id,
                )
            value = typed
        else:
            number = phones.e164(typed, policy.phone_region)
            if number is None:
                raise PortalError(
                    "invalid_number",
                    N_(
                        "Type the whole number, with the country code, "
                        "for example +55 11 91234 5678."
                    ),
                    field="value",
                    user_id=user.id,
                )
            if not self.portal.serviceable(method):
                raise PortalError(
                    "method_not_allowed", N_("Your organisation does not use this method.")
                )
            value = number

        def arm() -> str | None:
            with self.services.sessions() as db, db.begin():
                return registrations.start_contact(
                    db,
                    self.portal.hasher,
                    tenant.id,
                    user.id,
                    method,
                    value,
                    code_ttl=self.services.settings.code_ttl,
                    now=self._clock(),
                )

        code = await asyncio.to_thread(arm)
        if code is None:
            raise PortalError(
                "too_many_confirm_codes",
                N_("Too many codes were sent for this. Try again in an hour."),
                user_id=user.id,
            )
        t = Translator.for_locale(self.portal.catalogs, language)
        minutes = self.services.settings.code_ttl // 60
        if method is Method.EMAIL:
            mail = contact_mail(t, to=value, code=code, tenant_name=tenant.name, minutes=minutes)
            mailer = self.portal.mailer

            async def send_mail() -> None:
                try:
                    if mailer is not None:
                        await mailer.send(mail)
                except MailError as exc:
                    logger.warning("security info: the code to a new address failed: %s", exc)

            return send_mail
        text = code_message(
            t,
            method=method,
            to=value,
            code=code,
            minutes=minutes,
            tenant_name=tenant.name,
            adding=True,
        )
        sender = self.portal.phone

        async def send_text() -> None:
            try:
                if sender is not None:
                    await sender.send(text)
            except PhoneError as exc:
                logger.warning("security info: the code to a new number failed: %s", exc)

        return send_text

    async def confirm(
        self, tenant: PortalTenant, token: str | None, kind: str, code: str, *, language: str
    ) -> None:
        """The code sent to the new address or number: on file if it is right.

        Raises:
            PortalError: not signed in or confirmed; ``wrong_code`` (422, field ``code``).
        """
        method = KINDS[kind]
        user = await self.security.confirmed_user(tenant, token)
        await self.security.allowed_by_policy(tenant, method)

        def check() -> bool:
            now = self._clock()
            with self.services.sessions() as db, db.begin():
                value = registrations.confirm_contact(
                    db, self.portal.hasher, tenant.id, user.id, method, code, now
                )
                if value is not None:
                    audit.record(
                        db,
                        tenant_id=tenant.id,
                        user_id=user.id,
                        activity=audit.Activity.REGISTER_METHOD,
                        success=True,
                        at=now,
                        method=method.value,
                    )
                return value is not None

        if not await asyncio.to_thread(check):
            raise PortalError(
                "wrong_code",
                N_("The code is not correct, or it is used up. Ask for a new one."),
                field="code",
                user_id=user.id,
            )
        self.portal.notify(tenant, user.id, Notice.SECURITY_INFO, language)
