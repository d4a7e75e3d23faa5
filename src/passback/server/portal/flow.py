"""The states of one self-service reset (SPEC W8) and the moves between them.

::

    choose ──method──▶ code ──right code, enough gates──▶ password ──claimed──▶ writing
      ▲                  │ └─right code, another gate needed─▶ choose      │
      │                  │                        ▲                         │
      │                  │                        └──refused (W1), or outcome unknown: try again
      │                  │                                                  │
      │                  └─5 codes tried─▶ ended ◀──5 passwords, or a refusal no retry can mend
      │                                                   directory said OK ──▶ done
    (a tenant that allows more than the email code starts here; else at code)

The ``code`` step is the gate of the method the flow is at (``gate``): an
emailed code, or an authenticator's. ``gates_passed`` lists the methods passed
(SPEC G1: each counts once); the caller decides, from the tenant's policy,
whether a passed gate is enough (``done``).

Any step past its expiry is dead. The pure functions take and change a
``PortalFlow`` row; the caller loads it and commits. The ``claim_*``
functions are single atomic statements, so parallel requests cannot beat a
limit: an attempt is counted before the code is compared (H1), and the
password step is taken by one request at a time (H2). No step can be
skipped: every move checks the step it starts from.

A flow of an unknown user (T2), or of one the code cannot reach, is
``blocked``: it looks the same from outside and its code step never passes.

A new flow leaves the user's other flows alone: anyone may start one for any
username, so a start must not take the owner's code or password step away.
What bounds a stranger is the number of code messages (T1), counted by when
each was sent (``CodeSend``), mails and phone messages each on their own: at
most ``MAX_MAILS_PER_USER_PER_CLIENT`` per client address, so a flood from one
address leaves the owner's own address its codes, and ``MAX_MAILS_PER_USER``
in all, so that an attacker spread over many addresses gets at most
``2 × MAX_MAILS_PER_USER × MAX_CODE_ATTEMPTS`` guesses (mails and phone codes)
at 10**8 codes an hour. A flow sends ``MAX_SENDS_PER_FLOW`` codes at most and
stays at its gates ``GATE_LIFETIME`` at most.

Caps alone would let a stranger spread over a few addresses use up the
owner's code mails every hour. Past them, a start still gets a *link mail*
(:func:`new_link_flow`): its code belongs to a flow of its own that only the
mail's link reaches (128 bits), so whoever started it cannot guess it, and
the guessing bound above holds. At most one goes out per user per
``LINK_MAIL_INTERVAL``, whoever asks (a share per address would let the
owner's own network use theirs up), and each works for
``LINK_CODE_LIFETIME``, longer than the interval: while strangers keep the
caps used up, the owner's inbox always holds a link mail that works.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import json
import uuid

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from passback.server.portal.codes import Hasher, flow_hash, new_code, new_flow_token
from passback.server.portal.errors import FlowRefused, Refusal
from passback.server.store.models import CodeSend, PortalFlow

#: Codes one flow takes, the right one included: 5 guesses of 10**8.
MAX_CODE_ATTEMPTS = 5
#: New passwords one flow sends to the directory before it ends.
MAX_PASSWORD_ATTEMPTS = 5
#: Seconds the user has to type the new password once the code passed.
PASSWORD_STEP_TTL = 600
#: Code mails one user gets per ``MAIL_WINDOW`` from all addresses (SPEC T1):
#: bounds a distributed attacker to 10 × 5 = 50 guesses an hour.
MAX_MAILS_PER_USER = 10
#: Code mails one user gets per ``MAIL_WINDOW`` for starts from one client
#: address: a flood from one address leaves the owner the rest (issue
#: "Hardening" 5).
MAX_MAILS_PER_USER_PER_CLIENT = 3
MAIL_WINDOW = dt.timedelta(hours=1)
#: Past the caps, one link mail per user per this interval at most: 4 an
#: hour beside the 10 code mails, however many addresses ask.
LINK_MAIL_INTERVAL = dt.timedelta(minutes=15)
#: How long a link mail's code works, at least (longer with a longer
#: ``code_ttl``): longer than ``LINK_MAIL_INTERVAL``, so that the newest one
#: still works when the next may be sent.
LINK_CODE_LIFETIME = 2 * LINK_MAIL_INTERVAL
#: How link mails are counted (``CodeSend.channel``), apart from the caps.
LINK_CHANNEL = "link"
#: Code messages one flow sends, however often "send again" is pressed.
MAX_SENDS_PER_FLOW = 3
#: How long a flow may stay at its gates (choice, number, code) from its
#: start: "send again" cannot keep it alive for ever.
GATE_LIFETIME = dt.timedelta(hours=1)
#: The steps before the gates passed.
GATE_STEPS = frozenset({"choose", "number", "code"})


class Step(enum.StrEnum):
    CHOOSE = "choose"  # the user picks the method of the next gate
    NUMBER = "number"  # a phone gate: the user types the number on file in full (G4)
    CODE = "code"
    PASSWORD = "password"  # noqa: S105 - a step name
    WRITING = "writing"  # one request holds the password step, writing back
    DONE = "done"
    ENDED = "ended"


class Purpose(enum.StrEnum):
    """What the flow's code leads to: the new password, or first an unlock
    (W3) with the new password offered after it."""

    RESET = "reset"
    UNLOCK = "unlock"


class Blocked(enum.StrEnum):
    """Why a flow's code step cannot pass, for the support record only."""

    UNKNOWN_USER = "unknown_user"
    NO_MAIL = "no_mail"
    MAIL_FAILED = "mail_failed"
    MAIL_LIMIT = "mail_limit"  # T1: the user had their code messages for this hour
    NO_PROVIDER = "no_provider"  # the phone provider cannot use this gate's channel
    PHONE_FAILED = "phone_failed"  # the phone provider did not take the message
    SUPERSEDED = "superseded"  # flows of earlier versions only: no longer made


