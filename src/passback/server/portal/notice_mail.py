"""The email that tells a user their password was reset or changed, or their
account unlocked (SPEC G9): when, what, and what to do if it was not them."""

from __future__ import annotations

import datetime as dt
import enum

from passback.server.i18n import Translator
from passback.server.i18n.translations import N_
from passback.server.notify import MailMessage


class Notice(enum.StrEnum):
    RESET = "reset"
    CHANGED = "changed"
    UNLOCKED = "unlocked"


_SUBJECTS = {
    Notice.RESET: N_("Your password was reset"),
    Notice.CHANGED: N_("Your password was changed"),
    Notice.UNLOCKED: N_("Your account was unlocked"),
}
_WHAT = {
    Notice.RESET: N_("The password of your %(organisation)s account was reset on %(when)s."),
    Notice.CHANGED: N_("The password of your %(organisation)s account was changed on %(when)s."),
    Notice.UNLOCKED: N_("Your %(organisation)s account was unlocked on %(when)s."),
}


def notice_mail(
    t: Translator, notice: Notice, *, to: str, when: dt.datetime, tenant_name: str
) -> MailMessage:
    lines = [
        t.gettext("Hello,"),
        "",
        t.gettext(_WHAT[notice], organisation=tenant_name, when=t.datetime(when)),
        "",
        t.gettext("If this was you, there is nothing more to do."),
        "",
        t.gettext(
            "If it was not you, someone else may be able to sign in as you: contact your "
            "administrator or help desk at once, and do not reply to this email."
        ),
    ]
    return MailMessage(
        to=to, subject=t.gettext(_SUBJECTS[notice]), body="\n".join(lines) + "\n", language=t.tag
    )
