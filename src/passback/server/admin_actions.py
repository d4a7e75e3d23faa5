"""An administrator's actions, one use-case each for the console and the API
alike: on a user (SPEC W3) reset (optionally "must change at next logon"),
unlock, require a change, lift the T1 blocks; on the tenant's agents (L1) a
new onboarding token, and a revocation. Each is an audit event (E5) naming
who acted: a console administrator, or the tenant's API token.

Reading a user's live account state (``read_account``) is not an action: it
changes nothing, every view of a person's page does it, and it is no audit
event; a read that fails is logged.

Raises (the functions on a user):
    NotFound: no such user (``user_not_found``).
    Conflict: the name matches more than one user (``multiple_matches``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import logging
import uuid
from collections.abc import Awaitable, Mapping
from typing import Any

from sqlalchemy.orm import Session

from passback.policy.gates import CustomQuestion, GatePolicy, Scope
from passback.protocol.errors import CloseCode
from passback.protocol.operations import Operation
from passback.protocol.outcomes import Outcome
from passback.server import agents, audit, tenants, writeback
from passback.server.directory_users import one_user
from passback.server.errors import (
    AccountUnreadable,
    AgentTooOld,
    AgentUnavailable,
    Refused,
    ReplyTimeout,
    ServiceUnavailable,
    Unprocessable,
)
from passback.server.gate_policies import FIELDS, change_gate_policy, gate_policy
from passback.server.i18n.translations import N_
from passback.server.portal import blocks
from passback.server.portal.codes import Hasher
from passback.server.services import Services
from passback.server.store.models import DirectoryGroup as DirectoryGroupRow
from passback.server.store.models import DirectoryUser, Tenant, utcnow

logger = logging.getLogger(__name__)

#: What an ``Acting`` without an administrator is recorded as.
API_TOKEN = "api_token"  # noqa: S105 - a name, not a token
OPERATOR = "operator"

_ACTIVITIES = {
    Operation.ADMIN_RESET: audit.Activity.RESET_PASSWORD,
    Operation.UNLOCK: audit.Activity.UNLOCK_ACCOUNT,
    Operation.REQUIRE_CHANGE: audit.Activity.REQUIRE_CHANGE,
}


@dataclasses.dataclass(frozen=True)
class Acting:
    """Who acts: an administrator of the console, or the tenant's API token."""

    tenant_id: str
    admin_id: str | None = None
    #: Without an administrator: ``api_token``, or ``operator`` (the CLI).
    via: str = API_TOKEN

    @property
    def recorded(self) -> dict[str, str]:
        return {"admin": self.admin_id} if self.admin_id else {"via": self.via}


async def reset_password(
    services: Services,
    acting: Acting,
    user: str,
    new_password: str,
    *,
    request_id: str | None = None,
    unlock: bool | None = None,
    must_change: bool = False,
) -> writeback.WritebackResult:
    """Reset the password through an agent (``writeback.reset_password``).

    Raises:
        Unprocessable: the password is empty or not text that can be stored.
    """
    audited = _Audited(acting, Operation.ADMIN_RESET, must_change)
    return await _with_audit(
        services,
        audited,
        user,
        writeback.reset_password(
            Operation.ADMIN_RESET,
            services=services,
            tenant_id=acting.tenant_id,
            user=user,
            new_password=new_password,
            request_id=request_id,
            unlock=unlock,
            must_change=must_change,
            companion=audited,
        ),
    )


async def write_account(
    services: Services,
    acting: Acting,
    operation: Operation,
    user: str,
    *,
    request_id: str | None = None,
) -> writeback.WritebackResult:
    """Unlock, or require a change at next logon, through an agent."""
    audited = _Audited(acting, operation, must_change=False)
    return await _with_audit(
        services,
        audited,
        user,
        writeback.write_account(
            operation,
            services=services,
            tenant_id=acting.tenant_id,
            user=user,
            request_id=request_id,
            companion=audited,
        ),
    )


async def _with_audit(
    services: Services,
    audited: _Audited,
    user: str,
    write: Awaitable[writeback.WritebackResult],
) -> writeback.WritebackResult:
    """``write``, its audit event written whichever way it ends: in
    writeback's transactions (``_Audited``); here when writeback refused it
    before the look-up, or refused it after the request was recorded (its id
    still in flight elsewhere: 409)."""
    try:
        result = await write
    except Refused as exc:
        if audited.written:
            await asyncio.to_thread(audited.refused, services, exc)
        raise
    if not audited.written:
        await asyncio.to_thread(_audit_early_refusal, services, audited, user, result)
    return result