@dataclasses.dataclass(frozen=True)
class NewFlow:
    row: PortalFlow
    token: str = dataclasses.field(repr=False)
    code: str = dataclasses.field(repr=False)
    #: The code mail's link locates the flow from another device (the phone
    #: that got the mail); it opens nothing without the code.
    link: str = dataclasses.field(repr=False, default="")


def new_flow(
    hasher: Hasher,
    *,
    tenant_id: str,
    user_id: str | None,
    client: str,
    blocked: Blocked | None,
    code_ttl: int,
    now: dt.datetime,
    purpose: Purpose = Purpose.RESET,
    choose: bool = False,
    who_hash: str | None = None,
) -> NewFlow:
    """A flow at the email gate's code step, or with ``choose`` at the choice
    of a method (nothing sent yet; ``blocked`` is decided when the email gate
    is chosen). A code is made and hashed for every flow at the email gate,
    the blocked ones too, so that all take the same work (T2)."""
    token = new_flow_token()
    key = flow_hash(token)
    code = new_code()
    row = PortalFlow(
        id_hash=key,
        tenant_id=tenant_id,
        user_id=user_id,
        step=(Step.CHOOSE if choose else Step.CODE).value,
        gate=None if choose else "email",
        gates_passed="",
        blocked=None if choose else (blocked.value if blocked else None),
        code_hash=None if choose else hasher.code_hash(key, code),
        expires_at=now + dt.timedelta(seconds=code_ttl),
        attempts=0,
        write_attempts=0,
        mailed=blocked is None and not choose,
        sends=0,  # counted by record_send, once the caller knows it goes out
        client_hash=hasher.client_hash(client),
        purpose=purpose.value,
        who_hash=who_hash,
        created_at=now,
    )
    link = new_flow_token()
    row.link_hash = None if choose else flow_hash(link)
    return NewFlow(row, token, code, link)


def new_link_flow(hasher: Hasher, start: PortalFlow, *, code_ttl: int, now: dt.datetime) -> NewFlow:
    """The flow of a link mail sent for ``start``, a flow past the code caps:
    at the email gate's code step, with the gates ``start`` passed, and
    reached only by its link (nobody keeps its token). Not a start of its
    own: no typed username counts it (``who_hash``)."""
    lifetime = max(code_ttl, int(LINK_CODE_LIFETIME.total_seconds()))
    made = new_flow(
        hasher,
        tenant_id=start.tenant_id,
        user_id=start.user_id,
        client="",  # the starting address's, below
        blocked=None,
        code_ttl=lifetime,
        now=now,
        purpose=Purpose(start.purpose),
    )
    made.row.client_hash = start.client_hash
    made.row.gates_passed = start.gates_passed or ""
    return made


def find(db: Session, tenant_id: str, token: str | None) -> PortalFlow | None:
    """The tenant's flow of ``token``, if any."""
    if not token:
        return None
    row = db.get(PortalFlow, flow_hash(token))
    return row if row is not None and row.tenant_id == tenant_id else None


