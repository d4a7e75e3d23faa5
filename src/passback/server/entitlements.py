"""What a tenant may use and who of its users may use it (SPEC E1, G6).

A tenant's :class:`Plan` (set by the deployment's operator) decides which
:class:`Feature` exists; the tenant's administrators may require a per-user
assignment, and the self-service policy's scope (None / a group / All, G6)
decides who may use self-service. :func:`self_service_refusal` says, for one
synced user, which of these keeps them out, if any; every self-service path
(reset, unlock, change, sign-in to My account) asks it once the user is proven.
"""

from __future__ import annotations

import enum

from sqlalchemy import ColumnElement

from passback.policy.gates import GatePolicy, Scope
from passback.server.errors import NotEntitled
from passback.server.store.models import DirectoryUser, Tenant


class Feature(enum.StrEnum):
    #: Self-service password reset for cloud accounts (U1): the console's
    #: administrators reset their own password.
    CLOUD_SELF_SERVICE = "cloud_self_service"
    #: Passwords of synced users written back to the directory: self-service
    #: reset, change and unlock in the portal, and administrators' resets,
    #: unlocks and require-changes from the console and the API (W3).
    WRITEBACK = "writeback"


class Plan(enum.StrEnum):
    FREE = "free"  # the console and reports; no self-service, no writeback
    BASIC = "basic"  # + administrators' self-service reset
    PREMIUM = "premium"  # + writeback for synced users

    @property
    def features(self) -> frozenset[Feature]:
        return _FEATURES[self]


_FEATURES = {
    Plan.FREE: frozenset[Feature](),
    Plan.BASIC: frozenset({Feature.CLOUD_SELF_SERVICE}),
    Plan.PREMIUM: frozenset({Feature.CLOUD_SELF_SERVICE, Feature.WRITEBACK}),
}

#: The plan of a tenant created without one.
DEFAULT_PLAN = Plan.PREMIUM


class Refusal(enum.StrEnum):
    """Why a user may not use self-service; each is shown to the user as "your
    administrator has not enabled this feature" and kept in the support record."""

    PLAN = "plan"  # the tenant's plan lacks writeback
    SCOPE = "scope"  # the policy's scope leaves the user out (G6)
    ASSIGNMENT = "assignment"  # the tenant requires an assignment the user lacks


def plan_of(tenant: Tenant) -> Plan:
    """The tenant's plan; an unknown stored value has no feature (never more
    than the operator chose)."""
    try:
        return Plan(tenant.plan)
    except ValueError:
        return Plan.FREE


def has(tenant: Tenant, feature: Feature) -> bool:
    return feature in plan_of(tenant).features


def require(tenant: Tenant, feature: Feature) -> None:
    """Raises:
    NotEntitled: the tenant's plan lacks ``feature``."""
    if not has(tenant, feature):
        raise NotEntitled(
            f"the tenant's plan ({plan_of(tenant).value}) does not include {feature.value}",
            tenant_id=tenant.id,
        )


def groups_of(user: DirectoryUser) -> frozenset[str]:
    """The SIDs of the user's groups, as sync stored them."""
    return frozenset(user.group_sids.split())


def self_service_refusal(tenant: Tenant, policy: GatePolicy, user: DirectoryUser) -> Refusal | None:
    """Why ``user`` may not use self-service (reset, unlock, change), or None
    when they may."""
    if not has(tenant, Feature.WRITEBACK):
        return Refusal.PLAN
    return user_refusal(policy, user)


def user_refusal(policy: GatePolicy, user: DirectoryUser) -> Refusal | None:
    """What of :func:`self_service_refusal` depends on ``user``: the policy's
    scope and assignment (the tenant's plan allows self-service)."""
    if not policy.in_scope(groups_of(user)):
        return Refusal.SCOPE
    if policy.assignment_required and not user.assigned:
        return Refusal.ASSIGNMENT
    return None


def tenant_refusal(tenant: Tenant, policy: GatePolicy) -> Refusal | None:
    """Why no user of the tenant may use self-service, whoever they are (the
    portal then says so at once: it reveals nothing of any account, T2)."""
    if not has(tenant, Feature.WRITEBACK):
        return Refusal.PLAN
    if policy.scope is Scope.NONE:
        return Refusal.SCOPE
    return None


def enabled_for(tenant: Tenant, policy: GatePolicy) -> list[ColumnElement[bool]] | None:
    """The conditions on ``DirectoryUser`` rows that :func:`self_service_refusal`
    lets through (for counting them); None: no one."""
    if tenant_refusal(tenant, policy) is not None:
        return None
    found: list[ColumnElement[bool]] = []
    if policy.scope is Scope.GROUP:
        found.append(DirectoryUser.group_sids.like(group_pattern(policy.scope_group or "")))
    if policy.assignment_required:
        found.append(DirectoryUser.assigned.is_(True))
    return found


def group_pattern(sid: str) -> str:
    """A LIKE pattern for the users who are members of the group ``sid``."""
    return f"% {sid} %"


def stored_groups(sids: tuple[str, ...] | frozenset[str]) -> str:
    """``DirectoryUser.group_sids`` for these SIDs."""
    return f" {' '.join(sorted(sids))} " if sids else ""
