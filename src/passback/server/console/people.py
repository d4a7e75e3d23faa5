"""What the console reads of the tenant's synced users: a search, and one
user's page — registration per method, T1 blocks in force, recent activity.

The account's lock state and password dates live in the directory; the
console shows what the last sign-in or check reported (``writeback``), and
the administrator's actions ask the directory itself. Whether the user may
use self-service (E1, G6) is decided here from the synced groups, the
policy and the tenant's plan.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import secrets
import string

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from passback.server import entitlements
from passback.server.admin_actions import block_subjects
from passback.server.console.errors import ConsoleError
from passback.server.gate_policies import gate_policy
from passback.server.i18n.translations import N_
from passback.server.portal.codes import Hasher
from passback.server.store.models import (
    AuditEvent,
    DirectoryGroup,
    DirectoryUser,
    GateRegistration,
    SelfServiceBlock,
    Tenant,
)

#: Users a search shows at most; a longer list asks for a narrower search.
MAX_RESULTS = 50
MAX_QUERY = 256
RECENT_EVENTS = 20
#: A generated password: long, and with every kind of character AD's
#: complexity rule counts.
GENERATED_LENGTH = 16
_ALPHABET = string.ascii_letters + string.digits + "!#%+-=?@^_"


@dataclasses.dataclass(frozen=True)
class Found:
    users: list[DirectoryUser]
    more: bool  # more than MAX_RESULTS matched


@dataclasses.dataclass(frozen=True)
class Profile:
    user: DirectoryUser
    methods: list[tuple[str, dt.datetime]]  # registered: method, since
    blocks: list[tuple[str, dt.datetime]]  # in force: scope, until
    events: list[AuditEvent]
    #: Why the user may not use self-service (E1, G6); None: they may.
    refusal: entitlements.Refusal | None = None
    #: The policy's scope group, by name (its SID before a sync brought it).
    scope_group: str = ""
    #: Whether the policy requires an assignment (E1).
    assignment_required: bool = False


def search(db: Session, tenant_id: str, query: str) -> Found:
    """Users whose username, UPN, email or display of them starts with
    ``query`` (any case); all of them (up to the cap) for an empty one.

    Raises:
        ConsoleError: ``invalid_query``: too long, or not printable text.
    """
    query = query.strip()
    if len(query) > MAX_QUERY or not query.isprintable():
        raise ConsoleError("invalid_query", N_("Enter at most 256 characters."), field="q")
    found = select(DirectoryUser).where(DirectoryUser.tenant_id == tenant_id)
    if query:
        like = _escape(query.lower()) + "%"
        found = found.where(
            or_(
                func.lower(DirectoryUser.sam_account_name).like(like, escape="\\"),
                func.lower(DirectoryUser.user_principal_name).like(like, escape="\\"),
                func.lower(DirectoryUser.mail).like(like, escape="\\"),
            )
        )
    users = list(db.scalars(found.order_by(DirectoryUser.sam_account_name).limit(MAX_RESULTS + 1)))
    return Found(users[:MAX_RESULTS], len(users) > MAX_RESULTS)


def profile(db: Session, tenant_id: str, user_id: str, hasher: Hasher, now: dt.datetime) -> Profile:
    """Raises ConsoleError ``user_not_found`` (404)."""
    user = db.get(DirectoryUser, user_id[:64])
    if user is None or user.tenant_id != tenant_id:
        raise ConsoleError("user_not_found", N_("There is no such user."), status=404)
    methods = [
        (r.method, r.created_at)
        for r in db.scalars(
            select(GateRegistration)
            .where(GateRegistration.tenant_id == tenant_id, GateRegistration.user_id == user.id)
            .order_by(GateRegistration.method)
        )
    ]
    blocks = [
        (b.scope, b.until)
        for b in db.scalars(
            select(SelfServiceBlock).where(
                SelfServiceBlock.tenant_id == tenant_id,
                SelfServiceBlock.subject.in_(block_subjects(user, hasher)),
                SelfServiceBlock.until > now,
            )
        )
    ]
    events = list(
        db.scalars(
            select(AuditEvent)
            .where(AuditEvent.tenant_id == tenant_id, AuditEvent.user_id == user.id)
            .order_by(AuditEvent.at.desc())
            .limit(RECENT_EVENTS)
        )
    )
    tenant = db.get(Tenant, tenant_id)
    assert tenant is not None  # the user is the tenant's
    policy = gate_policy(db, tenant_id)
    group = db.get(DirectoryGroup, (tenant_id, policy.scope_group or ""))
    return Profile(
        user,
        methods,
        blocks,
        events,
        refusal=entitlements.self_service_refusal(tenant, policy, user),
        scope_group=group.name if group else policy.scope_group or "",
        assignment_required=policy.assignment_required,
    )


def generate_password() -> str:
    """A random password that meets AD's complexity rule: upper, lower,
    digit and symbol, each at least once."""
    while True:
        password = "".join(secrets.choice(_ALPHABET) for _ in range(GENERATED_LENGTH))
        if (
            any(c.islower() for c in password)
            and any(c.isupper() for c in password)
            and any(c.isdigit() for c in password)
            and any(not c.isalnum() for c in password)
        ):
            return password


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
