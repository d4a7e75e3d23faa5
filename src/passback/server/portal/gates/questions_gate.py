"""The security questions gate (SPEC G2, T1, T2): M of the user's questions,
all to be answered right (``questions`` compares them). Which are asked
depends on the username typed alone; a username without enough questions is
asked the tenant's, and then nothing can pass.

5 wrong answers within an hour to one account's questions, from anywhere,
block them for 24 hours (``blocks.Scope.QUESTIONS``). A stranger can cause
that block, so the gate never comes first when two are required.
"""

from __future__ import annotations

import dataclasses
import json

from sqlalchemy.orm import Session

from passback.policy.gates import CUSTOM_PREFIX, CustomQuestion, Method
from passback.server.gate_policies import gate_policy
from passback.server.i18n.translations import N_
from passback.server.portal import blocks, flow, registrations
from passback.server.portal.errors import PortalError
from passback.server.portal.gates import questions
from passback.server.portal.gates.base import Answer, Armed, At, Desk, Gate, subject
from passback.server.store.models import PortalFlow

QUESTIONS_BLOCKED = N_(
    "Security questions are blocked for this account until %(until)s, after too many wrong "
    "answers. Choose another way to prove who you are, or contact your administrator."
)
WRONG_ANSWERS = N_("At least one answer is not right. Attempts left: %(left)d.")


@dataclasses.dataclass(frozen=True)
class Answers(Answer):
    """The answers typed, in the order the questions were asked."""

    wrong = WRONG_ANSWERS
    field = "answers"

    typed: list[str] = dataclasses.field(repr=False)


@dataclasses.dataclass(frozen=True)
class Challenge:
    """What a questions gate asks; ``real``: the user's own questions (else
    none of the answers can pass)."""

    keys: list[str]
    real: bool


class QuestionsGate(Gate):
    method = Method.QUESTIONS
    page = "questions"
    takes = Answers
    scope = blocks.Scope.QUESTIONS
    first = False
    api_refusal = N_("Security questions are answered in the portal's pages.")

    def arm(self, at: At, language: str) -> Armed:
        self.admit(at)
        row = at.row
        flow.arm_app(
            row, self.method.value, code_ttl=at.desk.services.settings.code_ttl, now=at.now
        )
        row.challenge = json.dumps(_asked(at.db, at.tenant.id, row))
        return Armed(page=self.page)

    def admit(self, at: At) -> None:
        row = at.row
        until = blocks.active(at.db, at.tenant.id, subject(row), blocks.Scope.QUESTIONS, at.now)
        if until is not None:
            raise PortalError(
                "questions_blocked",
                QUESTIONS_BLOCKED,
                values={"until": until},
                user_id=row.user_id,
                note="T1: 5 wrong answers to this account's questions within an hour",
            )

    def check(self, at: At, answer: Answer) -> bool:
        """Every answer is checked, right or wrong, so the time tells nothing."""
        if not isinstance(answer, Answers):
            return False
        challenge = challenge_of(at.row)
        hashes = registrations.answer_hashes(at.db, at.tenant.id, at.row.user_id)
        typed = [*answer.typed, *[""] * len(challenge.keys)][: len(challenge.keys)]
        results = [
            questions.answer_matches(hashes.get(key) if challenge.real else None, text)
            for key, text in zip(challenge.keys, typed, strict=True)
        ]
        return bool(results) and all(results)

    def failed(self, at: At) -> None:
        db, tenant_id, who = at.db, at.tenant.id, subject(at.row)
        if blocks.failures(db, tenant_id, who, self.method.value, at.now) >= (
            blocks.MAX_WRONG_QUESTIONS
        ):
            blocks.block(db, tenant_id, who, blocks.Scope.QUESTIONS, at.now, user_id=at.row.user_id)


def custom_questions(desk: Desk, tenant_id: str) -> tuple[CustomQuestion, ...]:
    """The tenant's own questions (for the texts of those asked)."""
    with desk.services.sessions() as db:
        return gate_policy(db, tenant_id).custom_questions


def challenge_of(row: PortalFlow) -> Challenge:
    """The questions the flow's gate asks."""
    try:
        found = json.loads(row.challenge or "{}")
    except ValueError:
        found = {}
    keys = found.get("keys", []) if isinstance(found, dict) else []
    known = [
        k
        for k in keys
        if isinstance(k, str) and (k in questions.QUESTIONS or k.startswith(CUSTOM_PREFIX))
    ]
    return Challenge(known, isinstance(found, dict) and found.get("real") is True)


def _asked(db: Session, tenant_id: str, row: PortalFlow) -> dict[str, object]:
    """Which questions the gate asks (G2, T2): from the user's own, or, for a
    username without enough of them, from all the tenant's questions (and
    then no answer can pass: ``real`` is false)."""
    policy = gate_policy(db, tenant_id)
    count = policy.questions_to_ask
    available = set(questions.pool(policy.custom_questions))
    # An answer to a custom question the tenant has since removed no longer counts.
    hashes = {
        k: v
        for k, v in registrations.answer_hashes(db, tenant_id, row.user_id).items()
        if k in available
    }
    real = len(hashes) >= count
    keys = sorted(hashes) if real else sorted(available)
    who = row.who_hash or row.id_hash
    return {"keys": questions.asked(who, keys, count), "real": real}
