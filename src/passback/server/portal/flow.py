"""The states of one self-service reset (SPEC W8) and the moves between them.

::

    code ──right code──▶ password ──directory said OK──▶ done
      │                    │  └─refused (W1): stays, the user tries again
      └─5 wrong codes──▶ ended     (any step past its expiry is dead)

The functions take and change a ``PortalFlow`` row; the caller loads it and
commits. No step can be skipped: every move checks the step it starts from.
A flow of an unknown user (T2), or of one the code cannot reach, is
``blocked``: it looks the same from outside and its code step never passes.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum

from sqlalchemy.orm import Session

from passback.server.portal.codes import Hasher, flow_hash, new_code, new_flow_token
from passback.server.store.models import PortalFlow

#: Wrong codes one flow takes before it ends: 5 guesses of 10**8.
MAX_CODE_ATTEMPTS = 5
#: Seconds the user has to type the new password once the code passed.
PASSWORD_STEP_TTL = 600


class Step(enum.StrEnum):
    CODE = "code"
    PASSWORD = "password"  # noqa: S105 - a step name
    DONE = "done"
    ENDED = "ended"


class Blocked(enum.StrEnum):
    """Why a flow's code step cannot pass, for the support record only."""

    UNKNOWN_USER = "unknown_user"
    NO_MAIL = "no_mail"
    MAIL_FAILED = "mail_failed"


class Refusal(enum.StrEnum):
    NO_FLOW = "no_flow"  # no cookie/token, or one of no flow of this tenant
    EXPIRED = "flow_expired"
    WRONG_STEP = "wrong_step"  # e.g. the password step before the code passed
    WRONG_CODE = "wrong_code"
    TOO_MANY_CODES = "too_many_codes"


class FlowRefused(Exception):
    def __init__(self, refusal: Refusal, attempts_left: int = 0) -> None:
        super().__init__(refusal.value)
        self.refusal = refusal
        self.attempts_left = attempts_left


@dataclasses.dataclass(frozen=True)
class NewFlow:
    row: PortalFlow
    token: str = dataclasses.field(repr=False)
    code: str = dataclasses.field(repr=False)


def new_flow(
    hasher: Hasher,
    *,
    tenant_id: str,
    user_id: str | None,
    blocked: Blocked | None,
    language: str,
    code_ttl: int,
    now: dt.datetime,
) -> NewFlow:
    """A flow at the code step. A code is made and hashed for every flow, the
    blocked ones too, so that all take the same work (T2)."""
    token = new_flow_token()
    key = flow_hash(token)
    code = new_code()
    row = PortalFlow(
        id_hash=key,
        tenant_id=tenant_id,
        user_id=user_id,
        step=Step.CODE.value,
        blocked=blocked.value if blocked else None,
        language=language,
        code_hash=hasher.code_hash(key, code),
        expires_at=now + dt.timedelta(seconds=code_ttl),
        attempts=0,
        created_at=now,
    )
    return NewFlow(row, token, code)


def find(db: Session, tenant_id: str, token: str | None) -> PortalFlow | None:
    """The tenant's flow of ``token``, if any."""
    if not token:
        return None
    row = db.get(PortalFlow, flow_hash(token))
    return row if row is not None and row.tenant_id == tenant_id else None


def require(flow: PortalFlow | None, step: Step, now: dt.datetime) -> PortalFlow:
    """``flow`` if it is alive at ``step``.

    Raises:
        FlowRefused: no flow, expired, or at another step.
    """
    if flow is None:
        raise FlowRefused(Refusal.NO_FLOW)
    if flow.step == Step.ENDED.value:
        raise FlowRefused(Refusal.TOO_MANY_CODES)
    if flow.step != step.value:
        raise FlowRefused(Refusal.WRONG_STEP)
    if now >= flow.expires_at:
        raise FlowRefused(Refusal.EXPIRED)
    return flow


def enter_code(flow: PortalFlow, hasher: Hasher, code: str, now: dt.datetime) -> None:
    """Check ``code``; on success the flow moves to the password step and the
    code is spent (single use).

    Raises:
        FlowRefused: not at the code step or expired; ``WRONG_CODE`` with the
            attempts left; ``TOO_MANY_CODES`` once the last attempt failed.
    """
    require(flow, Step.CODE, now)
    matches = hasher.code_matches(flow.code_hash, flow.id_hash, code)
    if matches and flow.blocked is None:
        flow.step = Step.PASSWORD.value
        flow.code_hash = None
        flow.expires_at = now + dt.timedelta(seconds=PASSWORD_STEP_TTL)
        return
    flow.attempts += 1
    left = MAX_CODE_ATTEMPTS - flow.attempts
    if left <= 0:
        flow.step = Step.ENDED.value
        flow.code_hash = None
        flow.completed_at = now
        raise FlowRefused(Refusal.TOO_MANY_CODES)
    raise FlowRefused(Refusal.WRONG_CODE, attempts_left=left)


def finish(flow: PortalFlow, now: dt.datetime) -> None:
    """The directory took the new password: the flow is over."""
    flow.step = Step.DONE.value
    flow.completed_at = now
