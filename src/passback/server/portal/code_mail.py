"""The email that carries a one-time code, in the flow's language."""

from __future__ import annotations

from passback.server.i18n import Translator
from passback.server.notify import MailMessage


def code_mail(
    t: Translator,
    *,
    to: str,
    code: str,
    minutes: int,
    tenant_name: str,
    link: str | None,
    link_only: bool = False,
) -> MailMessage:
    """``link_only``: a link mail (``flow.new_link_flow``), whose code works
    only on the page its link opens."""
    lines = [t.gettext("Hello,"), ""]
    if link_only and link:
        lines += [
            t.gettext(
                "Someone asked to reset the password of your %(organisation)s account. "
                "To go on, open this page and type the code there:",
                organisation=tenant_name,
            ),
            "",
            f"    {link}",
        ]
    else:
        lines.append(
            t.gettext(
                "Someone asked to reset the password of your %(organisation)s account. "
                "To go on, type this code on the page that asked for it:",
                organisation=tenant_name,
            )
        )
    lines += [
        "",
        f"    {code[:4]} {code[4:]}",
        "",
        t.ngettext(
            "The code works once and for %(num)d minute.",
            "The code works once and for %(num)d minutes.",
            minutes,
        ),
    ]
    if link_only and link:
        lines.append(
            t.gettext(
                "It works only on the page above, not on a page you already have open: "
                "many codes were asked for this account within the hour, so we send them "
                "this way."
            )
        )
    elif link:
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
