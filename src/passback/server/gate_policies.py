"""Use-case: a tenant's self-service policy, read and changed (SPEC G1, G2,
G8), for the API, the CLI and (later) the console. Every change is validated
as a whole (``GatePolicy.problems``) and shown back as it now is."""

from __future__ import annotations

import dataclasses
from typing import Any

from sqlalchemy.orm import Session

from passback.policy.gates import GatePolicy, Method
from passback.server import phones
from passback.server.errors import UnknownTenant, Unprocessable
from passback.server.store.models import GatePolicyRow, Tenant, utcnow

#: What a change may name: the fields of ``GatePolicy``.
FIELDS = frozenset(f.name for f in dataclasses.fields(GatePolicy))


def gate_policy(session: Session, tenant_id: str) -> GatePolicy:
    """The tenant's policy; the default one until it is changed.

    Raises:
        UnknownTenant: no tenant has this id.
    """
    row = session.get(GatePolicyRow, tenant_id)
    if row is None:
        if session.get(Tenant, tenant_id) is None:
            raise UnknownTenant(f"no tenant {tenant_id}")
        return GatePolicy()
    return GatePolicy(
        methods=frozenset(Method(m) for m in row.methods.split(",") if m in _KNOWN),
        required=row.required,
        questions_to_register=row.questions_to_register,
        questions_to_ask=row.questions_to_ask,
        registration_required=row.registration_required,
        reconfirm_days=row.reconfirm_days,
        phone_region=row.phone_region,
        admin_contacts=tuple(a for a in row.admin_contacts.split(",") if a),
    )


def change_gate_policy(session: Session, tenant_id: str, **changes: Any) -> GatePolicy:
    """Apply ``changes`` (fields of ``GatePolicy``; ``methods`` as method
    names) to the tenant's policy and store it; the policy as it now is.

    Raises:
        UnknownTenant: no tenant has this id.
        Unprocessable: the result is not a valid policy (``invalid_policy``;
            the message lists every problem), or a method is unknown.
    """
    unknown = set(changes) - FIELDS
    if unknown:
        raise ValueError(f"not policy fields: {sorted(unknown)}")
    if "methods" in changes:
        names = list(changes["methods"])
        wrong = [n for n in names if n not in _KNOWN]
        if wrong:
            raise Unprocessable(
                f"unknown method(s): {', '.join(map(str, wrong))}; "
                f"known: {', '.join(m.value for m in Method)}",
                code="invalid_policy",
            )
        chosen = frozenset(Method(n) for n in names)
        changes["methods"] = chosen
    if "phone_region" in changes:
        region = changes["phone_region"]
        if region and not phones.is_region(str(region)):
            raise Unprocessable(
                f"unknown phone region {region!r}: an ISO 3166 code such as BR or US",
                code="invalid_policy",
            )
        changes["phone_region"] = str(region).upper() if region else None
    if "admin_contacts" in changes:
        changes["admin_contacts"] = tuple(str(a).strip() for a in changes["admin_contacts"])
    policy = dataclasses.replace(gate_policy(session, tenant_id), **changes)
    problems = policy.problems()
    if problems:
        raise Unprocessable("; ".join(problems), code="invalid_policy")
    row = session.get(GatePolicyRow, tenant_id) or GatePolicyRow(tenant_id=tenant_id)
    row.methods = ",".join(m.value for m in Method if m in policy.methods)
    row.required = policy.required
    row.questions_to_register = policy.questions_to_register
    row.questions_to_ask = policy.questions_to_ask
    row.registration_required = policy.registration_required
    row.reconfirm_days = policy.reconfirm_days
    row.phone_region = policy.phone_region
    row.admin_contacts = ",".join(policy.admin_contacts)
    row.updated_at = utcnow()
    session.add(row)
    session.flush()
    return policy


_KNOWN = frozenset(m.value for m in Method)