@dataclasses.dataclass(frozen=True)
class AccountState:
    """A user's account as the directory has it now (an agent's status read)."""

    enabled: bool
    locked: bool  # locked out right now
    must_change: bool  # the password must be changed at next logon (pwdLastSet = 0)
    password_set_at: dt.datetime | None  # None: not known, or must change
    password_expires_at: dt.datetime | None  # None: never (or the directory does not say)
    #: Why writeback refuses the account (W5: ``protected-group``, …); None: it does not.
    protection: str | None = None

    @classmethod
    def from_detail(cls, detail: Mapping[str, int | str]) -> AccountState:
        """From a status result's ``detail`` (``agent.writeback.status_of``).

        Raises:
            AccountUnreadable: a field is missing or of the wrong kind (an agent
                that answered something else).
        """
        try:
            flags = [_flag(detail, name) for name in ("enabled", "locked", "must_change")]
            set_at = _moment(detail.get("password_set_at", 0))
            expires_at = _moment(detail.get("password_expires_at", 0))
        except (KeyError, TypeError, ValueError, OverflowError, OSError) as exc:  # 10**20 s
            raise AccountUnreadable(
                "The agent's answer does not hold an account's state.", code="unknown"
            ) from exc
        protection = detail.get("protection")
        return cls(
            enabled=flags[0],
            locked=flags[1],
            must_change=flags[2],
            password_set_at=set_at,
            password_expires_at=expires_at,
            protection=protection if isinstance(protection, str) else None,
        )


#: Why the account's state could not be read, by the error's code, for the
#: console and the API alike.
UNREADABLE: Mapping[str, str] = {
    ServiceUnavailable.code: N_(
        "No agent is connected, so the account's state cannot be read from the directory now."
    ),
    "agent_too_old": N_(
        "The connected agents are too old to read the account from the directory: upgrade them."
    ),
    "no_answer": N_(
        "The agent did not answer in time; the directory may be slow. Try again in a moment."
    ),
    Outcome.USER_NOT_FOUND.value: N_(
        "The directory has no account with this user's anchor any more."
    ),
    Outcome.MULTIPLE_MATCHES.value: N_(
        "More than one enabled account in the directory claims this user's anchor."
    ),
    Outcome.DUPLICATE_ANCHOR.value: N_(
        "Two objects in the directory carry this user's anchor; make it unique."
    ),
    Outcome.DIRECTORY_UNAVAILABLE.value: N_(
        "The agent could not reach the directory. Try again in a few minutes."
    ),
}
#: For any other code.
UNREADABLE_OTHER = N_("The agent could not read the account (%(reason)s).")


def unreadable_message(code: str) -> str:
    """The English words of ``UNREADABLE`` for ``code`` (``%(reason)s`` filled in)."""
    return UNREADABLE.get(code, UNREADABLE_OTHER % {"reason": code})


async def read_account(services: Services, acting: Acting, user: str) -> AccountState:
    """``user``'s account as the directory has it now, read by an agent
    (``Operation.STATUS``); nothing written, no audit event (module doc).

    Raises:
        ServiceUnavailable: no agent of the tenant is connected (W2).
        AccountUnreadable: the agent could not read it; ``code`` is its outcome
            (``user_not_found``, ``directory_unavailable``, …), or
            ``agent_too_old`` when no connected agent announces the read
            (``protocol.features``), ``no_answer`` when the agent did not
            answer in time.
    """
    user_id = await asyncio.to_thread(_resolve, services, acting, user)
    try:
        result = await writeback.read_account(
            services=services, tenant_id=acting.tenant_id, user=writeback.UserId(user_id)
        )
    except AgentTooOld:
        raise AccountUnreadable(unreadable_message("agent_too_old"), code="agent_too_old") from None
    except AgentUnavailable:
        raise ServiceUnavailable(UNREADABLE[ServiceUnavailable.code]) from None
    except ReplyTimeout as exc:
        logger.warning("status of user %s in tenant %s: %s", user_id, acting.tenant_id, exc)
        raise AccountUnreadable(unreadable_message("no_answer"), code="no_answer") from None
    if result.outcome is not Outcome.OK:
        logger.warning(
            "status of user %s in tenant %s: the agent answered %s (event %s)",
            user_id,
            acting.tenant_id,
            result.outcome.value,
            result.event_id,
        )
        code = result.outcome.value
        raise AccountUnreadable(unreadable_message(code), code=code, request_id=result.request_id)
    return AccountState.from_detail(result.detail)


