"""The authenticator app gate (SPEC G1, T1): the 6-digit code the user's app
shows (``totp``). Nothing is sent. 10 wrong codes within an hour to one
account's app, from anywhere, and further codes are not compared until the
hour has passed (``blocks.MAX_WRONG_APP_CODES``); a username without an app
never passes.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from passback.policy.gates import Method
from passback.server.i18n.translations import N_
from passback.server.portal import blocks, flow, registrations
from passback.server.portal.gates.base import Answer, Armed, Code, Desk, Gate, Tenant, subject
from passback.server.store.models import PortalFlow


class TotpGate(Gate):
    method = Method.TOTP
    chosen = N_("Open your authenticator app and type the 6-digit code it shows for this account.")

    def arm(
        self,
        db: Session,
        desk: Desk,
        tenant: Tenant,
        row: PortalFlow,
        *,
        now: dt.datetime,
        language: str,
    ) -> Armed:
        flow.arm_app(row, self.method.value, code_ttl=desk.services.settings.code_ttl, now=now)
        return Armed()

    def check(
        self,
        db: Session,
        desk: Desk,
        tenant_id: str,
        row: PortalFlow,
        answer: Answer,
        now: dt.datetime,
    ) -> bool:
        """The user's own app's code (the wrong codes of the hour not past the limit)."""
        guessed = blocks.failures(db, tenant_id, subject(row), self.method.value, now)
        return (
            isinstance(answer, Code)
            and row.user_id is not None
            and guessed < blocks.MAX_WRONG_APP_CODES
            and registrations.check_totp(
                db, desk.services.master_key, tenant_id, row.user_id, answer.text, now
            )
        )