def require(flow: PortalFlow | None, step: Step, now: dt.datetime) -> PortalFlow:
    """``flow`` if it is alive at ``step``.

    Raises:
        FlowRefused: no flow, expired, ended, busy or at another step.
    """
    if flow is None:
        raise FlowRefused(Refusal.NO_FLOW)
    if flow.step == Step.ENDED.value:
        raise FlowRefused(Refusal.ENDED)
    if flow.step == Step.WRITING.value and step is Step.PASSWORD:
        raise FlowRefused(Refusal.BUSY)
    if flow.step != step.value:
        raise FlowRefused(Refusal.WRONG_STEP)
    if now >= flow.expires_at or (
        flow.step in GATE_STEPS and now >= flow.created_at + GATE_LIFETIME
    ):
        raise FlowRefused(Refusal.EXPIRED)
    return flow


# -- atomic claims (one statement each; SQLite ≥ 3.35 and PostgreSQL) ----------


def claim_code_attempt(db: Session, key: str) -> int | None:
    """Count one code attempt of flow ``key``, if it is at the code step with
    attempts left; the attempt's number, or None if none was claimed (H1)."""
    claimed = db.execute(
        update(PortalFlow)
        .where(
            PortalFlow.id_hash == key,
            PortalFlow.step == Step.CODE.value,
            PortalFlow.attempts < MAX_CODE_ATTEMPTS,
        )
        .values(attempts=PortalFlow.attempts + 1)
        .returning(PortalFlow.attempts)
        .execution_options(synchronize_session=False)
    ).scalar_one_or_none()
    return claimed


def claim_password_step(db: Session, key: str) -> tuple[int, str | None] | None:
    """Move flow ``key`` from the password step to ``writing`` and count one
    password attempt; (the attempt's number, the pending request id), or
    None if another request holds the step or none is left (H2)."""
    row = db.execute(
        update(PortalFlow)
        .where(
            PortalFlow.id_hash == key,
            PortalFlow.step == Step.PASSWORD.value,
            PortalFlow.write_attempts < MAX_PASSWORD_ATTEMPTS,
        )
        .values(step=Step.WRITING.value, write_attempts=PortalFlow.write_attempts + 1)
        .returning(PortalFlow.write_attempts, PortalFlow.pending_request_id)
        .execution_options(synchronize_session=False)
    ).one_or_none()
    return (row[0], row[1]) if row is not None else None


def mail_limit_reached(
    db: Session,
    tenant_id: str,
    user_id: str,
    client_hash: str,
    now: dt.datetime,
    channel: str = "mail",
) -> bool:
    """Whether ``user_id`` had their code messages of ``channel`` (``mail`` or
    ``phone``, each its own budget) in the last ``MAIL_WINDOW``, counted by
    when each was sent: in all, or for flows from this client address (T1)."""
    recent = list(
        db.execute(
            select(CodeSend.client_hash)
            .where(
                CodeSend.tenant_id == tenant_id,
                CodeSend.user_id == user_id,
                CodeSend.channel == channel,
                CodeSend.at > now - MAIL_WINDOW,
            )
            .limit(MAX_MAILS_PER_USER)
        ).scalars()
    )
    from_client = sum(1 for h in recent if h == client_hash)
    return len(recent) >= MAX_MAILS_PER_USER or from_client >= MAX_MAILS_PER_USER_PER_CLIENT


def link_mail_due(db: Session, tenant_id: str, user_id: str, now: dt.datetime) -> bool:
    """Whether a link mail may go to ``user_id`` now: none went in the last
    ``LINK_MAIL_INTERVAL``."""
    latest = db.scalar(
        select(func.max(CodeSend.at)).where(
            CodeSend.tenant_id == tenant_id,
            CodeSend.user_id == user_id,
            CodeSend.channel == LINK_CHANNEL,
        )
    )
    return latest is None or latest <= now - LINK_MAIL_INTERVAL


def record_send(db: Session, flow: PortalFlow, channel: str, now: dt.datetime) -> None:
    """A code message of ``flow`` goes out now: counted for the flow and for
    the user's caps."""
    flow.sends += 1
    db.add(
        CodeSend(
            id=str(uuid.uuid4()),
            tenant_id=flow.tenant_id,
            user_id=flow.user_id or "",
            client_hash=flow.client_hash or "",
            channel=channel,
            at=now,
        )
    )


# -- moves ----------------------------------------------------------------------


