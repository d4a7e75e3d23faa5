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
) -> MailMessage:
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
    return MailMessage(
        to=to,
        subject=t.gettext("A user asks for help with their password: %(who)s", who=username),
        body="\n".join(lines) + "\n",
        language=t.tag,
    )
