"""Why a portal step did not go on, in words for the user (SPEC W1, E2).

A ``PortalError`` holds an English message marked for translation and the
values for its fields, or an ``Outcome`` of the directory; pages and the API
render it in the user's language and store its support record.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from passback.protocol.outcomes import Outcome
from passback.server.i18n import Translator
from passback.server.i18n.translations import N_
from passback.server.outcomes import describe
from passback.server.portal import flow


class PortalError(Exception):
    def __init__(
        self,
        code: str,
        status: int,
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
    ) -> None:
        super().__init__(code)
        self.code = code
        self.status = status
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

    @classmethod
    def of_outcome(
        cls,
        outcome: Outcome,
        detail: Mapping[str, int | str],
        *,
        request_id: str,
        support_code: str,
        user_id: str,
    ) -> PortalError:
        status, _message = describe(outcome, detail)
        field = "new_password" if outcome.is_policy_refusal else None
        return cls(
            outcome.value,
            status,
            outcome=outcome,
            detail=detail,
            field=field,
            request_id=request_id,
            support_code=support_code,
            user_id=user_id,
        )

    def text(self, t: Translator) -> str:
        """The message in ``t``'s language."""
        if self.outcome is not None:
            return describe(self.outcome, self._localized_detail(t), t.gettext)[1]
        return t.gettext(self.message, **self.values)

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


_REFUSALS: dict[flow.Refusal, tuple[int, str]] = {
    flow.Refusal.NO_FLOW: (409, N_("This reset has ended or never started. Start again.")),
    flow.Refusal.EXPIRED: (410, N_("This step has expired. Start again.")),
    flow.Refusal.WRONG_STEP: (
        409,
        N_("This step is not available now: finish the steps in order, or start again."),
    ),
    flow.Refusal.WRONG_CODE: (
        422,
        N_("The code is not correct, or no code was sent. Attempts left: %(left)d."),
    ),
    flow.Refusal.TOO_MANY_CODES: (
        410,
        N_("Too many wrong codes: this reset has ended. Start again."),
    ),
}


def refusal_error(refused: flow.FlowRefused, user_id: str | None = None) -> PortalError:
    status, message = _REFUSALS[refused.refusal]
    return PortalError(
        refused.refusal.value,
        status,
        message,
        values={"left": refused.attempts_left},
        field="code" if refused.refusal is flow.Refusal.WRONG_CODE else None,
        user_id=user_id,
    )
