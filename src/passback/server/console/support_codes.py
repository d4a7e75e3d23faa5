"""A support code looked up by an administrator (SPEC E2): the record
``passback support show`` prints, of the administrator's own tenant only,
for the console's Support page and the JSON API alike."""

from __future__ import annotations

import asyncio
import uuid

from passback.server import support
from passback.server.console.errors import ConsoleError
from passback.server.i18n.translations import N_
from passback.server.types import StoreSessions

#: Longer than a UUID in any of its spellings; more is not read.
MAX_CODE = 64


async def lookup(sessions: StoreSessions, tenant_id: str, code: str) -> support.SupportView:
    """The record of ``code``, if it is ``tenant_id``'s.

    Raises:
        ConsoleError: ``invalid_support_code`` (422: not a UUID), or
            ``support_code_unknown`` (404: no record, or another tenant's).
    """
    code = code.strip()
    try:
        uuid.UUID(code if len(code) <= MAX_CODE else "too long")
    except ValueError:
        raise ConsoleError(
            "invalid_support_code",
            N_("A support code looks like 3f2b8c1e-…: 36 letters, digits and dashes."),
            field="code",
        ) from None
    view = await asyncio.to_thread(support.lookup, sessions, code)
    # Another tenant's record is not this administrator's to see.
    if view is None or view.record.tenant_id != tenant_id:
        raise ConsoleError(
            "support_code_unknown",
            N_("No record of this organisation has this support code."),
            status=404,
            field="code",
        )
    return view
