"""passback.server.console.reports: failures by reason, and their chart (E5)."""

from __future__ import annotations

import datetime as dt
import json
import uuid

from sqlalchemy.orm import Session

from passback.server.console.reports import (
    OTHER_REASONS,
    Filter,
    per_reason,
    reasons_svg,
)
from passback.server.store.models import AuditEvent
from passback.server.tenants import create_tenant
from tests.support.keys import TEST_MASTER_KEY

DAY = dt.date(2026, 11, 29)
AT = dt.datetime(2026, 11, 29, 12, tzinfo=dt.UTC)


def event(
    tenant: str, activity: str, result: str, method: str | None = None, **detail: str
) -> AuditEvent:
    return AuditEvent(
        id=str(uuid.uuid4()),
        tenant_id=tenant,
        at=AT,
        user_id=None,
        actor="user",
        activity=activity,
        result=result,
        method=method,
        subject=None,
        detail_json=json.dumps(detail),
    )


def test_failures_are_counted_by_outcome_reason_or_activity(db: Session) -> None:
    tenant = create_tenant(db, "Acme", master_key=TEST_MASTER_KEY).tenant_id
    db.add_all(
        [
            *(event(tenant, "reset_password", "failure", outcome="too_short") for _ in range(3)),
            event(tenant, "reset_password", "success", outcome="ok"),
            event(tenant, "not_enabled", "failure", reason="scope"),
            event(tenant, "gate", "failure", method="email"),
            *(event(tenant, "change_password", "failure", outcome=f"r{i}") for i in range(3)),
        ]
    )
    db.flush()
    chosen = Filter(DAY, DAY)
    found = per_reason(db, tenant, chosen, most=3)
    assert found[0] == ("too_short", 3)
    assert {r for r, _ in found[1:3]} <= {"scope", "gate:email", "r0", "r1", "r2"}
    assert found[3] == (OTHER_REASONS, 3)
    assert per_reason(db, "other-tenant", chosen) == []


def test_the_chart_names_each_reason_and_escapes_them() -> None:
    svg = reasons_svg([("too_short", 3), ("<b>", 1), (OTHER_REASONS, 2)], title="T", other="rest")
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert "too_short: 3" in svg and "&lt;b&gt;: 1" in svg and "rest: 2" in svg
    assert "<b>" not in svg
