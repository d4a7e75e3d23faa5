"""The console's reports (E5) and support code lookup (E2).

GET /console/{slug}/reports?from=&to=&user=&activity=&result=
                                 the filtered events, newest first, and a chart
GET /console/{slug}/reports.csv?…  exactly the filtered rows, as CSV
GET /console/{slug}/support?code=  the record ``passback support show`` prints
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse

from passback.server.audit import Activity
from passback.server.console import reports, support_codes
from passback.server.console.errors import ConsoleError
from passback.server.console.roles import Permission
from passback.server.console.service import ConsoleTenant, SignedInAdmin
from passback.server.console.web import (
    console_of,
    error_page,
    fail,
    page,
    signed_in,
    translator,
)
from passback.server.i18n import Translator
from passback.server.i18n.translations import N_

router = APIRouter(prefix="/console/{slug}", include_in_schema=False)

#: The report's words for each activity (the anchor product's where it has one).
ACTIVITY_NAMES = {
    Activity.REGISTER_METHOD: N_("User registered security info"),
    Activity.REMOVE_METHOD: N_("User deleted security info"),
    Activity.RECONFIRM: N_("User reviewed security info"),
    Activity.SIGN_IN: N_("Sign-in"),
    Activity.CHANGE_PASSWORD: N_("Change password (self-service)"),
    Activity.RESET_PASSWORD: N_("Reset password"),
    Activity.UNLOCK_ACCOUNT: N_("Unlock a user account"),
    Activity.GATE: N_("Verification attempt"),
    Activity.BLOCK: N_("Blocked from self-service"),
    Activity.LIFT_BLOCK: N_("Self-service block lifted"),
    Activity.ASK_ADMIN: N_("User asked an administrator for help"),
    Activity.ADMIN_SETUP: N_("Administrator set up"),
    Activity.ADMIN_INVITE: N_("Administrator invited"),
    Activity.ADMIN_CHANGE: N_("Administrator disabled, enabled or set up again"),
    Activity.ADMIN_PASSWORD_RESET: N_("Administrator reset their own password"),
    Activity.ADMIN_PASSKEY_ADDED: N_("Administrator added a passkey"),
    Activity.ADMIN_PASSKEY_REMOVED: N_("Administrator removed a passkey"),
    Activity.REQUIRE_CHANGE: N_("Require password change"),
    Activity.ONBOARD_AGENT: N_("Agent onboarded"),
    Activity.REVOKE_AGENT: N_("Agent revoked"),
    Activity.ONBOARDING_TOKEN: N_("Agent onboarding token created"),
    Activity.CHANGE_POLICY: N_("Update self-service policy"),
    Activity.API_TOKEN: N_("API token created or revoked"),
    Activity.ASSIGN: N_("Assign self-service to a user"),
    Activity.UNASSIGN: N_("Remove a user's self-service assignment"),
    Activity.CHANGE_PLAN: N_("The tenant's plan changed"),
    Activity.NOT_ENABLED: N_("Self-service not enabled for the user"),
}


@router.get("/reports")
async def reports_page(request: Request, slug: str) -> Response:
    t = translator(request)
    console = console_of(request)
    try:
        tenant, admin = await signed_in(request, slug, Permission.REPORTS)
    except ConsoleError as error:
        return await fail(request, slug, error)
    params = request.query_params
    typed = {k: params.get(k, "")[:256] for k in ("from", "to", "user", "activity", "result")}
    try:
        chosen = _filter(request)
    except ConsoleError as error:
        return _page(request, tenant, admin, typed, None, [], "", error=error)

    def read() -> tuple[list[reports.Row], list[tuple[dt.date, int, int]], list[tuple[str, int]]]:
        with console.services.sessions() as db:
            return (
                reports.rows(db, tenant.id, chosen),
                reports.per_day(db, tenant.id, chosen),
                reports.per_reason(db, tenant.id, chosen),
            )

    await console.services.deferred.settled()  # the last answers' writes are in
    found, days, reasons = await asyncio.to_thread(read)
    chart = reports.chart_svg(
        days,
        title=t.gettext("Activity per day"),
        success=t.gettext("succeeded"),
        failure=t.gettext("failed"),
    )
    reasons_chart = (
        reports.reasons_svg(
            reasons, title=t.gettext("Failures by reason"), other=t.gettext("other reasons")
        )
        if reasons
        else ""
    )
    return _page(
        request, tenant, admin, chosen.query, chosen, found, chart, reasons_chart=reasons_chart
    )


@router.get("/reports.csv")
async def reports_csv(request: Request, slug: str) -> Response:
    t = translator(request)
    console = console_of(request)
    try:
        tenant, _admin = await signed_in(request, slug, Permission.REPORTS)
        chosen = _filter(request)
    except ConsoleError as error:
        return await fail(request, slug, error)

    def check() -> None:
        with console.services.sessions() as db:
            reports.check_export(db, tenant.id, chosen)

    try:
        await console.services.deferred.settled()
        await asyncio.to_thread(check)
    except ConsoleError as too_many:
        return await error_page(request, t, tenant, too_many)
    name = f"passback-{tenant.slug}-{chosen.start}-{chosen.end}.csv"
    return StreamingResponse(
        reports.csv_lines(console.services.sessions, tenant.id, chosen),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get("/support")
async def support_page(request: Request, slug: str, code: str = "") -> Response:
    t = translator(request)
    console = console_of(request)
    try:
        tenant, admin = await signed_in(request, slug, Permission.SUPPORT)
    except ConsoleError as error:
        return await fail(request, slug, error)
    found, refused = None, None
    if code.strip():
        try:
            await console.services.deferred.settled()
            found = await support_codes.lookup(console.services.sessions, tenant.id, code)
        except ConsoleError as error:
            refused = error
    return page(
        request,
        t,
        tenant,
        "support.html",
        admin=admin,
        status=refused.status if refused else 200,
        error=refused,
        code=code[:64],
        found=found,
        when=t.datetime,
    )


def _filter(request: Request) -> reports.Filter:
    params = request.query_params
    return reports.parse_filter(
        start=params.get("from", "")[:64],
        end=params.get("to", "")[:64],
        user=params.get("user", "")[:1024],
        activity=params.get("activity", "")[:64],
        result=params.get("result", "")[:64],
        today=dt.datetime.now(dt.UTC).date(),
    )


def _page(
    request: Request,
    tenant: ConsoleTenant,
    admin: SignedInAdmin,
    typed: dict[str, str],
    chosen: reports.Filter | None,
    found: list[reports.Row],
    chart: str,
    error: ConsoleError | None = None,
    reasons_chart: str = "",
) -> Response:
    t = translator(request)
    return page(
        request,
        t,
        tenant,
        "reports.html",
        admin=admin,
        status=error.status if error else 200,
        error=error,
        typed=typed,
        chosen=chosen,
        rows=[dataclasses.replace(r, activity=_activity(r.activity, t)) for r in found],
        chart=chart,
        reasons_chart=reasons_chart,
        activities=[(a.value, t.gettext(ACTIVITY_NAMES[a])) for a in Activity],
        page_rows=reports.PAGE_ROWS,
        csv_query=chosen.query if chosen else {},
        when=t.datetime,
    )


def _activity(value: str, t: Translator) -> str:
    try:
        return t.gettext(ACTIVITY_NAMES[Activity(value)])
    except ValueError:
        return value
