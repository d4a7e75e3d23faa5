"""The password rules of one user, in words, next to the password field."""

from __future__ import annotations

from passback.server.i18n import Translator
from passback.server.rules import PasswordRules

HOUR = 3600
DAY = 24 * HOUR


def describe_rules(
    rules: PasswordRules | None,
    t: Translator,
    *,
    common_refused: bool = False,
    change: bool = False,
) -> list[str]:
    """One short phrase per rule, e.g. ``["At least 14 characters", …]``.

    Args:
        common_refused: the server refuses common and easily guessed passwords
            (the tenant's ``refuse_common``), whatever the directory says.
        change: the rules of a change (the current password known), which the
            directory checks against the history as well; else of a reset.
    """
    common = [t.gettext("Not a common or easily guessed password")] if common_refused else []
    if rules is None:
        return [t.gettext("The directory checks the new password when you send it."), *common]
    phrases = [
        t.ngettext("At least %(num)d character", "At least %(num)d characters", rules.min_length)
    ]
    if rules.complexity:
        phrases.append(
            t.gettext("3 of 4 kinds of character: capital letters, small letters, digits, symbols")
        )
        phrases.append(t.gettext("Not your account name"))
    # A reset's history is promised only where the directory checks it on a
    # reset (AD with the policy-hints control, W4); a change's always is.
    if rules.history_checked_on_reset or (change and rules.history_length > 0):
        phrases.append(
            t.ngettext(
                "Not your last password",
                "Not one of your last %(num)d passwords",
                rules.history_length,
            )
        )
    if rules.min_age_seconds >= DAY:
        phrases.append(
            t.ngettext(
                "Changed at most once a day",
                "Changed at most once every %(num)d days",
                rules.min_age_seconds // DAY,
            )
        )
    elif rules.min_age_seconds > 0:
        phrases.append(
            t.ngettext(
                "Changed at most once an hour",
                "Changed at most once every %(num)d hours",
                max(1, rules.min_age_seconds // HOUR),
            )
        )
    return phrases + common


def source_text(rules: PasswordRules | None, t: Translator) -> str | None:
    """Which policy the rules come from, or None when unknown."""
    if rules is None:
        return None
    if rules.source.startswith("pso:"):
        return t.gettext(
            "Your organisation's password policy for your account (%(name)s)",
            name=rules.source[4:],
        )
    return t.gettext("Your organisation's password policy")
