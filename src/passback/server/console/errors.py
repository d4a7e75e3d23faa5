"""What an administrator is shown when a console step does not go on.

::

    ConsoleError        code, message (marked for translation), field, status

Pages render it in the administrator's language; the JSON routes of the same
actions are the API's (``server/api``), with their own problem bodies.
"""

from __future__ import annotations

from collections.abc import Mapping


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