def _flag(detail: Mapping[str, int | str], name: str) -> bool:
    value = detail[name]
    if value not in (0, 1) or isinstance(value, str):
        raise ValueError(f"{name} is not 0 or 1")
    return bool(value)


def _moment(value: int | str) -> dt.datetime | None:
    """Unix seconds as a time; 0 (must change, never expires) as None."""
    if isinstance(value, str):
        raise TypeError("not a number of seconds")
    return dt.datetime.fromtimestamp(value, dt.UTC) if value > 0 else None


def lift_blocks(services: Services, acting: Acting, user: str, hasher: Hasher) -> int:
    """Every T1 block of the account, of its names as typed in the portal, and
    from every address; how many were lifted."""
    with services.sessions() as db, db.begin():
        row = one_user(db, acting.tenant_id, user)
        lifted = blocks.lift(db, acting.tenant_id, block_subjects(row, hasher))
        audit.record(
            db,
            tenant_id=acting.tenant_id,
            user_id=row.id,
            activity=audit.Activity.LIFT_BLOCK,
            success=True,
            at=utcnow(),
            actor=audit.Actor.ADMIN,
            lifted=lifted,
            **acting.recorded,
        )
        return lifted


async def revoke_agent(services: Services, acting: Acting, agent_id: str) -> None:
    """Revoke the agent for good and close its live link at once (4006).

    Raises:
        NotFound: the tenant has no such agent (``agent_not_found``).
    """

    def revoke() -> None:
        with services.sessions() as db, db.begin():
            now = utcnow()
            agent = agents.revoke_agent(db, acting.tenant_id, agent_id, now)
            record_admin_event(db, acting, audit.Activity.REVOKE_AGENT, now, agent=agent.id)

    await asyncio.to_thread(revoke)
    await services.router.disconnect(acting.tenant_id, agent_id, CloseCode.REVOKED, "agent revoked")


def new_onboarding_token(services: Services, acting: Acting) -> str:
    """A one-time token for one more agent of the tenant (shown once)."""
    with services.sessions() as db, db.begin():
        token = tenants.new_onboarding_token(db, acting.tenant_id)
        record_admin_event(db, acting, audit.Activity.ONBOARDING_TOKEN, utcnow())
        return token


def record_admin_event(
    db: Session, acting: Acting, activity: audit.Activity, now: dt.datetime, **detail: str
) -> None:
    """An administrator's action on the tenant (no user), in the caller's transaction."""
    audit.record(
        db,
        tenant_id=acting.tenant_id,
        user_id=None,
        activity=activity,
        success=True,
        at=now,
        actor=audit.Actor.ADMIN,
        **acting.recorded,
        **detail,
    )


def change_policy(
    services: Services,
    acting: Acting,
    changes: dict[str, Any],
    *,
    unlock_on_reset: bool | None = None,
) -> GatePolicy:
    """Change the tenant's self-service policy (``gate_policies``) and, if
    given, whether a reset unlocks the account; one audit event names every
    field changed, before → after.

    Raises:
        Unprocessable: not a valid policy (``invalid_policy``; ``detail``
            lists each problem's code), or the scope names a group that no
            sync has brought (``unknown_group``).
    """
    with services.sessions() as db, db.begin():
        before = gate_policy(db, acting.tenant_id)
        after = change_gate_policy(db, acting.tenant_id, **changes)
        if (
            after.scope is Scope.GROUP
            and (before.scope is not Scope.GROUP or after.scope_group != before.scope_group)
            and db.get(DirectoryGroupRow, (acting.tenant_id, after.scope_group)) is None
        ):
            raise Unprocessable(
                f"no synced group has the SID {after.scope_group}: choose one of the "
                "directory's groups",
                code="invalid_policy",
                detail={"problems": [{"code": "unknown_group"}]},
            )
        changed = {
            name: [_shown(getattr(before, name)), _shown(getattr(after, name))]
            for name in FIELDS
            if getattr(before, name) != getattr(after, name)
        }
        tenant = db.get(Tenant, acting.tenant_id)
        assert tenant is not None  # gate_policy found it
        if unlock_on_reset is not None and unlock_on_reset != tenant.unlock_on_reset:
            changed["unlock_on_reset"] = [tenant.unlock_on_reset, unlock_on_reset]
            tenant.unlock_on_reset = unlock_on_reset
        if changed:
            record_admin_event(
                db,
                acting,
                audit.Activity.CHANGE_POLICY,
                utcnow(),
                changed=json.dumps(changed, sort_keys=True, ensure_ascii=False),
            )
        return after


