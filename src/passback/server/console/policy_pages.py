"""The console's Policy page (SPEC G1, G2, G6, G8, G9, E1, W3): the tenant's
self-service policy, shown, changed as a whole, checked, and audited before → after.

    GET  /console/{slug}/policy
    POST /console/{slug}/policy      → 303 policy, or the form again with every problem

A change needs the authenticator code proved within the last five minutes, as
a reset does. The JSON route is ``PATCH /api/v1/policy``.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import select
from starlette.datastructures import FormData

from passback.policy.gates import (
    MAX_ADMIN_CONTACTS,
    MAX_CUSTOM_QUESTIONS,
    CustomQuestion,
    GatePolicy,
    Method,
    Scope,
)
from passback.server import admin_actions
from passback.server.admin_actions import Acting
from passback.server.console.errors import ConsoleError
from passback.server.console.roles import Permission
from passback.server.console.service import ConsoleTenant, SignedInAdmin
from passback.server.console.web import (
    MAX_FIELD,
    SESSION_COOKIE,
    check_post,
    confirm_fresh,
    console_of,
    fail,
    page,
    redirect,
    signed_in,
    translator,
)
from passback.server.entitlements import Feature
from passback.server.errors import Unprocessable
from passback.server.gate_policies import gate_policy
from passback.server.i18n.translations import N_
from passback.server.store.models import DirectoryGroup, Tenant

router = APIRouter(prefix="/console/{slug}", include_in_schema=False)

METHOD_NAMES = {
    Method.EMAIL: N_("A code by email"),
    Method.MOBILE_SMS: N_("A code by text message to the mobile phone"),
    Method.MOBILE_VOICE: N_("A call to the mobile phone that reads the code"),
    Method.OFFICE_VOICE: N_("A call to the office phone that reads the code"),
    Method.QUESTIONS: N_("Security questions"),
    Method.TOTP: N_("An authenticator app"),
    Method.PASSKEY: N_("A passkey"),
}

#: Each problem of ``GatePolicy.problems`` in the administrator's words.
PROBLEMS = {
    "gates": N_("Require one or two verification methods."),
    "too_few_methods": N_(
        "%(required)d methods are required, but fewer different ones are allowed (a text "
        "and a call to the mobile phone count once). Allow more, or require fewer."
    ),
    "questions_need_others": N_(
        "Security questions need %(required)d other method(s) allowed beside them: anyone "
        "can block an account's questions with wrong answers, and the owner must keep a way in."
    ),
    "questions_to_register": N_("Questions to register: between 1 and %(max)d."),
    "questions_to_ask": N_("Questions asked at a reset: between 1 and the number registered."),
    "reconfirm_days": N_("Days between re-confirmations: between 0 and %(max)d."),
    "phone_region": N_("The phone region is two capital letters (ISO 3166), for example BR."),
    "too_many_contacts": N_("At most %(max)d administrator addresses."),
    "contact_not_address": N_("These are not email addresses: %(wrong)s"),
    "too_many_custom": N_("At most %(max)d custom questions."),
    "custom_id": N_("A custom question's id is not valid."),
    "custom_text": N_("A custom question has %(min)d to %(max)d characters, on one line."),
    "custom_duplicate": N_("Each custom question must be different."),
    "scope_group": N_("Self-service for a group needs the group: enter its name."),
    "unknown_group": N_("No group of the directory has this name. Enter a group's name."),
    "ambiguous_group": N_(
        "Several groups of the directory have this name: enter the SID of the one you mean."
    ),
}
#: Group names the form suggests (a datalist; any synced group's name is taken).
SUGGESTED_GROUPS = 500
SAVED = N_("The policy is saved. It applies to the next reset or unlock.")


@router.get("/policy")
async def policy_page(request: Request, slug: str) -> Response:
    try:
        tenant, admin = await signed_in(request, slug, Permission.POLICY)
    except ConsoleError as error:
        return await fail(request, slug, error)
    read = await asyncio.to_thread(_read, request, tenant)
    return await _form(request, tenant, admin, _typed(*read))


@router.post("/policy")
async def change_policy(request: Request, slug: str) -> Response:
    console = console_of(request)
    token = request.cookies.get(SESSION_COOKIE)
    try:
        tenant, admin = await signed_in(request, slug, Permission.POLICY)
        form = await request.form(max_fields=200)
        check_post(request, token, _one(form, "csrf"))
    except ConsoleError as error:
        return await fail(request, slug, error)
    typed = _typed_from(form)
    try:
        await confirm_fresh(request, tenant, admin, _one(form, "code"))
        changes, unlock = _changes(typed, await asyncio.to_thread(_read_custom, request, tenant))
        if changes.get("scope") == Scope.GROUP.value:
            changes["scope_group"] = await asyncio.to_thread(
                _group_sid, request, tenant, typed["scope_group"]
            )
        await asyncio.to_thread(
            admin_actions.change_policy,
            console.services,
            Acting(tenant.id, admin.id),
            changes,
            unlock_on_reset=unlock,
        )
    except ConsoleError as error:
        if error.code in {"not_signed_in", "too_many_codes"}:
            return await fail(request, slug, error)
        return await _form(request, tenant, admin, typed, [error.text(translator(request))], 422)
    except Unprocessable as refused:
        t = translator(request)
        problems = [
            t.gettext(PROBLEMS.get(str(p.get("code")), refused.message), **_values(p))
            for p in refused.detail.get("problems", [])
        ] or [refused.message]
        return await _form(request, tenant, admin, typed, problems, 422)
    return redirect(request, f"{tenant.base}/policy", notice=SAVED)


def _read(request: Request, tenant: ConsoleTenant) -> tuple[GatePolicy, bool, str]:
    """The policy, whether a reset unlocks, and the scope group's name (its
    SID while no sync has brought it)."""
    with console_of(request).services.sessions() as db:
        row = db.get(Tenant, tenant.id)
        policy = gate_policy(db, tenant.id)
        group = db.get(DirectoryGroup, (tenant.id, policy.scope_group or ""))
        name = group.name if group else policy.scope_group or ""
        return policy, bool(row and row.unlock_on_reset), name


def _read_custom(request: Request, tenant: ConsoleTenant) -> tuple[CustomQuestion, ...]:
    return _read(request, tenant)[0].custom_questions


def _group_sid(request: Request, tenant: ConsoleTenant, name: str) -> str | None:
    """The SID of the group the form names: the policy's own group while its
    name (or SID) is shown unchanged, even if no sync has brought it since;
    else the synced group of that name (case folded, any script) or SID.
    None: none given (the policy then says a group is needed).

    Raises:
        ConsoleError: ``unknown_group``: no synced group has this name;
            ``ambiguous_group``: several have it (the SID tells them apart).
    """
    name = name.strip()
    if not name:
        return None
    policy, _unlock, shown = _read(request, tenant)
    if policy.scope_group and name in (shown, policy.scope_group):
        return policy.scope_group
    wanted = name.casefold()
    with console_of(request).services.sessions() as db:
        found = [
            sid
            for sid, group in db.execute(
                select(DirectoryGroup.sid, DirectoryGroup.name).where(
                    DirectoryGroup.tenant_id == tenant.id
                )
            )
            if sid == name or group.casefold() == wanted
        ]
    if not found:
        raise ConsoleError("unknown_group", PROBLEMS["unknown_group"], field="scope_group")
    if len(found) > 1:
        raise ConsoleError("ambiguous_group", PROBLEMS["ambiguous_group"], field="scope_group")
    return found[0]


def _group_names(request: Request, tenant: ConsoleTenant) -> list[str]:
    with console_of(request).services.sessions() as db:
        return list(
            db.scalars(
                select(DirectoryGroup.name)
                .where(DirectoryGroup.tenant_id == tenant.id)
                .order_by(DirectoryGroup.name)
                .limit(SUGGESTED_GROUPS)
            )
        )


def _typed(policy: GatePolicy, unlock: bool, group_name: str) -> dict[str, Any]:
    """The form's fields as the policy fills them."""
    return {
        "scope": policy.scope.value,
        "scope_group": group_name,
        "assignment_required": policy.assignment_required,
        "notify_users": policy.notify_users,
        "notify_admins": policy.notify_admins,
        "methods": {m.value for m in policy.methods},
        "required": str(policy.required),
        "questions_to_register": str(policy.questions_to_register),
        "questions_to_ask": str(policy.questions_to_ask),
        "registration_required": policy.registration_required,
        "reconfirm_days": str(policy.reconfirm_days),
        "phone_region": policy.phone_region or "",
        "admin_contacts": "\n".join(policy.admin_contacts),
        "unlock_on_reset": unlock,
        "custom": [dataclasses.asdict(q) for q in policy.custom_questions],
        "remove": set(),
        "new_en": "",
        "new_pt_br": "",
    }