def enter_code(
    flow: PortalFlow, hasher: Hasher, code: str, now: dt.datetime, *, done: bool = True
) -> str:
    """Check ``code``, whose attempt is already counted in ``flow.attempts``
    (``claim_code_attempt``); on success the flow moves to the password step,
    the code is spent (single use), and the flow gets a new token, returned: the
    one that was used before the code proved anything opens nothing any more.

    Raises:
        FlowRefused: not at the code step or expired; ``WRONG_CODE`` with the
            attempts left; ``TOO_MANY_CODES`` once the last attempt failed.
    """
    matches = hasher.code_matches(flow.code_hash, flow.id_hash, code)
    return pass_gate(flow, matches=matches and flow.blocked is None, done=done, now=now)


def pass_gate(flow: PortalFlow, *, matches: bool, done: bool, now: dt.datetime) -> str:
    """The gate's answer was checked by the caller (``matches``), its attempt
    already counted. On success the gate's method is passed, the flow moves to
    the password step (``done``: the policy is satisfied) or to the choice of
    the next gate, and it gets a new token, returned.

    Raises:
        FlowRefused: as :func:`enter_code`.
    """
    require(flow, Step.CODE, now)
    if matches:
        passed = [*passed_gates(flow), flow.gate or "email"]
        flow.gates_passed = ",".join(dict.fromkeys(passed))
        flow.step = (Step.PASSWORD if done else Step.CHOOSE).value
        flow.code_hash = None
        flow.link_hash = None
        flow.gate = None
        flow.expires_at = now + dt.timedelta(seconds=PASSWORD_STEP_TTL)
        token = new_flow_token()
        flow.id_hash = flow_hash(token)
        return token
    left = MAX_CODE_ATTEMPTS - flow.attempts
    if left <= 0:
        end(flow, now)
        raise FlowRefused(Refusal.TOO_MANY_CODES)
    raise FlowRefused(Refusal.WRONG_CODE, attempts_left=left)


def passed_gates(flow: PortalFlow) -> list[str]:
    """The methods whose gates the flow passed, in order."""
    return [m for m in (flow.gates_passed or "").split(",") if m]


def arm_email(
    flow: PortalFlow,
    hasher: Hasher,
    *,
    blocked: Blocked | None,
    code_ttl: int,
    now: dt.datetime,
) -> tuple[str, str]:
    """Put the flow at an email gate: a new code and a new link (hashed;
    returned to be mailed unless ``blocked``)."""
    require(flow, Step.CHOOSE, now)
    flow.step = Step.CODE.value
    flow.gate = "email"
    return _new_mail_code(flow, hasher, blocked=blocked, code_ttl=code_ttl, now=now)


def send_again(
    flow: PortalFlow,
    hasher: Hasher,
    *,
    blocked: Blocked | None,
    code_ttl: int,
    now: dt.datetime,
) -> tuple[str, str]:
    """G5 "try again" at an email gate whose code did not come: a new code and
    link (the old ones die; returned to be mailed unless ``blocked``). Codes
    tried still count (5 per flow); the caps count every send.

    Raises:
        FlowRefused: not at the code step.
    """
    require(flow, Step.CODE, now)
    return _new_mail_code(flow, hasher, blocked=blocked, code_ttl=code_ttl, now=now)


def back_to_number(flow: PortalFlow, *, code_ttl: int, now: dt.datetime) -> None:
    """G5 "try again" at a phone gate: back to its number, to send there
    again. Codes tried still count (5 per flow).

    Raises:
        FlowRefused: not at the code step.
    """
    require(flow, Step.CODE, now)
    flow.step = Step.NUMBER.value
    flow.code_hash = None
    flow.challenge = None
    flow.expires_at = now + dt.timedelta(seconds=code_ttl)


def _new_mail_code(
    flow: PortalFlow, hasher: Hasher, *, blocked: Blocked | None, code_ttl: int, now: dt.datetime
) -> tuple[str, str]:
    if blocked is None and flow.sends >= MAX_SENDS_PER_FLOW:
        blocked = Blocked.MAIL_LIMIT
    code = new_code()
    flow.code_hash = hasher.code_hash(flow.id_hash, code)
    flow.blocked = blocked.value if blocked else None
    flow.mailed = blocked is None
    flow.expires_at = now + dt.timedelta(seconds=code_ttl)
    link = new_flow_token()
    flow.link_hash = flow_hash(link)
    return code, link


def arm_number(flow: PortalFlow, method: str, *, code_ttl: int, now: dt.datetime) -> None:
    """Put the flow at a phone gate's first step: the user types the number
    on file in full, with its country code (G4); nothing is sent yet."""
    require(flow, Step.CHOOSE, now)
    flow.step = Step.NUMBER.value
    flow.gate = method
    flow.code_hash = None
    flow.expires_at = now + dt.timedelta(seconds=code_ttl)


