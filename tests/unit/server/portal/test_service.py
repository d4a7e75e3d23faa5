"""The portal's use-cases without HTTP: a start for a username that matches
nobody does the very same store work as one for a user (T2, same timing class);
self-service decided from the tenant read once per request as from the store."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy import select

from passback.server.entitlements import Refusal
from passback.server.gate_policies import change_gate_policy
from passback.server.i18n import load_catalogs
from passback.server.portal import flow
from passback.server.portal.codes import Hasher
from passback.server.portal.service import Portal, PortalTenant
from passback.server.ratelimit import SlidingWindowLimiter
from passback.server.relay.local import LocalHub
from passback.server.services import Services
from passback.server.settings import ServerSettings
from passback.server.store import create_engine, session_factory
from passback.server.store.models import DirectoryUser, Tenant
from passback.server.tenants import create_tenant
from tests.support.keys import TEST_MASTER_KEY


@pytest.fixture
def portal(url: str) -> Iterator[tuple[Portal, PortalTenant, sa.Engine]]:
    engine = create_engine(url)
    sessions = session_factory(engine)
    with sessions() as db, db.begin():
        created = create_tenant(db, "Acme", master_key=TEST_MASTER_KEY)
        db.add(
            DirectoryUser(
                id=str(uuid.uuid4()),
                tenant_id=created.tenant_id,
                anchor="AAAAAAAAAAAAAAAAAAAAAA",
                sam_account_name="jdoe",
                user_principal_name=None,
                mail="jdoe@acme.test",
                enabled=True,
                synced_at=dt.datetime.now(dt.UTC),
            )
        )
    services = Services(
        settings=ServerSettings(url),
        sessions=sessions,
        router=LocalHub(),
        master_key=TEST_MASTER_KEY,
    )
    made = Portal(
        services,
        mailer=None,
        limiter=SlidingWindowLimiter(100, 600),
        hasher=Hasher(b"k" * 32),
        catalogs=load_catalogs(),
    )
    yield made, PortalTenant(created.tenant_id, "Acme", created.slug), engine
    engine.dispose()


def statements_of(engine: sa.Engine, run: object) -> list[str]:
    """The SQL statements ``run()`` sends, with their values left out."""
    seen: list[str] = []

    def record(conn: object, cursor: object, statement: str, *args: object) -> None:
        seen.append(re.sub(r"\s+", " ", statement))

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        run()  # type: ignore[operator]
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)
    return seen


def test_a_start_for_nobody_does_the_same_store_work_as_for_a_user(
    portal: tuple[Portal, PortalTenant, sa.Engine],
) -> None:
    made, tenant, engine = portal
    known = statements_of(
        engine, lambda: made._start(tenant, "jdoe", "192.0.2.1", flow.Purpose.RESET)
    )
    unknown = statements_of(
        engine, lambda: made._start(tenant, "nobody", "192.0.2.2", flow.Purpose.RESET)
    )
    assert known == unknown
    assert any(s.startswith("UPDATE directory_users") for s in known)


SID = "S-1-5-21-1-2-3-1105"


@pytest.mark.parametrize(
    ("plan", "policy", "groups", "assigned", "refused"),
    [
        ("premium", {}, "", False, None),
        ("basic", {}, "", False, Refusal.PLAN),
        ("premium", {"scope": "none"}, "", False, Refusal.SCOPE),
        ("premium", {"scope": "group", "scope_group": SID}, f" {SID} ", False, None),
        (
            "premium",
            {"scope": "group", "scope_group": SID},
            " S-1-5-21-1-2-3-9 ",
            False,
            Refusal.SCOPE,
        ),
        ("premium", {"assignment_required": True}, "", False, Refusal.ASSIGNMENT),
        ("premium", {"assignment_required": True}, "", True, None),
    ],
)
async def test_self_service_read_with_the_tenant_decides_as_the_store_does(
    portal: tuple[Portal, PortalTenant, sa.Engine],
    plan: str,
    policy: dict[str, object],
    groups: str,
    assigned: bool,
    refused: Refusal | None,
) -> None:
    """E1, G6: what :meth:`Portal.tenant` reads once per request (the plan, the
    policy) gives the decision reading them in the transaction gives."""
    made, bare, _ = portal
    with made.services.sessions() as db, db.begin():
        tenant_row = db.get(Tenant, bare.id)
        assert tenant_row is not None
        tenant_row.plan = plan
        if policy:
            change_gate_policy(db, bare.id, **policy)
        user = db.scalars(select(DirectoryUser)).one()
        user.group_sids, user.assigned = groups, assigned
        user_id = user.id
    read = await made.tenant(bare.slug)
    assert read.self_service is not None and bare.self_service is None
    with made.services.sessions() as db, db.begin():
        assert made.proven_in(db, read, user_id) == refused
        db.rollback()  # the refusal's audit event: written once below
    with made.services.sessions() as db, db.begin():
        assert made.proven_in(db, bare, user_id) == refused