def _typed_from(form: FormData) -> dict[str, Any]:
    """The form's fields as the administrator sent them (each bounded)."""
    custom_ids = [v[:32] for v in _many(form, "custom_id")]
    return {
        "scope": _one(form, "scope"),
        "scope_group": _one(form, "scope_group"),
        "assignment_required": bool(_one(form, "assignment_required")),
        "notify_users": bool(_one(form, "notify_users")),
        "notify_admins": bool(_one(form, "notify_admins")),
        "methods": set(_many(form, "methods")),
        "required": _one(form, "required"),
        "questions_to_register": _one(form, "questions_to_register"),
        "questions_to_ask": _one(form, "questions_to_ask"),
        "registration_required": bool(_one(form, "registration_required")),
        "reconfirm_days": _one(form, "reconfirm_days"),
        "phone_region": _one(form, "phone_region"),
        "admin_contacts": _one(form, "admin_contacts"),
        "unlock_on_reset": bool(_one(form, "unlock_on_reset")),
        "custom": [
            {"id": i, "en": _one(form, f"en_{i}"), "pt_br": _one(form, f"pt_br_{i}")}
            for i in custom_ids[:MAX_CUSTOM_QUESTIONS]
        ],
        "remove": set(_many(form, "remove")),
        "new_en": _one(form, "new_en"),
        "new_pt_br": _one(form, "new_pt_br"),
    }


