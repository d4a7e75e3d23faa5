"""T1: self-service blocks, attributed so that a stranger cannot turn them
against the account's owner (SPEC T1, T2).

- **Security questions**: 5 wrong answers within an hour to one account's
  questions, from anywhere, block that account's questions gate for 24 hours
  after the last wrong one. Guessing stays bounded per account however many
  addresses an attacker has. A stranger can cause this block, so the policy
  never lets questions stand alone (``GatePolicy.problems``): the owner keeps
  the email code and the authenticator app.
- **Authenticator codes**: 10 wrong codes within an hour, and further codes
  are not compared until the hour has passed (they answer "wrong", as any
  wrong code does). They are counted apart for what a stranger cannot be:
  the owner's own browser (a device token from a sign-in or a finished
  reset), and a flow past a first gate; all other flows of the account share
  one count, which a stranger can use up, holding up only flows that passed
  no gate from a browser the account never used
  (``totp_gate.TotpGate.counted_as``).
- **Phone numbers** (G4): a phone gate first asks for the number on file in
  full. 5 numbers typed wrong within an hour for one account from one client
  address block phone gates for that account from that address for 24 hours.
  A wrong number proves nothing and sends nothing; a right one only sends the
  code to the owner's phone, so guessing stays harmless however many
  addresses try, and a stranger never blocks the owner's own address. What
  bounds texts and calls to the owner is the per-user cap on code messages
  (``flow``), which mails and phones share.
- **Reset attempts**: 5 flows started within an hour for one username from
  one client address block that address from starting another for that
  username for 24 hours after the last. The owner, from their own address, is
  never blocked by someone else's attempts; the per-user mail caps bound the
  distributed case (``flow``).

Blocks are keyed by the username as typed (keyed hash) when no account matches,
and by the account when one does, and answer the same way: the block tells a
caller nothing that its own attempts did not (T2). An administrator lifts an
account's blocks (``lift``).
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid

from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session

from passback.server import audit
from passback.server.store.models import AuditEvent, PortalFlow, SelfServiceBlock

WINDOW = dt.timedelta(hours=1)
BLOCK = dt.timedelta(hours=24)
MAX_WRONG_QUESTIONS = 5
MAX_RESET_STARTS = 5
#: Wrong authenticator codes per account per hour, from anywhere; past it, app
#: codes are not even compared (and answer "wrong") until the hour has passed,
#: so that many addresses together cannot guess 10**6 codes at leisure.
MAX_WRONG_APP_CODES = 10


#: Numbers typed wrong per account per address per hour (G4).
MAX_NUMBER_MISSES = 5


class Scope(enum.StrEnum):
    QUESTIONS = "questions"
    PHONE = "phone"
    RESET = "reset"


def active(
    db: Session,
    tenant_id: str,
    subject: str,
    scope: Scope,
    now: dt.datetime,
    client_hash: str | None = None,
) -> dt.datetime | None:
    """When the block of ``subject`` for ``scope`` ends, if one is in force
    (for ``client_hash``, or for every address)."""
    return db.scalar(
        select(func.max(SelfServiceBlock.until)).where(
            SelfServiceBlock.tenant_id == tenant_id,
            SelfServiceBlock.subject == subject,
            SelfServiceBlock.scope == scope.value,
            SelfServiceBlock.until > now,
            or_(
                SelfServiceBlock.client_hash.is_(None), SelfServiceBlock.client_hash == client_hash
            ),
        )
    )


def failures(db: Session, tenant_id: str, subject: str, method: str, now: dt.datetime) -> int:
    """Failed gate attempts of ``method`` for ``subject`` in the last hour (audit events)."""
    count = db.scalar(
        select(func.count()).where(
            AuditEvent.tenant_id == tenant_id,
            AuditEvent.subject == subject,
            AuditEvent.activity == "gate",
            AuditEvent.result == "failure",
            AuditEvent.method == method,
            AuditEvent.at > now - WINDOW,
        )
    )
    return int(count or 0)


def starts(db: Session, tenant_id: str, who_hash: str, client_hash: str, now: dt.datetime) -> int:
    """Flows started for one typed username from one address in the last hour."""
    count = db.scalar(
        select(func.count()).where(
            PortalFlow.tenant_id == tenant_id,
            PortalFlow.who_hash == who_hash,
            PortalFlow.client_hash == client_hash,
            PortalFlow.created_at > now - WINDOW,
        )
    )
    return int(count or 0)


def block(
    db: Session,
    tenant_id: str,
    subject: str,
    scope: Scope,
    now: dt.datetime,
    client_hash: str | None = None,
    *,
    user_id: str | None = None,
) -> dt.datetime:
    """Block ``subject`` for ``scope`` until 24 hours from now, and record it
    in the audit log (E5; ``user_id``: the account's, when one matched);
    when it ends."""
    until = now + BLOCK
    audit.record(
        db,
        tenant_id=tenant_id,
        user_id=user_id,
        activity=audit.Activity.BLOCK,
        success=True,
        at=now,
        actor=audit.Actor.SYSTEM,
        subject=subject,
        scope=scope.value,
    )
    db.add(
        SelfServiceBlock(
            id=str(uuid.uuid4()),
            tenant_id=tenant_id,
            subject=subject,
            scope=scope.value,
            client_hash=client_hash,
            until=until,
            created_at=now,
        )
    )
    return until


def lift(db: Session, tenant_id: str, subjects: list[str]) -> int:
    """Lift every block of ``subjects`` (an account and its names); how many."""
    result = db.execute(
        delete(SelfServiceBlock).where(
            SelfServiceBlock.tenant_id == tenant_id, SelfServiceBlock.subject.in_(subjects)
        )
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
