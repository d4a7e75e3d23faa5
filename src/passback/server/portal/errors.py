"""Why a portal step did not go on, in words for the user (SPEC W1, E2).

::

    PortalException          any failure of the portal
     ├── FlowRefused         a move of the flow refused (``flow``), with its ``Refusal``
     └── PortalError         what the user is shown: code, message, field,
                             support record; pages and API render it, with the
                             status ``server/api/problems.py`` gives its code

A ``PortalError`` holds an English message marked for translation and the
values for its fields, or an ``Outcome`` of the directory; pages and the API
render it in the user's language and store its support record. Outcomes
whose general wording speaks to an administrator (``server.outcomes``) get
the portal's own words here.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping

from passback.protocol.outcomes import Outcome
from passback.server.errors import Refused, RequestBusy, Unprocessable
from passback.server.i18n import Translator
from passback.server.i18n.translations import N_
from passback.server.outcomes import describe


class PortalException(Exception):
    """Base of the portal's exceptions."""


class Refusal(enum.StrEnum):
    NO_FLOW = "no_flow"  # no cookie/token, or one of no flow of this tenant
    EXPIRED = "flow_expired"
    WRONG_STEP = "wrong_step"  # e.g. the password step before the code passed
    WRONG_CODE = "wrong_code"
    TOO_MANY_CODES = "too_many_codes"
    TOO_MANY_PASSWORDS = "too_many_passwords"
    BUSY = "busy"  # another request of the flow is writing the password now
    ENDED = "flow_ended"


class FlowRefused(PortalException):
    def __init__(self, refusal: Refusal, attempts_left: int = 0) -> None:
        super().__init__(refusal.value)
        self.refusal = refusal
        self.attempts_left = attempts_left


class PortalError(PortalException):
    def __init__(
        self,
        code: str,
        message: str = "",
        *,
        values: Mapping[str, object] | None = None,
        outcome: Outcome | None = None,
        detail: Mapping[str, int | str] | None = None,
        field: str | None = None,
        request_id: str | None = None,
        support_code: str | None = None,
        user_id: str | None = None,
        note: str | None = None,
        flow_ended: bool = False,
    ) -> None:
        super().__init__(code)
        self.code = code
        self.message = message
        self.values = dict(values or {})
        self.outcome = outcome
        self.detail: dict[str, int | str] = dict(detail or {})
        #: The form field the error is about, so the page ties it to that field.
        self.field = field
        self.request_id = request_id
        self.support_code = support_code
        self.user_id = user_id
        self.note = note
        #: The flow is over: no form of it can be shown again.
        self.flow_ended = flow_ended

    @classmethod
    def of_outcome(
        cls,
        outcome: Outcome,
        detail: Mapping[str, int | str],
        *,
        request_id: str,
        support_code: str,
        user_id: str,
        flow_ended: bool = False,
    ) -> PortalError:
        field = "new_password" if outcome.is_policy_refusal else None
        return cls(
            outcome.value,
            outcome=outcome,
            detail=detail,
            field=field,
            request_id=request_id,
            support_code=support_code,
            user_id=user_id,
            flow_ended=flow_ended,
        )

    def carried(self, support_code: str) -> dict[str, object]:
        """What a redirect carries of this error (``flash``) to show it again,
        in whatever language the next page is in: the message's id and values,
        never words already translated; nothing secret is in an error."""
        values = {
            key: {"datetime": value.isoformat()} if isinstance(value, dt.datetime) else value
            for key, value in self.values.items()
        }
        return {
            "code": self.code,
            "message": self.message,
            "values": values,
            "outcome": self.outcome.value if self.outcome else None,
            "detail": self.detail,
            "field": self.field,
            "support_code": support_code,
        }

    @classmethod
    def from_carried(cls, carried: Mapping[str, object]) -> PortalError | None:
        """The error :meth:`carried` described; None if it is not one."""
        raw_values, detail = carried.get("values"), carried.get("detail")
        code, outcome, field = carried.get("code"), carried.get("outcome"), carried.get("field")
        if not isinstance(code, str) or not isinstance(raw_values, dict):
            return None
        if not isinstance(detail, dict):
            return None
        try:
            values = {
                str(key): dt.datetime.fromisoformat(value["datetime"])
                if isinstance(value, dict)
                else value
                for key, value in raw_values.items()
            }
            known = Outcome(outcome) if isinstance(outcome, str) else None
        except (KeyError, TypeError, ValueError):
            return None
        return cls(
            code,
            str(carried.get("message") or ""),
            values=values,
            outcome=known,
            detail=detail,
            field=field if isinstance(field, str) else None,
            support_code=str(carried.get("support_code") or "") or None,
        )

    def text(self, t: Translator) -> str:
        """The message in ``t``'s language."""
        if self.outcome is not None:
            own = PORTAL_OUTCOMES.get(self.outcome)
            if own is not None:
                return t.gettext(own)
            return describe(self.outcome, self._localized_detail(t), t.gettext)[1]
        values = {
            key: t.datetime(value) if isinstance(value, dt.datetime) else value
            for key, value in self.values.items()
        }
        return t.gettext(self.message, **values)

    def _localized_detail(self, t: Translator) -> dict[str, int | str]:
        detail = dict(self.detail)
        retry_after = detail.get("retry_after")
        if isinstance(retry_after, str):
            try:
                when = dt.datetime.fromisoformat(retry_after)
            except ValueError:
                return detail  # shown as the agent sent it
            if when.tzinfo is None:
                when = when.replace(tzinfo=dt.UTC)
            detail["retry_after"] = t.datetime(when)
        return detail