def _changes(
    typed: dict[str, Any], current: tuple[CustomQuestion, ...]
) -> tuple[dict[str, Any], bool]:
    """The policy fields to store, and whether a reset unlocks.

    Raises:
        ConsoleError: a number that is not one.
    """
    known = {q.id for q in current}
    custom: list[dict[str, str | None]] = [
        {"id": q["id"], "en": q["en"], "pt_br": q["pt_br"] or None}
        for q in typed["custom"]
        if q["id"] in known and q["id"] not in typed["remove"]
    ]
    if typed["new_en"].strip():
        custom.append({"en": typed["new_en"], "pt_br": typed["new_pt_br"] or None})
    contacts = [a.strip() for a in typed["admin_contacts"].splitlines() if a.strip()]
    changes = {
        "assignment_required": typed["assignment_required"],
        "notify_users": typed["notify_users"],
        "notify_admins": typed["notify_admins"],
        "methods": [m for m in typed["methods"] if m in {x.value for x in Method}],
        "required": _number(typed["required"], "required"),
        "questions_to_register": _number(typed["questions_to_register"], "questions_to_register"),
        "questions_to_ask": _number(typed["questions_to_ask"], "questions_to_ask"),
        "registration_required": typed["registration_required"],
        "reconfirm_days": _number(typed["reconfirm_days"], "reconfirm_days"),
        "phone_region": typed["phone_region"].strip() or None,
        "admin_contacts": contacts[: MAX_ADMIN_CONTACTS + 1],
        "custom_questions": custom,
    }
    if typed["scope"]:  # a form without it keeps the scope
        changes["scope"] = typed["scope"]
    return changes, typed["unlock_on_reset"]


async def _form(
    request: Request,
    tenant: ConsoleTenant,
    admin: SignedInAdmin,
    typed: dict[str, Any],
    problems: list[str] | None = None,
    status: int = 200,
) -> Response:
    t = translator(request)
    return page(
        request,
        t,
        tenant,
        "policy.html",
        admin=admin,
        status=status,
        typed=typed,
        problems=problems or [],
        methods=[(m.value, t.gettext(METHOD_NAMES[m])) for m in Method],
        groups=await asyncio.to_thread(_group_names, request, tenant),
        writeback=tenant.has(Feature.WRITEBACK),
        plan=tenant.plan.value,
    )


def _number(text: str, field: str) -> int:
    try:
        return int(text.strip()[:6])
    except ValueError:
        raise ConsoleError("not_a_number", N_("Enter a whole number."), field=field) from None


def _one(form: FormData, name: str) -> str:
    value = form.get(name)
    return value[:MAX_FIELD] if isinstance(value, str) else ""


def _many(form: FormData, name: str) -> list[str]:
    return [v[:64] for v in form.getlist(name) if isinstance(v, str)][:64]


def _values(problem: dict[str, Any]) -> dict[str, object]:
    return {k: v for k, v in problem.items() if k != "code"}
