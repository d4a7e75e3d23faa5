"""The authenticator app gate (SPEC G1, T1): the 6-digit code the user's app
shows (``totp``). Nothing is sent. 10 wrong codes within an hour to one
account's app, from anywhere, and further codes are not compared until the
hour has passed (``blocks.MAX_WRONG_APP_CODES``); a username without an app
never passes.
"""

from __future__ import annotations

from passback.policy.gates import Method
from passback.server.i18n.translations import N_
from passback.server.portal import blocks, flow, registrations
from passback.server.portal.gates.base import Answer, Armed, At, Code, Gate, subject


class TotpGate(Gate):
    method = Method.TOTP
    chosen = N_("Open your authenticator app and type the 6-digit code it shows for this account.")

    def arm(self, at: At, language: str) -> Armed:
        ttl = at.desk.services.settings.code_ttl
        flow.arm_app(at.row, self.method.value, code_ttl=ttl, now=at.now)
        return Armed()

    def check(self, at: At, answer: Answer) -> bool:
        """The user's own app's code (the wrong codes of the hour not past the limit)."""
        db, tenant_id, user_id = at.db, at.tenant.id, at.row.user_id
        guessed = blocks.failures(db, tenant_id, subject(at.row), self.method.value, at.now)
        return (
            isinstance(answer, Code)
            and user_id is not None
            and guessed < blocks.MAX_WRONG_APP_CODES
            and registrations.check_totp(
                db, at.desk.services.master_key, tenant_id, user_id, answer.text, at.now
            )
        )
