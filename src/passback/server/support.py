"""Support records (SPEC E2): every error a user or API caller sees carries a
support code, and the code finds this record in one lookup.

A record says when (UTC, zone included), which tenant and user, what was asked
(method, path, request id), how it ended (error code, HTTP status, the message
shown) and which agent event recorded it. An operation's record is completed
from the operation's row, so the agent's id and event id come along. It never
holds a password or a one-time code (S7): callers pass only the fields below.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import re
import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from passback.server.directory_users import MAX_USERNAME
from passback.server.store.models import (
    DirectoryUser,
    OperationRecord,
    SupportRecord,
    Tenant,
    utcnow,
)

logger = logging.getLogger(__name__)

MAX_PATH = 1024


@dataclasses.dataclass(frozen=True)
class Incident:
    """What happened, as the code that saw the error knows it."""

    error: str  # a stable code: an ``Outcome`` value or e.g. ``rate_limited``
    status: int
    message: str  # the English text shown (never a password or code)
    method: str = "GET"
    path: str = ""
    tenant_id: str | None = None
    user_id: str | None = None
    username: str | None = None
    request_id: str | None = None
    agent_id: str | None = None
    event_id: int | None = None
    note: str | None = None  # for support only, e.g. why a code step cannot pass
    language: str | None = None  # the language the user was shown the message in


@dataclasses.dataclass(frozen=True)
class SupportView:
    """A record with the names an operator reads, for ``passback support show``."""

    record: SupportRecord
    tenant: str | None  # "name (slug)"
    user: str | None  # sAMAccountName of the user id
    operation: str | None
    outcome: str | None


def new_code() -> str:
    return str(uuid.uuid4())


#: Paths whose last part is a secret: a console set-up link opens an
#: administrator's account; a code mail's link is half of a gate.
SECRET_PATH = re.compile(r"(/console/[^/?\s]+/setup/|/portal/[^/?\s]+/code/(?!again\b))[^/?\s]+")


def blank_secrets(text: str) -> str:
    """``text`` with the secret part of any such path blanked (S7)."""
    return SECRET_PATH.sub(r"\1…", text)


def record(sessions: sessionmaker[Session], incident: Incident, code: str | None = None) -> str:
    """Store the record of ``incident`` under ``code`` (new if None); the code.

    The same code again (a retried operation keeps its support code)
    overwrites the earlier record: it is the latest state that support needs.
    """
    code = code or new_code()
    with sessions() as db, db.begin():
        values = dataclasses.asdict(incident)
        values["username"] = (incident.username or None) and incident.username[:MAX_USERNAME]
        values["path"] = blank_secrets(incident.path)[:MAX_PATH]
        if incident.request_id and incident.tenant_id:
            operation = db.get(OperationRecord, (incident.tenant_id, incident.request_id))
            if operation is not None:
                values["tenant_id"] = values["tenant_id"] or operation.tenant_id
                values["user_id"] = values["user_id"] or operation.user_id
                values["agent_id"] = values["agent_id"] or operation.agent_id
                values["event_id"] = values["event_id"] or operation.event_id
        row = db.get(SupportRecord, code)
        if row is None:
            db.add(SupportRecord(code=code, created_at=utcnow(), **values))
        else:
            for name, value in values.items():
                setattr(row, name, value)
            row.created_at = utcnow()
    return code


def lookup(sessions: sessionmaker[Session], code: str) -> SupportView | None:
    """The record of ``code``, or None if there is none.

    Raises:
        ValueError: ``code`` is not a UUID.
    """
    code = str(uuid.UUID(code.strip()))
    with sessions() as db:
        row = db.get(SupportRecord, code)
        if row is None:
            return None
        tenant = db.get(Tenant, row.tenant_id) if row.tenant_id else None
        user = db.get(DirectoryUser, row.user_id) if row.user_id else None
        operation = (
            db.get(OperationRecord, (row.tenant_id, row.request_id))
            if row.request_id and row.tenant_id
            else db.scalar(select(OperationRecord).where(OperationRecord.support_code == code))
        )
        return SupportView(
            record=row,
            tenant=f"{tenant.name} ({tenant.slug})" if tenant else None,
            user=user.sam_account_name if user else None,
            operation=operation.operation if operation else None,
            outcome=operation.outcome if operation else None,
        )


def local(when: dt.datetime) -> str:
    """``when`` as ISO 8601 in UTC and in this machine's zone, both with the zone."""
    return f"{when.isoformat()} ({when.astimezone().strftime('%Y-%m-%d %H:%M:%S %Z%z')})"