def arm_phone_code(
    flow: PortalFlow,
    hasher: Hasher,
    *,
    blocked: Blocked | None,
    ending: str,
    code_ttl: int,
    now: dt.datetime,
) -> str:
    """The number typed is the one on file: a new code (hashed; returned to be
    sent unless ``blocked``) to the number ending in ``ending``."""
    require(flow, Step.NUMBER, now)
    if blocked is None and flow.sends >= MAX_SENDS_PER_FLOW:
        blocked = Blocked.MAIL_LIMIT
    code = new_code()
    flow.step = Step.CODE.value
    flow.code_hash = hasher.code_hash(flow.id_hash, code)
    flow.blocked = blocked.value if blocked else None
    flow.mailed = blocked is None
    flow.challenge = json.dumps({"ending": ending})
    flow.expires_at = now + dt.timedelta(seconds=code_ttl)
    return code


def miss_number(db: Session, key: str) -> None:
    """Count one number typed that is not the one on file (T1)."""
    db.execute(
        update(PortalFlow)
        .where(PortalFlow.id_hash == key)
        .values(number_misses=PortalFlow.number_misses + 1)
        .execution_options(synchronize_session=False)
    )


def number_misses(
    db: Session, tenant_id: str, who_hash: str, client_hash: str, now: dt.datetime
) -> int:
    """Numbers typed wrong in the last hour for one username as typed
    (``who_hash``) from one client address, across its flows (T1).

    Two searches, each by an index (``ix_portal_flows_who_hash``, the flow's
    key), rather than one with an ``OR`` that SQLite answers by reading every
    flow of the tenant."""
    total = 0
    for named in (PortalFlow.who_hash == who_hash, PortalFlow.id_hash == who_hash):
        count = db.scalar(
            select(func.coalesce(func.sum(PortalFlow.number_misses), 0)).where(
                PortalFlow.tenant_id == tenant_id,
                named,
                PortalFlow.client_hash == client_hash,
                PortalFlow.created_at > now - MAIL_WINDOW,
            )
        )
        total += int(count or 0)
    return total


def find_by_link(db: Session, tenant_id: str, link: str | None) -> PortalFlow | None:
    """The tenant's flow whose code mail carried ``link``, if any."""
    if not link or len(link) > 128:
        return None
    row = db.scalar(select(PortalFlow).where(PortalFlow.link_hash == flow_hash(link)))
    return row if row is not None and row.tenant_id == tenant_id else None


def arm_app(flow: PortalFlow, method: str, *, code_ttl: int, now: dt.datetime) -> None:
    """Put the flow at the gate of a method that sends nothing (an
    authenticator app): the user types what the app shows."""
    require(flow, Step.CHOOSE, now)
    flow.step = Step.CODE.value
    flow.gate = method
    flow.code_hash = None
    flow.expires_at = now + dt.timedelta(seconds=code_ttl)


def back_to_choice(flow: PortalFlow, now: dt.datetime) -> None:
    """The user picks another method for the gate they are at: the code of
    this one is forgotten; tries already made still count (5 per flow).

    Raises:
        FlowRefused: not at a gate (its number or code step).
    """
    require(flow, Step.NUMBER if flow.step == Step.NUMBER.value else Step.CODE, now)
    flow.step = Step.CHOOSE.value
    flow.gate = None
    flow.code_hash = None
    flow.link_hash = None
    flow.challenge = None


def release(flow: PortalFlow, pending_request_id: str | None, now: dt.datetime) -> bool:
    """The writeback did not set the password: back to the password step,
    remembering ``pending_request_id`` when its outcome is unknown. False:
    the password attempts are used up, and the flow ended instead."""
    if flow.write_attempts >= MAX_PASSWORD_ATTEMPTS:
        end(flow, now)
        return False
    flow.step = Step.PASSWORD.value
    flow.pending_request_id = pending_request_id
    return True


def end(flow: PortalFlow, now: dt.datetime) -> None:
    flow.step = Step.ENDED.value
    flow.code_hash = None
    flow.pending_request_id = None
    flow.completed_at = now


def finish(flow: PortalFlow, now: dt.datetime) -> None:
    """The directory took the new password: the flow is over."""
    flow.step = Step.DONE.value
    flow.pending_request_id = None
    flow.completed_at = now
