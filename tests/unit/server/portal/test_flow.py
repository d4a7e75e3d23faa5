"""The portal flow's state machine (SPEC W8, T2), without a store."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from passback.server.portal import flow
from passback.server.portal.codes import Hasher, flow_hash
from passback.server.portal.errors import FlowRefused, Refusal
from passback.server.portal.flow import Blocked, Step
from passback.server.store.models import PortalFlow
from passback.server.tenants import create_tenant
from tests.support.keys import TEST_MASTER_KEY
from tests.support.store import migrated_store, query_plans

NOW = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
HASHER = Hasher(b"k" * 32)


def new(blocked: Blocked | None = None) -> flow.NewFlow:
    return flow.new_flow(
        HASHER,
        tenant_id="t",
        user_id=None if blocked else "u",
        client="192.0.2.1",
        blocked=blocked,
        code_ttl=300,
        now=NOW,
    )


def test_the_client_address_is_kept_keyed() -> None:
    row = new().row
    assert row.client_hash == HASHER.client_hash("192.0.2.1")
    assert row.client_hash != Hasher(b"o" * 32).client_hash("192.0.2.1")
    assert "192.0.2.1" not in str(row.client_hash)


def enter(row: PortalFlow, code: str, now: dt.datetime = NOW) -> None:
    """One code attempt: counted first (the store's claim does it), then checked."""
    row.attempts += 1
    flow.enter_code(row, HASHER, code, now)


def refusal(call: object, *args: object) -> FlowRefused:
    with pytest.raises(FlowRefused) as caught:
        call(*args)  # type: ignore[operator]
    return caught.value


def test_a_new_flow_keeps_only_hashes() -> None:
    made = new()
    assert made.row.step == Step.CODE and made.row.attempts == 0
    assert len(made.code) == 8 and made.code.isdigit()
    assert made.code not in (made.row.code_hash or "") and made.token not in made.row.id_hash
    assert made.row.expires_at == NOW + dt.timedelta(seconds=300)


def test_the_right_code_opens_the_password_step_once() -> None:
    made = new()
    enter(made.row, made.code[:4] + " " + made.code[4:])
    assert made.row.step == Step.PASSWORD and made.row.code_hash is None
    assert refusal(enter, made.row, made.code).refusal is Refusal.WRONG_STEP
    assert flow.require(made.row, Step.PASSWORD, NOW) is made.row


def test_no_skipping_to_the_password_step() -> None:
    made = new()
    assert refusal(flow.require, made.row, Step.PASSWORD, NOW).refusal is Refusal.WRONG_STEP
    assert refusal(flow.require, None, Step.CODE, NOW).refusal is Refusal.NO_FLOW


def test_the_code_expires() -> None:
    made = new()
    late = NOW + dt.timedelta(seconds=300)
    assert refusal(enter, made.row, made.code, late).refusal is Refusal.EXPIRED


def test_five_wrong_codes_end_the_flow() -> None:
    made = new()
    wrong = "00000000" if made.code != "00000000" else "11111111"
    for left in (4, 3, 2, 1):
        refused = refusal(enter, made.row, wrong)
        assert (refused.refusal, refused.attempts_left) == (Refusal.WRONG_CODE, left)
    assert refusal(enter, made.row, wrong).refusal is Refusal.TOO_MANY_CODES
    assert made.row.step == Step.ENDED
    assert refusal(enter, made.row, made.code).refusal is Refusal.ENDED


@pytest.mark.parametrize("blocked", list(Blocked))
def test_a_blocked_flow_never_passes_even_with_its_code(blocked: Blocked) -> None:
    made = new(blocked)
    refused = refusal(enter, made.row, made.code)
    assert (refused.refusal, refused.attempts_left) == (Refusal.WRONG_CODE, 4)


def test_finish() -> None:
    made = new()
    enter(made.row, made.code)
    flow.finish(made.row, NOW)
    assert made.row.step == Step.DONE and made.row.completed_at == NOW
    assert refusal(flow.require, made.row, Step.PASSWORD, NOW).refusal is Refusal.WRONG_STEP


def test_the_password_step_is_held_while_writing_and_counts_attempts() -> None:
    made = new()
    enter(made.row, made.code)
    made.row.step = Step.WRITING  # as claim_password_step leaves it
    assert refusal(flow.require, made.row, Step.PASSWORD, NOW).refusal is Refusal.BUSY
    for attempt in range(1, flow.MAX_PASSWORD_ATTEMPTS):
        made.row.write_attempts = attempt
        assert flow.release(made.row, "r-1", NOW)
        assert made.row.step == Step.PASSWORD and made.row.pending_request_id == "r-1"
    made.row.write_attempts = flow.MAX_PASSWORD_ATTEMPTS
    assert not flow.release(made.row, None, NOW)
    assert made.row.step == Step.ENDED
    assert refusal(flow.require, made.row, Step.PASSWORD, NOW).refusal is Refusal.ENDED


def test_a_flow_stays_at_its_gates_an_hour_at_most() -> None:
    """ "Send again" moves a code's expiry, never the flow's life at its gates."""
    row = new().row
    later = NOW
    while later < NOW + flow.GATE_LIFETIME - dt.timedelta(minutes=4):
        later += dt.timedelta(minutes=4)  # pressed before each code expires
        assert flow.send_again(row, HASHER, blocked=None, code_ttl=300, now=later) is not None
    assert row.expires_at > NOW + flow.GATE_LIFETIME
    gone = refusal(flow.require, row, Step.CODE, NOW + flow.GATE_LIFETIME)
    assert gone.refusal is Refusal.EXPIRED


def test_a_flow_sends_three_codes_at_most() -> None:
    row = new().row
    row.sends = flow.MAX_SENDS_PER_FLOW - 1
    flow.send_again(row, HASHER, blocked=None, code_ttl=300, now=NOW)
    assert row.blocked is None
    row.sends = flow.MAX_SENDS_PER_FLOW
    flow.send_again(row, HASHER, blocked=None, code_ttl=300, now=NOW)
    assert row.blocked == Blocked.MAIL_LIMIT


def test_numbers_typed_wrong_are_counted_by_index(tmp_path: Path) -> None:
    """T1 over the flows of one name: an index search each, never every flow
    of the tenant (at 100,000 flows that read took 49 ms)."""
    with migrated_store(tmp_path) as store:
        plans = query_plans(store, lambda db: flow.number_misses(db, "t1", "w" * 64, "c" * 64, NOW))
    assert len(plans) == 2
    assert "USING INDEX ix_portal_flows_who_hash (tenant_id=? AND who_hash=?)" in plans[0]
    assert "(id_hash=?)" in plans[1] and "SCAN" not in plans[1], plans[1]


def capped_start() -> PortalFlow:
    """A known user's flow past the code caps (T1): nothing was mailed for it."""
    return flow.new_flow(
        HASHER,
        tenant_id="t",
        user_id="u",
        client="192.0.2.1",
        blocked=Blocked.MAIL_LIMIT,
        code_ttl=300,
        now=NOW,
    ).row


def test_a_link_flow_is_of_its_own_and_outlives_the_interval() -> None:
    """Past the caps: the link mail's flow is reached by its link only, its
    code opens nothing on the flow that asked for it, and it works longer than
    the interval between link mails, so the newest one always works."""
    start = capped_start()
    start.gates_passed = "totp"
    made = flow.new_link_flow(HASHER, start, code_ttl=60, now=NOW)
    row = made.row
    assert (row.user_id, row.step, row.gate, row.blocked) == ("u", Step.CODE, "email", None)
    assert (row.purpose, row.gates_passed, row.who_hash) == (start.purpose, "totp", None)
    assert row.client_hash == start.client_hash and row.mailed
    assert row.link_hash == flow_hash(made.link) and row.id_hash != start.id_hash
    assert row.expires_at == NOW + flow.LINK_CODE_LIFETIME > NOW + flow.LINK_MAIL_INTERVAL
    assert refusal(enter, start, made.code).refusal is Refusal.WRONG_CODE
    enter(row, made.code, NOW + flow.LINK_CODE_LIFETIME - dt.timedelta(seconds=1))
    assert row.step == Step.PASSWORD
    longer = flow.new_link_flow(HASHER, start, code_ttl=3600, now=NOW).row
    assert longer.expires_at == NOW + dt.timedelta(hours=1)


def test_link_mails_go_once_an_interval_whoever_asks(tmp_path: Path) -> None:
    with migrated_store(tmp_path) as sessions, sessions() as db, db.begin():
        tenant = create_tenant(db, "Acme", master_key=TEST_MASTER_KEY).tenant_id
        start = capped_start()
        start.tenant_id = start.user_id = tenant  # any user id will do

        def due(at: dt.datetime) -> bool:
            return flow.link_mail_due(db, tenant, tenant, at)

        assert due(NOW)
        flow.record_send(db, start, flow.LINK_CHANNEL, NOW)
        db.flush()
        assert not due(NOW + flow.LINK_MAIL_INTERVAL - dt.timedelta(seconds=1))
        assert due(NOW + flow.LINK_MAIL_INTERVAL)
        assert flow.link_mail_due(db, tenant, "another user", NOW)
        # The code caps count code mails only: link mails are not among them.
        assert not flow.mail_limit_reached(db, tenant, tenant, "x", NOW)
