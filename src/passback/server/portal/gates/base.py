"""What every verification gate of the reset flow provides (SPEC G1): the
seam between the flow's use-cases (``service.Portal``) and the methods.

A gate is armed on a flow at the choice of its method (a code is sent, a
challenge made, a block checked), takes one kind of answer (a code, answers,
a passkey's assertion) and checks it; the portal counts the try (5 per flow,
H1), records it (E5) and moves the flow. A gate may first ask for something
else (a phone gate: the number on file, G4). Wrong tries may also count
toward a block of the account (``scope``, T1).

Each method's gate is one module beside this one (``email_gate``,
``phone_gate``, ``totp_gate``, ``questions_gate``, ``passkey_gate``), and
``registry`` maps every ``Method`` to its gate.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Awaitable, Callable
from typing import ClassVar, Protocol

from sqlalchemy.orm import Session

from passback.policy.gates import Method
from passback.server.i18n import Catalogs
from passback.server.portal import blocks, flow
from passback.server.portal.codes import Hasher
from passback.server.portal.errors import FlowRefused, PortalError, Refusal, refusal_error
from passback.server.services import Services
from passback.server.store.models import PortalFlow
from passback.server.types import MailSender, PhoneSender

#: Sends a gate's code once the answer went out (T2: the answer takes the
#: same time whether or not anything is sent).
Deliver = Callable[[], Awaitable[None]]


class Desk(Protocol):
    """What gates use of the portal (``service.Portal`` is one)."""

    services: Services
    hasher: Hasher
    mailer: MailSender | None
    #: None: no phone method is offered.
    phone: PhoneSender | None
    catalogs: Catalogs

    def now(self) -> dt.datetime:
        """The portal's clock, for work done after the answer."""
        ...


class Tenant(Protocol):
    """The tenant whose portal runs the gate (``service.PortalTenant``)."""

    @property
    def id(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def slug(self) -> str: ...


@dataclasses.dataclass(frozen=True)
class At:
    """One request at a flow's gate: its store session (in the request's
    transaction), the portal, the tenant, the flow's row and the time."""

    db: Session
    desk: Desk
    tenant: Tenant
    row: PortalFlow
    now: dt.datetime
    #: The browser's device token (``Hasher.device_token``), if it sent one.
    device: str | None = dataclasses.field(default=None, repr=False)


@dataclasses.dataclass(frozen=True)
class Armed:
    """A gate just set up (or set up again): the flow's step, the page that
    shows it (under ``/portal/<slug>/``), and what sends its code, if anything."""

    step: flow.Step = flow.Step.CODE
    page: str = "code"
    deliver: Deliver | None = None


class Answer:
    """What the user gives a gate. A wrong one reads as the refusal's own
    words, unless the kind names its own (``wrong``, on ``field``)."""

    wrong: ClassVar[str | None] = None
    field: ClassVar[str] = "code"

    def refused(self, refused: FlowRefused, row: PortalFlow | None) -> PortalError:
        """The page's error for an answer that did not pass."""
        error = refusal_error(refused, row.user_id if row else None)
        if self.wrong is not None and refused.refusal is Refusal.WRONG_CODE:
            error.message, error.field = self.wrong, self.field
        return error


@dataclasses.dataclass(frozen=True)
class Code(Answer):
    """A code typed: emailed, sent by phone, or an authenticator app's."""

    text: str = dataclasses.field(repr=False)

    def refused(self, refused: FlowRefused, row: PortalFlow | None) -> PortalError:
        error = super().refused(refused, row)
        if row is not None and row.blocked:
            error.note = f"the flow's code step cannot pass: {row.blocked}"
        return error


class Gate(Protocol):
    """One method's gate. Classes name it as their base to take the defaults."""

    method: Method
    #: The page that takes this gate's answer.
    page: ClassVar[str] = "code"
    #: The kind of answer the gate checks; any other is refused (wrong step).
    takes: ClassVar[type[Answer]] = Code
    #: The block (T1) that wrong tries at this gate count toward; None: only
    #: the flow's own 5 tries (and the code caps) bound them.
    scope: ClassVar[blocks.Scope | None] = None
    #: Whether the gate may be the first of two (T2: a stranger must neither
    #: see nor block what only the second gate should show).
    first: ClassVar[bool] = True
    #: What the JSON API says once the gate is chosen (a message id).
    chosen: ClassVar[str] = ""
    #: Why the JSON API cannot run this gate (a message id); None: it can.
    api_refusal: ClassVar[str | None] = None

    def serviceable(self, desk: Desk) -> bool:
        """Whether the server can run the gate (the same for every username, T2)."""
        return True

    def target(self, row: PortalFlow) -> str | None:
        """Where the flow's code went, masked, for the code page; None: not shown."""
        return None

    def arm(self, at: At, language: str) -> Armed:
        """Move the flow from the choice to this gate.

        Raises:
            PortalError: the gate is blocked for this account (T1).
            FlowRefused: the flow is not at the choice.
        """
        ...

    def again(self, at: At, language: str) -> Armed:
        """G5 "try again" at the gate's code step: send a code again, or go
        back to the gate's first step.

        Raises:
            FlowRefused: the gate sends nothing (wrong step).
        """
        raise FlowRefused(Refusal.WRONG_STEP)

    def enter_number(self, at: At, typed: str, language: str) -> Armed | PortalError:
        """The number typed at the gate's number step (G4); what is sent, or
        the error to answer with (returned: what it counted is kept)."""
        return refusal_error(FlowRefused(Refusal.WRONG_STEP))

    def admit(self, at: At) -> None:
        """Before a try is counted.

        Raises:
            PortalError: a block of the gate (T1) is in force.
        """
        return None

    def check(self, at: At, answer: Answer) -> bool:
        """Whether ``answer`` (of the kind ``takes``) passes; its try is counted."""
        ...

    def failed(self, at: At) -> None:
        """After a wrong try was recorded: count it toward the gate's block."""
        return None

    def counted_as(self, at: At) -> str:
        """Whose try this is (T1), recorded with it: the account's by default."""
        return subject(at.row)


def subject(row: PortalFlow) -> str:
    """Whose attempt a flow's gate counts as (T1): the user, or the username
    as typed when it matched nobody."""
    return row.user_id or row.who_hash or row.id_hash


def sent_code_matches(desk: Desk, row: PortalFlow, answer: Answer) -> bool:
    """Whether ``answer`` is the code the flow sent (never when none was sent)."""
    typed = answer.text if isinstance(answer, Code) else ""
    matches = desk.hasher.code_matches(row.code_hash, row.id_hash, typed)
    return matches and row.blocked is None


def block_flow(desk: Desk, key: str, reason: flow.Blocked) -> None:
    """The flow's code step can no longer pass (its code was not sent)."""
    with desk.services.sessions() as db, db.begin():
        row = db.get(PortalFlow, key)
        if row is not None:
            row.blocked = reason.value