def _shown(value: object) -> object:
    """A policy field as the audit log keeps it (JSON)."""
    if isinstance(value, frozenset):
        return sorted(str(v) for v in value)
    if isinstance(value, tuple):
        return [dataclasses.asdict(v) if isinstance(v, CustomQuestion) else v for v in value]
    return value


def block_subjects(row: DirectoryUser, hasher: Hasher) -> list[str]:
    """Whom a T1 block of this user may name: the account, and its names as typed."""
    names = [row.sam_account_name, *([row.user_principal_name] if row.user_principal_name else [])]
    return [row.id, *(hasher.who_hash(name) for name in names)]


def _resolve(services: Services, acting: Acting, user: str) -> str:
    """The user's id, for a read (a write is resolved by ``writeback``).

    Raises:
        NotFound: no such user in the tenant.
    """
    with services.sessions() as db:
        return one_user(db, acting.tenant_id, user).id


def assign(services: Services, acting: Acting, user: str, *, assigned: bool) -> bool:
    """Assign self-service to the user, or take it away (E1); whether it
    changed. Audited only when it did.

    Raises:
        NotFound: no such user in the tenant.
    """
    with services.sessions() as db, db.begin():
        row = one_user(db, acting.tenant_id, user)
        if row.assigned == assigned:
            return False
        row.assigned = assigned
        audit.record(
            db,
            tenant_id=acting.tenant_id,
            user_id=row.id,
            activity=audit.Activity.ASSIGN if assigned else audit.Activity.UNASSIGN,
            success=True,
            at=utcnow(),
            actor=audit.Actor.ADMIN,
            **acting.recorded,
        )
        return True


class _Audited:
    """An administrator's write as its audit event (E5), written in
    writeback's own transactions (``writeback.Companion``): with the request's
    record as "outcome unknown", before the envelope leaves; finished with the
    outcome (a success's after the answer). A crash in between leaves it
    saying what the request's record says: in doubt."""

    def __init__(self, acting: Acting, operation: Operation, must_change: bool) -> None:
        self.acting = acting
        self.operation = operation
        self.detail: dict[str, str | int] = {"must_change": int(must_change), **acting.recorded}
        self.event_id = str(uuid.uuid4())
        #: The event is in the store (set in writeback's worker thread).
        self.written = False

    def requested(self, db: Session, user_id: str, support_code: str) -> None:
        audit.operation(
            db,
            tenant_id=self.acting.tenant_id,
            user_id=user_id,
            activity=_ACTIVITIES[self.operation],
            outcome=Outcome.OUTCOME_UNKNOWN.value,
            support_code=support_code,
            at=utcnow(),
            actor=audit.Actor.ADMIN,
            detail=self.detail,
            event_id=self.event_id,
        )
        self.written = True

    def ended(self, db: Session, result: writeback.WritebackResult) -> None:
        self._finish(db, result.outcome.value, result.support_code)

    def refused(self, services: Services, exc: Refused) -> None:
        """Writeback refused the request after recording it: finished with the refusal's code."""
        with services.sessions() as db, db.begin():
            self._finish(db, exc.code, exc.support_code)

    def _finish(self, db: Session, outcome: str, support_code: str | None) -> None:
        audit.finish_operation(
            db, self.event_id, outcome=outcome, support_code=support_code, detail=self.detail
        )


def _audit_early_refusal(
    services: Services, audited: _Audited, user: str, result: writeback.WritebackResult
) -> None:
    """The audit event of a write writeback refused before it looked ``user``
    up (a password too long or too common), so before the answer.

    Raises:
        NotFound, Conflict: ``user`` names nobody, or several users: the
            answer says so, as for any other request.
    """
    tenant_id = audited.acting.tenant_id
    with services.sessions() as db, db.begin():
        audit.operation(
            db,
            tenant_id=tenant_id,
            user_id=result.user_id or one_user(db, tenant_id, user).id,
            activity=_ACTIVITIES[audited.operation],
            outcome=result.outcome.value,
            support_code=result.support_code,
            at=utcnow(),
            actor=audit.Actor.ADMIN,
            detail=audited.detail,
        )
