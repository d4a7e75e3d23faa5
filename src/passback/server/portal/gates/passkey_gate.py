"""The passkey gate (SPEC G1, WebAuthn through ``passkey``): the browser
answers the flow's challenge with a passkey of this site; the answer must be
the flow's user's own. Each challenge answers once; an answer counts as one
of the flow's 5 tries. Its page runs the one script of the portal, so the
JSON API leaves this gate to the pages.
"""

from __future__ import annotations

import dataclasses
import json

from passback.policy.gates import Method
from passback.server.i18n.translations import N_
from passback.server.portal import flow, registrations
from passback.server.portal.errors import FlowRefused, Refusal, refusal_error
from passback.server.portal.gates import passkey
from passback.server.portal.gates.base import Answer, Armed, At, Gate
from passback.server.store.models import PortalFlow

PASSKEY_REFUSED = N_(
    "Your passkey did not prove who you are. Try again, or choose another way. "
    "Attempts left: %(left)d."
)


@dataclasses.dataclass(frozen=True)
class Assertion(Answer):
    """The browser's answer (JSON) to the flow's challenge, for the site ``rp``."""

    wrong = PASSKEY_REFUSED
    field = "passkey"

    credential: str = dataclasses.field(repr=False)
    rp: passkey.RelyingParty


class PasskeyGate(Gate):
    method = Method.PASSKEY
    page = "passkey"
    takes = Assertion
    api_refusal = N_("A passkey is used in the portal's pages, where the browser asks for it.")

    def arm(self, at: At, language: str) -> Armed:
        row = at.row
        flow.arm_app(
            row, self.method.value, code_ttl=at.desk.services.settings.code_ttl, now=at.now
        )
        row.challenge = json.dumps({"challenge": passkey.new_challenge()})
        return Armed(page=self.page)

    def check(self, at: At, answer: Answer) -> bool:
        """The challenge is spent: a new one for the next try."""
        if not isinstance(answer, Assertion):
            return False
        row = at.row
        # Read once the attempt is this request's: each challenge answers once.
        challenge = _challenge(row) or ""
        row.challenge = json.dumps({"challenge": passkey.new_challenge()})
        return registrations.check_passkey(
            at.db, answer.rp, at.tenant.id, row.user_id, challenge, answer.credential
        )


def options(row: PortalFlow, rp: passkey.RelyingParty) -> str:
    """The options (JSON) for the browser to answer the flow's passkey gate:
    any passkey of this site, so the page is the same for every username
    (T2); the answer is checked against the user's own.

    Raises:
        PortalError: the flow has no challenge (not at a passkey gate).
    """
    challenge = _challenge(row)
    if challenge is None:
        raise refusal_error(FlowRefused(Refusal.WRONG_STEP), row.user_id)
    return passkey.authentication_options(rp, challenge=challenge)


def _challenge(row: PortalFlow) -> str | None:
    try:
        found = json.loads(row.challenge or "{}")
    except ValueError:
        return None
    challenge = found.get("challenge") if isinstance(found, dict) else None
    return challenge if isinstance(challenge, str) else None
