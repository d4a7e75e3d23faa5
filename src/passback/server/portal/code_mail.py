"""The email that carries a one-time code, in the flow's language."""

from __future__ import annotations

from passback.server.i18n import Translator
from passback.server.notify import MailMessage


def code_mail(
    t: Translator, *, to: str, code: str, minutes: int, tenant_name: str, link: str | None
) -> MailMessage:
    lines = [
        t.gettext("Hello,"),
        "",
        t.gettext(
            "Someone asked to reset the password of your %(organisation)s account. "
            "To go on, type this code on the page that asked for it:",
            organisation=tenant_name,
        ),
        "",
        f"    {code[:4]} {code[4:]}",
        "",
        t.ngettext(
            "The code works once and for %(num)d minute.",
            "The code works once and for %(num)d minutes.",
            minutes,
        ),
    ]
    if link:
        lines += ["", t.gettext("The page is at %(link)s", link=link)]
    lines += [
        "",
        t.gettext("If you did not ask for this, ignore this email: your password stays as it is."),
    ]
    return MailMessage(
        to=to,
        subject=t.gettext("Your password reset code"),
        body="\n".join(lines) + "\n",
        language=t.tag,
    )
