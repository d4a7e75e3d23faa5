"""The audit log of self-service (SPEC E5): what happened to whose account,
when, done by whom, and how it ended. The admin console's reports read it;
nothing secret is ever written to it (S7).

Activity names follow the words administrators know from the reports of
the products Passback stands beside ("Self-service password reset",
"Unlock a user account (self-service)", …) in a stable machine form.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import uuid
from collections.abc import Mapping

from sqlalchemy import bindparam, update
from sqlalchemy.orm import Session

from passback.server.store.models import AuditEvent


class Activity(enum.StrEnum):
    REGISTER_METHOD = "register_method"  # "User registered security info"
    REMOVE_METHOD = "remove_method"  # "User deleted security info"
    RECONFIRM = "reconfirm"  # "User reviewed security info"
    SIGN_IN = "sign_in"
    CHANGE_PASSWORD = "change_password"  # noqa: S105 - an activity name
    RESET_PASSWORD = "reset_password"  # noqa: S105 - an activity name
    UNLOCK_ACCOUNT = "unlock_account"
    GATE = "gate"  # one verification attempt, pass or fail
    BLOCK = "block"  # T1: a part of self-service blocked for 24 hours
    LIFT_BLOCK = "lift_block"
    ASK_ADMIN = "ask_admin"  # G5: a user no code reached asked the administrators for help
    ADMIN_SETUP = "admin_setup"  # an administrator set up a password and an authenticator
    ADMIN_INVITE = "admin_invite"  # "Invite an administrator"
    ADMIN_CHANGE = "admin_change"  # disabled, enabled, or a new set-up link
    ADMIN_PASSWORD_RESET = "admin_password_reset"  # noqa: S105 - an activity name
    ADMIN_PASSKEY_ADDED = "admin_passkey_added"  # an administrator's own second factor
    ADMIN_PASSKEY_REMOVED = "admin_passkey_removed"
    REQUIRE_CHANGE = "require_change"  # an administrator: "must change at next logon"
    ONBOARD_AGENT = "onboard_agent"  # L1: an agent joined with an onboarding token
    REVOKE_AGENT = "revoke_agent"
    ONBOARDING_TOKEN = "onboarding_token"  # noqa: S105 - an activity name
    CHANGE_POLICY = "change_policy"  # "Update self-service policy"
    API_TOKEN = "api_token"  # noqa: S105 - an activity name: a token created or revoked
    ASSIGN = "assign"  # E1: "Assign self-service to a user"
    UNASSIGN = "unassign"
    CHANGE_PLAN = "change_plan"  # E1: the operator changed the tenant's plan
    NOT_ENABLED = "not_enabled"  # E1, G6: a proven user whom self-service is not enabled for


class Actor(enum.StrEnum):
    USER = "user"
    ADMIN = "admin"
    SYSTEM = "system"


def record(
    db: Session,
    *,
    tenant_id: str,
    user_id: str | None,
    activity: Activity,
    success: bool,
    at: dt.datetime,
    actor: Actor = Actor.USER,
    method: str | None = None,
    subject: str | None = None,
    **detail: str | int,
) -> AuditEvent:
    """Add one event to the session (the caller commits, with what it records).

    Args:
        method: the verification method of a gate or a registration.
        subject: whose attempt it counts as for T1 (``portal.blocks``); the
            user id by default.
    """
    return _add(db, tenant_id, user_id, activity, success, at, actor, method, subject, detail)


def operation(
    db: Session,
    *,
    tenant_id: str,
    user_id: str | None,
    activity: Activity,
    outcome: str,
    support_code: str | None,
    at: dt.datetime,
    actor: Actor = Actor.USER,
    subject: str | None = None,
    detail: Mapping[str, str | int] | None = None,
    event_id: str | None = None,
) -> AuditEvent:
    """A password operation (a reset, a change, an unlock, a sign-in) as it
    ended, a success only if ``outcome`` is ``ok``: ``outcome`` (an
    ``Outcome`` value, or the code of the error that stopped it) and the
    support code that finds its record (E2) are in the detail. ``event_id``:
    the id it is later finished by (:func:`finish_operation`)."""
    facts = _operation_facts(outcome, support_code, detail)
    ok = outcome == "ok"
    return _add(db, tenant_id, user_id, activity, ok, at, actor, None, subject, facts, event_id)


def finish_operation(
    db: Session,
    event_id: str,
    *,
    outcome: str,
    support_code: str | None,
    detail: Mapping[str, str | int] | None = None,
) -> None:
    """The event :func:`operation` wrote as it began (``outcome_unknown``),
    now as the operation ended."""
    facts = _operation_facts(outcome, support_code, detail)
    db.execute(
        _FINISH,
        {
            "event_id": event_id,
            "set_result": "success" if outcome == "ok" else "failure",
            "set_detail": json.dumps(facts, sort_keys=True),
        },
    )


_FINISH = (
    update(AuditEvent)
    .where(AuditEvent.id == bindparam("event_id"))
    .values(result=bindparam("set_result"), detail_json=bindparam("set_detail"))
    .execution_options(synchronize_session=False)
)


def _operation_facts(
    outcome: str, support_code: str | None, detail: Mapping[str, str | int] | None
) -> dict[str, str | int]:
    facts = {**(detail or {}), "outcome": outcome}
    if support_code:
        facts["support_code"] = support_code
    return facts


def _add(
    db: Session,
    tenant_id: str,
    user_id: str | None,
    activity: Activity,
    success: bool,
    at: dt.datetime,
    actor: Actor,
    method: str | None,
    subject: str | None,
    detail: Mapping[str, str | int],
    event_id: str | None = None,
) -> AuditEvent:
    event = AuditEvent(
        id=event_id or str(uuid.uuid4()),
        tenant_id=tenant_id,
        at=at,
        user_id=user_id,
        actor=actor.value,
        activity=activity.value,
        result="success" if success else "failure",
        method=method,
        subject=subject or user_id,
        detail_json=json.dumps(detail, sort_keys=True),
    )
    db.add(event)
    return event
