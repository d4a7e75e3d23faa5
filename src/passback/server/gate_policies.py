"""Use-case: a tenant's self-service policy, read and changed (SPEC G1, G2,
G8), for the API, the CLI and (later) the console. Every change is validated
as a whole (``GatePolicy.problems``) and shown back as it now is."""

from __future__ import annotations

import dataclasses
import json
import secrets
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy.orm import Session

from passback.policy.gates import CUSTOM_PREFIX, CustomQuestion, GatePolicy, Method, Scope
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
        custom_questions=_custom_from_json(row.custom_questions),
        scope=Scope(row.scope) if row.scope in _SCOPES else Scope.NONE,
        scope_group=row.scope_group,
        assignment_required=row.assignment_required,
        notify_users=row.notify_users,
        notify_admins=row.notify_admins,
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
    if "scope" in changes:
        if changes["scope"] not in _SCOPES:
            raise Unprocessable(
                f"unknown scope {changes['scope']!r}; known: {', '.join(sorted(_SCOPES))}",
                code="invalid_policy",
            )
        changes["scope"] = Scope(changes["scope"])
    if "scope_group" in changes:
        group = changes["scope_group"]
        changes["scope_group"] = str(group).strip() or None if group is not None else None
    for flag in ("notify_users", "notify_admins", "registration_required", "assignment_required"):
        if flag in changes and not isinstance(changes[flag], bool):
            raise Unprocessable(f"{flag} must be true or false", code="invalid_policy")
    if "phone_region" in changes:
        region = changes["phone_region"]
        if region and not phones.is_region(str(region)):
            raise Unprocessable(
                f"unknown phone region {region!r}: an ISO 3166 code such as BR or US",
                code="invalid_policy",
            )
        changes["phone_region"] = str(region).upper() if region else None
    if "custom_questions" in changes:
        current = gate_policy(session, tenant_id).custom_questions
        changes["custom_questions"] = _with_ids(changes["custom_questions"], current)
    if "admin_contacts" in changes:
        changes["admin_contacts"] = tuple(str(a).strip() for a in changes["admin_contacts"])
    policy = dataclasses.replace(gate_policy(session, tenant_id), **changes)
    problems = policy.problems()
    if problems:
        raise Unprocessable(
            "; ".join(problems),
            code="invalid_policy",
            detail={"problems": [{"code": p.code, **p.values} for p in problems]},
        )
    row = session.get(GatePolicyRow, tenant_id) or GatePolicyRow(tenant_id=tenant_id)
    row.methods = ",".join(m.value for m in Method if m in policy.methods)
    row.required = policy.required
    row.questions_to_register = policy.questions_to_register
    row.questions_to_ask = policy.questions_to_ask
    row.registration_required = policy.registration_required
    row.reconfirm_days = policy.reconfirm_days
    row.phone_region = policy.phone_region
    row.admin_contacts = ",".join(policy.admin_contacts)
    row.custom_questions = json.dumps(
        [dataclasses.asdict(q) for q in policy.custom_questions], ensure_ascii=False
    )
    row.scope = policy.scope.value
    row.scope_group = policy.scope_group
    row.assignment_required = policy.assignment_required
    row.notify_users = policy.notify_users
    row.notify_admins = policy.notify_admins
    row.updated_at = utcnow()
    session.add(row)
    session.flush()
    return policy


def _with_ids(
    given: Iterable[Mapping[str, Any] | CustomQuestion], current: Iterable[CustomQuestion]
) -> tuple[CustomQuestion, ...]:
    """The questions of a change with their ids: the id given, if it is one of
    the tenant's; else the id of the question with the same English text (an
    edit of its Portuguese); else a new one.

    Raises:
        Unprocessable: an entry is not a question, or names an unknown id.
    """
    by_id = {q.id: q for q in current}
    by_text = {_canonical(q.en): q.id for q in current}
    found = []
    for entry in given:
        raw = dataclasses.asdict(entry) if isinstance(entry, CustomQuestion) else dict(entry)
        en, pt_br, chosen = raw.get("en"), raw.get("pt_br"), raw.get("id")
        if not isinstance(en, str) or not isinstance(pt_br, str | None):
            raise Unprocessable("a custom question needs its English text", code="invalid_policy")
        if chosen is not None and chosen not in by_id:
            raise Unprocessable(f"no custom question {chosen!r}", code="invalid_policy")
        made = chosen or by_text.get(_canonical(en)) or CUSTOM_PREFIX + secrets.token_hex(4)
        found.append(CustomQuestion(made, en.strip(), pt_br.strip() if pt_br else None))
    return tuple(found)


def _custom_from_json(text: str) -> tuple[CustomQuestion, ...]:
    try:
        raw = json.loads(text or "[]")
    except ValueError:
        return ()
    return tuple(
        CustomQuestion(q["id"], q["en"], q.get("pt_br"))
        for q in raw
        if isinstance(q, dict) and isinstance(q.get("id"), str) and isinstance(q.get("en"), str)
    )


def _canonical(text: str) -> str:
    return " ".join(text.casefold().split())


_KNOWN = frozenset(m.value for m in Method)
_SCOPES = frozenset(s.value for s in Scope)
