"""How each ``Outcome`` is shown to whoever asked: HTTP status and a message
the user can act on (SPEC W1). The one table of it; pages and API both use it.

A message may name a number the agent sent in ``Result.detail`` (for example
the directory's minimum length); without it the general message is used.
Messages are marked for translation (``N_``); ``describe`` translates them
when given a ``gettext``, then fills in the detail.
"""

from __future__ import annotations

import dataclasses
import string
from collections.abc import Callable, Mapping

from passback.protocol.operations import Operation
from passback.protocol.outcomes import Outcome
from passback.server.i18n.translations import N_


@dataclasses.dataclass(frozen=True)
class OutcomeView:
    status: int
    message: str
    #: Used instead of ``message`` when ``detail`` holds every field it names.
    detailed: str | None = None


OUTCOMES: Mapping[Outcome, OutcomeView] = {
    Outcome.OK: OutcomeView(
        200,
        N_("The password was changed in the directory."),
    ),
    Outcome.TOO_SHORT: OutcomeView(
        422,
        N_("The password is too short for the directory's policy. Choose a longer one."),
        N_("The password must be at least {min_length} characters long."),
    ),
    Outcome.NOT_COMPLEX: OutcomeView(
        422,
        N_(
            "The password is not complex enough. Use at least three of: capital letters, "
            "small letters, digits and symbols, and do not include the account name."
        ),
    ),
    Outcome.IN_HISTORY: OutcomeView(
        422,
        N_("The password was used recently. Choose one you have not used before."),
        N_("The password must differ from the last {history_length} passwords."),
    ),
    Outcome.TOO_YOUNG: OutcomeView(
        422,
        N_("The password was changed too recently to change it again. Try again later."),
        N_("The password was changed too recently. It can be changed again after {retry_after}."),
    ),
    Outcome.TOO_LONG: OutcomeView(
        422,
        N_("The password is too long: the directory accepts at most 256 characters."),
    ),
    Outcome.POLICY: OutcomeView(
        422,
        N_("The directory refused the password under its password policy. Choose another one."),
    ),
    Outcome.COMMON_PASSWORD: OutcomeView(
        422,
        N_(
            "The password is too common or too easy to guess: it is a well-known password, "
            "perhaps with a few characters changed or added, or it contains your "
            "organisation's name. Choose another one."
        ),
    ),
    Outcome.WRONG_PASSWORD: OutcomeView(
        422,
        N_("The current password is not correct."),
    ),
    Outcome.CANNOT_CHANGE: OutcomeView(
        409,
        N_("Your account is set so that you cannot change its password. Ask your administrator."),
    ),
    Outcome.MUST_CHANGE: OutcomeView(
        409,
        N_("The password is correct, but it must be changed before use. Change it now."),
    ),
    Outcome.PASSWORD_EXPIRED: OutcomeView(
        409,
        N_("The password is correct, but it has expired. Change it now."),
    ),
    Outcome.ACCOUNT_EXPIRED: OutcomeView(
        409,
        N_("The account has expired in the directory. Ask your administrator."),
    ),
    Outcome.LOGON_HOURS: OutcomeView(
        409,
        N_("The account may not sign in at this time of day. Try again within its logon hours."),
    ),
    Outcome.WORKSTATION: OutcomeView(
        409,
        N_("The account may sign in only from particular computers. Ask your administrator."),
    ),
    Outcome.NEAR_LOCKOUT: OutcomeView(
        409,
        N_(
            "The password was not checked: the account has had several failed sign-ins "
            "recently, and one more could lock it out. Try again later, or reset your password."
        ),
    ),
    Outcome.USER_NOT_FOUND: OutcomeView(
        404,
        N_("No such user was found in the directory. Check the account name."),
    ),
    Outcome.DISABLED: OutcomeView(
        409,
        N_("The account is disabled in the directory. Ask your administrator to enable it."),
    ),
    Outcome.LOCKED: OutcomeView(
        409,
        N_("The account is locked out. Reset the password with unlock, or wait for it to unlock."),
    ),
    Outcome.PROTECTED: OutcomeView(
        409,
        N_(
            "The account is in a protected administrators' group; its password cannot be "
            "written back. Change it in the directory itself."
        ),
    ),
    Outcome.MULTIPLE_MATCHES: OutcomeView(
        409,
        N_(
            "More than one enabled account matches this user, which is not supported. Ask"
            " your administrator to disable the extra accounts."
        ),
    ),
    Outcome.DUPLICATE_ANCHOR: OutcomeView(
        409,
        N_(
            "Two directory objects carry the same anchor value. Ask your administrator to"
            " fix the duplicate."
        ),
    ),
    Outcome.ACCESS_DENIED: OutcomeView(
        502,
        N_(
            "The agent's service account may not reset this password. Ask your "
            "administrator to grant it the Reset Password right."
        ),
    ),
    Outcome.INVALID_REQUEST: OutcomeView(
        502,
        N_(
            "The agent could not read the request. The password was not changed. Try "
            "again in a few minutes; if it keeps failing, contact your administrator."
        ),
    ),
    Outcome.DECRYPT_FAILED: OutcomeView(
        502,
        N_(
            "The agent could not decrypt the request; its keys may be out of date. The "
            "password was not changed. Ask your administrator to check the agent."
        ),
    ),
    Outcome.EXPIRED: OutcomeView(
        502,
        N_(
            "The request expired before the agent could apply it (check the agent's "
            "clock). The password was not changed. Try again in a few minutes; if it "
            "keeps failing, contact your administrator."
        ),
    ),
    # The caller reused a request id for another request (another password, user
    # or operation): the caller's error, not the gateway's.
    Outcome.REPLAYED: OutcomeView(
        409,
        N_("The agent refused the request as a replay. The password was not changed."),
    ),
    Outcome.DIRECTORY_UNAVAILABLE: OutcomeView(
        502,
        N_(
            "The agent could not reach the directory. The password was not changed. Try "
            "again in a few minutes; if it keeps failing, contact your administrator."
        ),
    ),
    Outcome.UNKNOWN: OutcomeView(
        502,
        N_(
            "The agent failed to apply the password. The password was not changed. Try "
            "again in a few minutes; if it keeps failing, contact your administrator."
        ),
    ),
    Outcome.SERVICE_UNAVAILABLE: OutcomeView(
        503,
        N_(
            "The password cannot be reset now: no agent of your organisation is "
            "connected. Try again in a few minutes; if it keeps failing, contact your "
            "administrator."
        ),
    ),
    Outcome.OUTCOME_UNKNOWN: OutcomeView(
        504,
        N_(
            "The agent did not answer in time, so it is not known whether the password "
            "was changed. Send the same request again with the same request id to find "
            "out."
        ),
    ),
}


def describe(
    outcome: Outcome,
    detail: Mapping[str, int | str] | None = None,
    gettext: Callable[[str], str] | None = None,
) -> tuple[int, str]:
    """HTTP status and message for ``outcome``, in English or through ``gettext``."""
    view = OUTCOMES[outcome]
    translate = gettext or _english
    if view.detailed and detail:
        names = {name for _, name, _, _ in string.Formatter().parse(view.detailed) if name}
        if names <= detail.keys():
            return view.status, translate(view.detailed).format_map(detail)
    return view.status, translate(view.message)


#: A success that wrote no password says what it did instead of ``Outcome.OK``'s message.
SUCCESS_MESSAGES: Mapping[Operation, str] = {
    Operation.UNLOCK: N_("The account was unlocked in the directory. Its password did not change."),
    Operation.REQUIRE_CHANGE: N_("The user must now change the password at the next sign-in."),
}


def describe_success(operation: Operation, gettext: Callable[[str], str] | None = None) -> str:
    """The message of a successful ``operation``, in English or through ``gettext``."""
    translate = gettext or _english
    return translate(SUCCESS_MESSAGES.get(operation, OUTCOMES[Outcome.OK].message))


def _english(message: str) -> str:
    return message
