"""The caps on help mails (SPEC G5): per account and per tenant, each with a
share per client address, counting only the mails that went."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy.orm import Session

from passback.server.portal import flow, help_requests
from passback.server.portal.codes import Hasher
from passback.server.store.models import PortalFlow
from passback.server.tenants import create_tenant
from tests.support.keys import TEST_MASTER_KEY
from tests.support.store import migrated_store, query_plans

NOW = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
HASHER = Hasher(b"k" * 32)


def asking(db: Session, tenant: str, user: str | None, client: str) -> PortalFlow:
    """A flow whose help request is being made now (``contacted_at`` set)."""
    row = flow.new_flow(
        HASHER,
        tenant_id=tenant,
        user_id=user,
        client=client,
        blocked=None,
        code_ttl=300,
        now=NOW,
    ).row
    row.contacted_at = NOW
    db.add(row)
    db.flush()
    return row


def test_a_flood_from_one_address_leaves_the_account_its_mails(tmp_path: Path) -> None:
    with migrated_store(tmp_path) as sessions, sessions() as db, db.begin():
        tenant = create_tenant(db, "Acme", master_key=TEST_MASTER_KEY).tenant_id

        def ask(user: str | None, client: str) -> help_requests.Asked:
            return help_requests.ask(db, asking(db, tenant, user, client), NOW)

        assert ask("u", "192.0.2.1") == help_requests.Asked(1, 1, None)
        for _ in range(5):
            assert ask("u", "192.0.2.1").held == "no: account_address cap"
        assert ask(None, "192.0.2.9").held == "no: no account"
        assert ask("u", "192.0.2.2") == help_requests.Asked(2, 2, None)
        last = ask("u", "192.0.2.3")
        assert last == help_requests.Asked(3, 3, None) and last.last_for_account
        assert ask("u", "192.0.2.4").held == "no: account cap"
        # the next day, the account has its mails again
        later = asking(db, tenant, "u", "192.0.2.4")
        assert help_requests.ask(db, later, NOW + help_requests.WINDOW).held is None


def test_one_address_gets_a_share_of_the_tenant_mails(tmp_path: Path) -> None:
    with migrated_store(tmp_path) as sessions, sessions() as db, db.begin():
        tenant = create_tenant(db, "Acme", master_key=TEST_MASTER_KEY).tenant_id
        for n in range(help_requests.MAX_PER_TENANT_CLIENT):
            asked = help_requests.ask(db, asking(db, tenant, f"u{n}", "192.0.2.1"), NOW)
            assert asked.held is None
        held = help_requests.ask(db, asking(db, tenant, "other", "192.0.2.1"), NOW)
        assert held.held == "no: tenant_address cap"
        for n in range(help_requests.MAX_PER_TENANT - help_requests.MAX_PER_TENANT_CLIENT):
            asked = help_requests.ask(db, asking(db, tenant, f"v{n}", f"10.0.0.{n}"), NOW)
            assert asked.held is None
        assert asked.last_for_tenant and not asked.last_for_account
        held = help_requests.ask(db, asking(db, tenant, "w", "10.1.0.1"), NOW)
        assert held.held == "no: tenant cap" and not held.last_for_tenant


def test_the_tenant_count_reads_an_index(tmp_path: Path) -> None:
    with migrated_store(tmp_path) as sessions:
        with sessions() as db, db.begin():
            tenant = create_tenant(db, "Acme", master_key=TEST_MASTER_KEY).tenant_id
            row = asking(db, tenant, "u", "192.0.2.1")
            key = row.id_hash

        def ask(db: Session) -> object:
            found = db.get(PortalFlow, key)
            assert found is not None
            return help_requests.ask(db, found, NOW)

        plans = query_plans(sessions, ask)
    counts = plans[1:]  # after the flow's own read
    assert len(counts) == 4
    assert all("USING" in p and "INDEX ix_portal_flows_help_mailed_at" in p for p in counts), plans
