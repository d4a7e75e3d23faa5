"""passback.server.entitlements: what a tenant's plan has, and whether a
synced user may use self-service (SPEC E1, G6)."""

from __future__ import annotations

import pytest

from passback.policy.gates import GatePolicy, Scope
from passback.server.entitlements import (
    Feature,
    Plan,
    Refusal,
    groups_of,
    has,
    plan_of,
    require,
    self_service_refusal,
    stored_groups,
    tenant_refusal,
)
from passback.server.errors import NotEntitled
from passback.server.store.models import DirectoryUser, Tenant

SALES = "S-1-5-21-1004336348-1177238915-682003330-1105"
IN_SALES = GatePolicy(scope=Scope.GROUP, scope_group=SALES)


def tenant(plan: str = "premium") -> Tenant:
    return Tenant(id="t1", name="Acme", slug="acme", plan=plan)


def user(groups: frozenset[str] = frozenset(), *, assigned: bool = False) -> DirectoryUser:
    return DirectoryUser(id="u1", group_sids=stored_groups(groups), assigned=assigned)


def test_each_plan_adds_to_the_one_before() -> None:
    assert Plan.FREE.features == frozenset()
    assert Plan.BASIC.features == {Feature.CLOUD_SELF_SERVICE}
    assert Plan.PREMIUM.features == {Feature.CLOUD_SELF_SERVICE, Feature.WRITEBACK}


def test_an_unknown_stored_plan_has_no_feature() -> None:
    assert plan_of(tenant("enterprise")) is Plan.FREE
    assert not has(tenant("enterprise"), Feature.CLOUD_SELF_SERVICE)


def test_require_names_the_plan_and_the_feature() -> None:
    require(tenant(), Feature.WRITEBACK)
    with pytest.raises(NotEntitled, match=r"plan \(basic\) does not include writeback") as info:
        require(tenant("basic"), Feature.WRITEBACK)
    assert info.value.code == "not_entitled" and info.value.tenant_id == "t1"


def test_stored_groups_round_trip() -> None:
    assert stored_groups(frozenset()) == ""
    assert stored_groups(frozenset({"S-1-2", "S-1-1"})) == " S-1-1 S-1-2 "
    assert groups_of(user(frozenset({SALES, "S-1-5-32-545"}))) == {SALES, "S-1-5-32-545"}


@pytest.mark.parametrize(
    ("plan", "policy", "member", "assigned", "refusal"),
    [
        ("premium", GatePolicy(), None, False, None),
        ("basic", GatePolicy(), None, True, Refusal.PLAN),
        ("free", GatePolicy(), None, True, Refusal.PLAN),
        ("premium", GatePolicy(scope=Scope.NONE), SALES, True, Refusal.SCOPE),
        ("premium", IN_SALES, SALES, False, None),
        ("premium", IN_SALES, "S-1-5-32-545", True, Refusal.SCOPE),
        ("premium", GatePolicy(assignment_required=True), None, False, Refusal.ASSIGNMENT),
        ("premium", GatePolicy(assignment_required=True), None, True, None),
        (
            "basic",
            GatePolicy(scope=Scope.NONE, assignment_required=True),
            None,
            False,
            Refusal.PLAN,
        ),
    ],
)
def test_self_service_refusal_says_the_first_reason(
    plan: str, policy: GatePolicy, member: str | None, assigned: bool, refusal: Refusal | None
) -> None:
    groups = frozenset({member}) if member else frozenset()
    assert self_service_refusal(tenant(plan), policy, user(groups, assigned=assigned)) is refusal


def test_tenant_refusal_is_said_of_everyone_or_no_one() -> None:
    assert tenant_refusal(tenant(), GatePolicy()) is None
    assert tenant_refusal(tenant(), IN_SALES) is None  # who is in: known once proven
    assert tenant_refusal(tenant(), GatePolicy(assignment_required=True)) is None
    assert tenant_refusal(tenant(), GatePolicy(scope=Scope.NONE)) is Refusal.SCOPE
    assert tenant_refusal(tenant("basic"), GatePolicy()) is Refusal.PLAN
