"""The text message or voice call that carries a one-time code (SPEC G1), in
the flow's language. A text is short (one SMS segment where it can be); a
call reads the code out digit by digit."""

from __future__ import annotations

from passback.policy.gates import Method
from passback.server.i18n import Translator
from passback.server.notify.phone import Channel, PhoneMessage, spoken


def channel_of(method: Method) -> Channel:
    """How a phone method's code travels."""
    return Channel.SMS if method is Method.MOBILE_SMS else Channel.VOICE


def code_message(
    t: Translator,
    *,
    method: Method,
    to: str,
    code: str,
    minutes: int,
    tenant_name: str,
    adding: bool = False,
) -> PhoneMessage:
    """A gate's code; with ``adding``, the code that proves a number a user
    adds in Security info."""
    channel = channel_of(method)
    if adding:
        text = t.gettext(
            "%(organisation)s code to add this number to your account: %(code)s. "
            "If you did not ask for it, ignore this message.",
            organisation=tenant_name,
            code=code,
        )
    elif channel is Channel.SMS:
        text = t.ngettext(
            "%(organisation)s password reset code: %(code)s. It works for %(num)d minute. "
            "Never share it.",
            "%(organisation)s password reset code: %(code)s. It works for %(num)d minutes. "
            "Never share it.",
            minutes,
            organisation=tenant_name,
            code=code,
        )
    else:
        text = t.gettext(
            "This is %(organisation)s. Your password reset code is: %(code)s. "
            "Again: %(code)s. If you did not ask for it, hang up.",
            organisation=tenant_name,
            code=spoken(code),
        )
    return PhoneMessage(to=to, channel=channel, text=text, language=t.tag)
