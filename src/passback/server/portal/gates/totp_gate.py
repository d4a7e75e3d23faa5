"""The authenticator app gate (SPEC G1, T1): the 6-digit code the user's app
shows (``totp``). Nothing is sent. 10 wrong codes within an hour, and further
codes are not compared until the hour has passed
(``blocks.MAX_WRONG_APP_CODES``); a username without an app never passes.

The 10 are counted so that a stranger cannot use them up against the owner
(``TotpGate.counted_as``): the owner's own browser, known by the device token
a sign-in or a finished reset left in it, counts its own; a flow past a first
gate (the owner's mailbox, say) counts apart from flows that passed none,
which are all a stranger can make (security questions, guessable, do not
set a flow apart); those count on the account.
"""

from __future__ import annotations

from passback.policy.gates import Method
from passback.server.i18n.translations import N_
from passback.server.portal import blocks, flow, registrations
from passback.server.portal.gates.base import Answer, Armed, At, Code, Gate, subject


def after_a_gate(user_id: str) -> str:
    """Whose wrong app codes they are when ``user_id`` proved one thing first:
    a gate of a reset, or the password of a signed-in session (T1)."""
    return f"{user_id}:after-gate"


class TotpGate(Gate):
    method = Method.TOTP
    chosen = N_("Open your authenticator app and type the 6-digit code it shows for this account.")

    def arm(self, at: At, language: str) -> Armed:
        ttl = at.desk.services.settings.code_ttl
        flow.arm_app(at.row, self.method.value, code_ttl=ttl, now=at.now)
        return Armed()

    def counted_as(self, at: At) -> str:
        """Whose wrong codes these are (T1): this browser's, when its device
        token is the account's; the account's after a first gate other than
        security questions; else the account's, the count a stranger reaches."""
        known = at.desk.hasher.device_of(at.device)
        if known is not None and known[0] == at.row.user_id:
            return f"device:{known[1]}"
        # Security questions can be guessed: only a gate that proves a thing
        # held (the mailbox, a phone) sets a flow apart from strangers'.
        if any(m != Method.QUESTIONS.value for m in flow.passed_gates(at.row)):
            return after_a_gate(subject(at.row))
        return subject(at.row)

    def check(self, at: At, answer: Answer) -> bool:
        """The user's own app's code (the wrong codes of the hour, counted as
        :meth:`counted_as`, not past the limit)."""
        db, tenant_id, user_id = at.db, at.tenant.id, at.row.user_id
        guessed = blocks.failures(db, tenant_id, self.counted_as(at), self.method.value, at.now)
        return (
            isinstance(answer, Code)
            and user_id is not None
            and guessed < blocks.MAX_WRONG_APP_CODES
            and registrations.check_totp(
                db, at.desk.services.master_key, tenant_id, user_id, answer.text, at.now
            )
        )
