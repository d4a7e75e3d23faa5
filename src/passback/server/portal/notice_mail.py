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
    SECURITY_INFO = "security_info"  # a method added or removed in Security info

    @property
    def optional(self) -> bool:
        """Whether the policy's ``notify_users`` may turn it off (G9: resets
        and unlocks); a change and a change of security info are always told."""
        return self in (Notice.RESET, Notice.UNLOCKED)


_SUBJECTS = {
    Notice.RESET: N_("Your password was reset"),
    Notice.CHANGED: N_("Your password was changed"),
    Notice.UNLOCKED: N_("Your account was unlocked"),
    Notice.SECURITY_INFO: N_("Your security info was changed"),
}
_WHAT = {
    Notice.RESET: N_("The password of your %(organisation)s account was reset on %(when)s."),
    Notice.CHANGED: N_("The password of your %(organisation)s account was changed on %(when)s."),
    Notice.UNLOCKED: N_("Your %(organisation)s account was unlocked on %(when)s."),
    Notice.SECURITY_INFO: N_(
        "The ways to prove who you are for your %(organisation)s account were changed on "
        "%(when)s (a method was added or removed)."
    ),
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


def confirm_mail(t: Translator, *, to: str, code: str, tenant_name: str) -> MailMessage:
    """The code that lets a signed-in session change Security info."""
    lines = [
        t.gettext("Hello,"),
        "",
        t.gettext(
            "Someone signed in to your %(organisation)s account wants to change the ways you "
            "prove who you are. To allow it, type this code on the page that asked for it:",
            organisation=tenant_name,
        ),
        "",
        f"    {code[:4]} {code[4:]}",
        "",
        t.gettext(
            "If it was not you, do not give the code to anyone: change your password and "
            "contact your administrator."
        ),
    ]
    return MailMessage(
        to=to,
        subject=t.gettext("Your code to change your security info"),
        body="\n".join(lines) + "\n",
        language=t.tag,
    )


def contact_mail(
    t: Translator, *, to: str, code: str, tenant_name: str, minutes: int
) -> MailMessage:
    """The code that proves an address a user adds to Security info."""
    lines = [
        t.gettext("Hello,"),
        "",
        t.gettext(
            "Someone signed in to a %(organisation)s account wants to use this address to "
            "prove who they are. If it was you, type this code on the page that asked for it:",
            organisation=tenant_name,
        ),
        "",
        f"    {code[:4]} {code[4:]}",
        "",
        t.ngettext(
            "The code works for %(num)d minute.", "The code works for %(num)d minutes.", minutes
        ),
        "",
        t.gettext("If it was not you, ignore this email: nothing changes without the code."),
    ]
    return MailMessage(
        to=to,
        subject=t.gettext("Your code to add this address"),
        body="\n".join(lines) + "\n",
        language=t.tag,
    )