#: The portal's words for outcomes whose general message speaks to an
#: administrator (an account name to check, an unlock option, a request id).
PORTAL_OUTCOMES: Mapping[Outcome, str] = {
    Outcome.USER_NOT_FOUND: N_(
        "Your account could not be found in the directory. Contact your administrator."
    ),
    Outcome.LOCKED: N_(
        "Your account is locked. Contact your administrator, or wait until it unlocks and "
        "start again."
    ),
    Outcome.COMMON_PASSWORD: N_(
        "This password is too easy to guess: it is a common password, or close to one, "
        "or it contains your organisation's name. Choose another one."
    ),
    Outcome.OUTCOME_UNKNOWN: N_(
        "We could not confirm whether your password was changed. Try again with the same "
        "new password: if it was changed, you will be told so."
    ),
    Outcome.PROTECTED: N_(
        "Your account is protected (an administrator's or a system account): its password "
        "cannot be changed here. Contact your administrator."
    ),
    # The start page's words: the password step says the same when nothing can answer.
    Outcome.SERVICE_UNAVAILABLE: N_(
        "Your password can't be reset right now. Try again in a few minutes."
    ),
    **dict.fromkeys(
        (
            Outcome.ACCESS_DENIED,
            Outcome.INVALID_REQUEST,
            Outcome.DECRYPT_FAILED,
            Outcome.EXPIRED,
            Outcome.REPLAYED,
            Outcome.DIRECTORY_UNAVAILABLE,
            Outcome.UNKNOWN,
        ),
        N_(
            "This could not be done because of a problem on your organisation's side; nothing "
            "was changed. Try again in a few minutes. If it keeps failing, give your "
            "administrator the support code below."
        ),
    ),
}

#: Outcomes after which another password cannot help: the flow ends.
ENDING_OUTCOMES = frozenset(
    {
        Outcome.USER_NOT_FOUND,
        Outcome.MULTIPLE_MATCHES,
        Outcome.DUPLICATE_ANCHOR,
        Outcome.DISABLED,
        Outcome.LOCKED,
        Outcome.PROTECTED,
        Outcome.ACCESS_DENIED,
    }
)

#: The portal's words for a writeback's refusals that are not an ``Outcome``.
INVALID_PASSWORD = N_(
    "The new password contains a character that cannot be stored. Choose another one."
)
STILL_IN_PROGRESS = N_(
    "Your previous attempt is still being processed. Wait a moment and try again."
)
#: Any other error of the writeback: the password was not set.
WRITEBACK_FAILED = N_(
    "Your password could not be set. Try again in a few minutes; if it keeps failing, "
    "contact your administrator."
)

_REFUSALS: dict[Refusal, str] = {
    Refusal.NO_FLOW: N_("This reset has ended or never started. Start again."),
    Refusal.EXPIRED: N_("This step has expired. Start again."),
    Refusal.WRONG_STEP: N_(
        "This step is not available now: finish the steps in order, or start again."
    ),
    Refusal.WRONG_CODE: N_(
        "The code is not correct, or no code was sent. Attempts left: %(left)d."
    ),
    Refusal.TOO_MANY_CODES: N_("Too many wrong codes: this reset has ended. Start again."),
    Refusal.TOO_MANY_PASSWORDS: N_(
        "Too many attempts to set a new password: this reset has ended. Start again."
    ),
    Refusal.BUSY: N_(
        "Your new password is being set right now. Wait a moment, then reload the page."
    ),
    Refusal.ENDED: N_("This reset has ended. Start again."),
}

_ENDING_REFUSALS = frozenset(
    {Refusal.TOO_MANY_CODES, Refusal.TOO_MANY_PASSWORDS, Refusal.ENDED, Refusal.EXPIRED}
)


def writeback_error(exc: Refused, user_id: str) -> PortalError:
    """What the user is told when the writeback use-case refused the request
    itself (no directory answer): a password it cannot store, a request still
    in progress, anything else as "could not be set"."""
    if isinstance(exc, Unprocessable):
        code, message, field = "invalid", INVALID_PASSWORD, "new_password"
    elif isinstance(exc, RequestBusy):
        code, message, field = exc.code, STILL_IN_PROGRESS, None
    else:
        code, message, field = exc.code, WRITEBACK_FAILED, None
    return PortalError(
        code,
        message,
        field=field,
        user_id=user_id,
        request_id=exc.request_id,
        support_code=exc.support_code,
    )


def refusal_error(refused: FlowRefused, user_id: str | None = None) -> PortalError:
    return PortalError(
        refused.refusal.value,
        _REFUSALS[refused.refusal],
        values={"left": refused.attempts_left},
        field="code" if refused.refusal is Refusal.WRONG_CODE else None,
        user_id=user_id,
        flow_ended=refused.refusal in _ENDING_REFUSALS or refused.refusal is Refusal.NO_FLOW,
    )
