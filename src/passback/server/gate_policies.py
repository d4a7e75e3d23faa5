"""Use-case: a tenant's self-service policy, read and changed (SPEC G1, G2,
G8), for the API, the CLI and (later) the console. Every change is validated
as a whole (``GatePolicy.problems``) and shown back as it now is."""

from __future__ import annotations

import dataclasses
from typing import Any

from sqlalchemy.orm import Session

from passback.policy.gates import GatePolicy, Method
from passback.server.errors import UnknownTenant, Unprocessable
from passback.server.store.models import GatePolicyRow, Tenant, utcnow

#: The methods this version's portal offers at a gate; a policy may allow only these.
AVAILABLE = frozenset({Method.EMAIL, Method.TOTP, Method.QUESTIONS})

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
        missing = [m.value for m in Method if m in chosen - AVAILABLE]
        if missing:
            raise Unprocessable(
                f"not available in this version yet: {', '.join(missing)}; "
                f"available: {', '.join(m.value for m in Method if m in AVAILABLE)}",
                code="invalid_policy",
            )
        changes["methods"] = chosen
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
    row.updated_at = utcnow()
    session.add(row)
    session.flush()
    return policy


_KNOWN = frozenset(m.value for m in Method)
