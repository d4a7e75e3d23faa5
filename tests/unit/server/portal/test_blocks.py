"""T1's counts against the real schema: each searches an index, so that the
flows strangers start do not make every start of the tenant slower."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from passback.server.portal import blocks
from tests.support.store import migrated_store, query_plans

NOW = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)


def test_the_starts_of_a_name_from_an_address_are_found_by_index(tmp_path: Path) -> None:
    with migrated_store(tmp_path) as store:
        [plan] = query_plans(store, lambda db: blocks.starts(db, "t1", "w" * 64, "c" * 64, NOW))
    assert "USING INDEX ix_portal_flows_who_hash (tenant_id=? AND who_hash=?)" in plan, plan
