"""What an administrator is shown when a console step does not go on.

::

    ConsoleError        code, message (marked for translation), field, status

Pages render it in the administrator's language; the JSON API gives the
same words in English (``english``) in its problem body (``server/api/problems.py``).
"""

from __future__ import annotations

from collections.abc import Mapping

from passback.protocol.outcomes import Outcome
from passback.server.i18n import Translator
from passback.server.outcomes import describe


class ConsoleError(Exception):
    def __init__(
        self,
        code: str,
        message: str,
        *,
        status: int = 422,
        field: str | None = None,
        values: Mapping[str, object] | None = None,
        support_code: str | None = None,
    ) -> None:
        super().__init__(code)
        self.code = code
        self.message = message
        self.status = status
        self.field = field
        self.values = dict(values or {})
        self.support_code = support_code

    @classmethod
    def of_outcome(
        cls, outcome: Outcome, detail: Mapping[str, int | str], support_code: str
    ) -> ConsoleError:
        """The directory's answer to an administrator's write, in the words
        of ``server.outcomes`` (the detail, e.g. the minimum length, kept)."""
        status, _ = describe(outcome, detail)
        field = "password" if outcome.is_policy_refusal else None
        return cls(
            outcome.value,
            "",
            status=status,
            field=field,
            values={k: v for k, v in detail.items() if isinstance(v, int | str)},
            support_code=support_code,
        )

    def text(self, t: Translator) -> str:
        """The message in ``t``'s language."""
        if not self.message:  # an outcome's
            try:
                outcome = Outcome(self.code)
            except ValueError:
                return self.code
            return describe(outcome, self.values, t.gettext)[1]  # type: ignore[arg-type]
        return t.gettext(self.message, **self.values)

    @property
    def english(self) -> str:
        """The message untranslated: the JSON API and the command line speak English."""
        if not self.message:
            try:
                outcome = Outcome(self.code)
            except ValueError:
                return self.code
            detail = {k: v for k, v in self.values.items() if isinstance(v, int | str)}
            return describe(outcome, detail)[1]
        return self.message % self.values if self.values else self.message
