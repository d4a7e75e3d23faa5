"""The email that asks a tenant's administrators to help a user whom no code
reached (SPEC G5): who, what they tried, by which method, and a warning to
check who is asking before acting."""

from __future__ import annotations

import datetime as dt

from passback.server.i18n import Translator
from passback.server.i18n.translations import N_
from passback.server.notify import MailMessage

_METHODS = {
    "email": N_("a code by email"),
    "mobile_sms": N_("a code by text message"),
    "mobile_voice": N_("a call to the mobile phone"),
    "office_voice": N_("a call to the office phone"),
    "totp": N_("a code from the authenticator app"),
    "passkey": N_("a passkey"),
    "questions": N_("security questions"),
}

_LAST_FOR_ACCOUNT = N_(
    "This is the last help mail for this account today: further requests for it are not mailed."
)
_LAST_FOR_TENANT = N_(
    "This is the last help mail for your organisation today: further requests are not mailed."
)
_ALL_IN_REPORTS = N_(
    "Every request, mailed or not, is listed in the administration console under "
    'Reports, as "User asked an administrator for help".'
)


def help_mail(
    t: Translator,
    *,
    to: str,
    username: str,
    principal: str | None,
    unlock: bool,
    method: str,
    when: dt.datetime,
    tenant_name: str,
    last_for_account: bool = False,
    last_for_tenant: bool = False,
) -> MailMessage:
    """``last_for_*``: no more help mails go today for this account, or for
    anyone (``help_requests``); further requests are in the console only."""
    who = f"{username} ({principal})" if principal else username
    what = (
        t.gettext(
            "%(who)s tried to unlock their account in the %(organisation)s self-service "
            "portal on %(when)s, and could not prove who they are with %(method)s.",
            who=who,
            organisation=tenant_name,
            when=t.datetime(when),
            method=t.gettext(_METHODS.get(method, _METHODS["email"])),
        )
        if unlock
        else t.gettext(
            "%(who)s tried to reset their password in the %(organisation)s self-service "
            "portal on %(when)s, and could not prove who they are with %(method)s.",
            who=who,
            organisation=tenant_name,
            when=t.datetime(when),
            method=t.gettext(_METHODS.get(method, _METHODS["email"])),
        )
    )
    lines = [
        t.gettext("Hello,"),
        "",
        what,
        t.gettext("They asked for your help."),
        "",
        t.gettext(
            "Before you reset the password or unlock the account, make sure it is really "
            "them: anyone can type a username. Call them back on a number you already know, "
            "or see them in person."
        ),
    ]
    if last_for_tenant:
        lines += ["", t.gettext(_LAST_FOR_TENANT)]
    elif last_for_account:
        lines += ["", t.gettext(_LAST_FOR_ACCOUNT)]
    lines += ["", t.gettext(_ALL_IN_REPORTS)]
    return MailMessage(
        to=to,
        subject=t.gettext("A user asks for help with their password: %(who)s", who=username),
        body="\n".join(lines) + "\n",
        language=t.tag,
    )
