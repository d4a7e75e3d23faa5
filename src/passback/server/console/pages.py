"""The console's pages for getting in, and its dashboard (U1, G7).

GET  /console/{slug}/                  to the role's first section, or sign-in
GET  /console/{slug}/setup/{token}     a new administrator: password, authenticator
POST /console/{slug}/setup/{token}                              → 303 signin
GET  /console/{slug}/signin            email and password
POST /console/{slug}/signin                                     → 303 signin/code
GET  /console/{slug}/signin/code       the authenticator's code (or a passkey:
                                       ``passkey_pages``)
POST /console/{slug}/signin/code                                → 303 first section
POST /console/{slug}/signout                                    → 303 signin
GET  /console/{slug}/dashboard         agents, coverage, 30 days of activity
"""

from __future__ import annotations

import asyncio
import datetime as dt
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from passback.server.console import overview, reports
from passback.server.console.errors import ConsoleError
from passback.server.console.roles import ROLE_NAMES, Permission
from passback.server.console.service import ConsoleTenant
from passback.server.console.sessions import State
from passback.server.console.web import (
    DEVICE_COOKIE,
    SESSION_COOKIE,
    Text,
    check_post,
    console_of,
    error_page,
    fail,
    landing,
    page,
    redirect,
    set_cookie,
    signed_in,
    signed_in_response,
    translator,
)
from passback.server.i18n.translations import N_

router = APIRouter(prefix="/console/{slug}", include_in_schema=False)


@router.get("/")
async def home(request: Request, slug: str) -> Response:
    t = translator(request)
    tenant: ConsoleTenant | None = None
    try:
        tenant = await console_of(request).tenant(slug)
        admin = await console_of(request).admin(tenant, request.cookies.get(SESSION_COOKIE))
    except ConsoleError as error:
        if tenant is not None and error.code == "not_signed_in":
            return RedirectResponse(f"{tenant.base}/signin", status_code=303)
        return await error_page(request, t, tenant, error)
    return RedirectResponse(landing(tenant, admin), status_code=303)


@router.get("/setup/{token}")
async def setup_page(request: Request, slug: str, token: str) -> Response:
    t = translator(request)
    tenant: ConsoleTenant | None = None
    try:
        tenant = await console_of(request).tenant(slug)
        view = await console_of(request).setup_view(tenant, token)
    except ConsoleError as error:
        return await error_page(request, t, tenant, error)
    return page(request, t, tenant, "setup.html", setup=view, role=ROLE_NAMES[view.role])


@router.post("/setup/{token}")
async def set_up(
    request: Request,
    slug: str,
    token: str,
    password: Text = "",
    confirm: Text = "",
    code: Text = "",
) -> Response:
    t = translator(request)
    tenant: ConsoleTenant | None = None
    try:
        tenant = await console_of(request).tenant(slug)
        check_post(request, None, "")
        email = await console_of(request).complete_setup(tenant, token, password, confirm, code)
    except ConsoleError as error:
        if tenant is None or error.code == "setup_link_invalid":
            return await error_page(request, t, tenant, error)
        return redirect(request, f"{tenant.base}/setup/{token}", error=error)
    return redirect(
        request,
        f"{tenant.base}/signin",
        notice=N_("You are set up as %(email)s. Sign in with your password and a code."),
        values={"email": email},
    )


@router.get("/signin")
async def sign_in_page(request: Request, slug: str) -> Response:
    t = translator(request)
    try:
        tenant = await console_of(request).tenant(slug)
    except ConsoleError as error:
        return await error_page(request, t, None, error)
    return page(request, t, tenant, "signin.html")


@router.post("/signin")
async def sign_in(request: Request, slug: str, email: Text = "", password: Text = "") -> Response:
    t = translator(request)
    tenant: ConsoleTenant | None = None
    try:
        tenant = await console_of(request).tenant(slug)
        check_post(request, None, "")
        token = await console_of(request).sign_in(
            tenant,
            email,
            password,
            client=request.client.host if request.client else "unknown",
            device=request.cookies.get(DEVICE_COOKIE),
        )
    except ConsoleError as error:
        if tenant is None:
            return await error_page(request, t, tenant, error)
        return redirect(request, f"{tenant.base}/signin", error=error)
    response = redirect(request, f"{tenant.base}/signin/code")
    set_cookie(request, response, tenant, SESSION_COOKIE, token)
    return response


@router.get("/signin/code")
async def code_page(request: Request, slug: str) -> Response:
    t = translator(request)
    try:
        tenant = await console_of(request).tenant(slug)
    except ConsoleError as error:
        return await error_page(request, t, None, error)
    token = request.cookies.get(SESSION_COOKIE)
    if token is None:
        return RedirectResponse(f"{tenant.base}/signin", status_code=303)
    has_passkey = await console_of(request).has_passkey(tenant, token, State.SECOND_FACTOR)
    return page(request, t, tenant, "code.html", has_passkey=has_passkey)


@router.post("/signin/code")
async def enter_code(request: Request, slug: str, code: Text = "") -> Response:
    t = translator(request)
    tenant: ConsoleTenant | None = None
    token = request.cookies.get(SESSION_COOKIE)
    try:
        tenant = await console_of(request).tenant(slug)
        check_post(request, None, "")
        verified = await console_of(request).second_factor(
            tenant, token, code, device=request.cookies.get(DEVICE_COOKIE), language=t.locale
        )
        admin = await console_of(request).admin(tenant, verified.token)
    except ConsoleError as error:
        if tenant is None:
            return await error_page(request, t, tenant, error)
        again = error.code == "wrong_code"
        return redirect(request, f"{tenant.base}/signin{'/code' if again else ''}", error=error)
    return signed_in_response(request, tenant, admin, verified)


@router.post("/signout")
async def sign_out(request: Request, slug: str, csrf: Text = "") -> Response:
    t = translator(request)
    tenant: ConsoleTenant | None = None
    token = request.cookies.get(SESSION_COOKIE)
    try:
        tenant = await console_of(request).tenant(slug)
        check_post(request, token, csrf)
        await console_of(request).sign_out(tenant, token)
    except ConsoleError as error:
        return await error_page(request, t, tenant, error)
    response = redirect(request, f"{tenant.base}/signin", notice=N_("You are signed out."))
    response.delete_cookie(SESSION_COOKIE, path=f"{tenant.base}/")
    return response


@router.get("/dashboard")
async def dashboard(request: Request, slug: str) -> Response:
    t = translator(request)
    console = console_of(request)
    try:
        tenant, admin = await signed_in(request, slug, Permission.DASHBOARD)
    except ConsoleError as error:
        return await fail(request, slug, error)
    present = await console.services.router.features(tenant.id)
    today = dt.datetime.now(dt.UTC).date()
    last_30 = reports.Filter(today - dt.timedelta(reports.DEFAULT_DAYS - 1), today)

    def read() -> tuple[
        list[overview.AgentHealth], overview.Coverage, list[tuple[dt.date, int, int]]
    ]:
        with console.services.sessions() as db:
            return (
                overview.agents(db, tenant.id, present),
                overview.coverage(db, tenant.id),
                reports.per_day(db, tenant.id, last_30),
            )

    agents, coverage, days = await asyncio.to_thread(read)
    chart = reports.chart_svg(
        days,
        title=t.gettext("Self-service activity, last 30 days"),
        success=t.gettext("succeeded"),
        failure=t.gettext("failed"),
    )
    return page(
        request,
        t,
        tenant,
        "dashboard.html",
        admin=admin,
        agents=agents,
        coverage=coverage,
        chart=chart,
        when=t.datetime,
    )


@router.get("/confirm")
async def confirm_page(request: Request, slug: str, next: str = "") -> Response:
    """The authenticator code again, before an action that needs a fresh one;
    then back to ``next`` (a page of this console)."""
    t = translator(request)
    console = console_of(request)
    token = request.cookies.get(SESSION_COOKIE)
    try:
        tenant = await console.tenant(slug)
        admin = await console.admin(tenant, token)
    except ConsoleError as error:
        return await fail(request, slug, error)
    has_passkey = await console.has_passkey(tenant, token, State.SIGNED_IN)
    return page(
        request,
        t,
        tenant,
        "confirm.html",
        admin=admin,
        next=own_page(tenant, next),
        has_passkey=has_passkey,
    )


@router.post("/confirm")
async def confirm(
    request: Request, slug: str, code: Text = "", next: Text = "", csrf: Text = ""
) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    try:
        tenant = await console_of(request).tenant(slug)
        check_post(request, token, csrf)
        await console_of(request).reauthenticate(
            tenant, token, code, device=request.cookies.get(DEVICE_COOKIE)
        )
    except ConsoleError as error:
        if error.code != "wrong_code":
            return await fail(request, slug, error)
        again = f"{tenant.base}/confirm?" + urlencode({"next": own_page(tenant, next)})
        return redirect(request, again, error=error)
    return redirect(request, own_page(tenant, next))


def own_page(tenant: ConsoleTenant, path: str) -> str:
    """``path`` if it is a page of this console (never another site's: no
    open redirect), else the console's start."""
    ok = path.startswith(tenant.base + "/") and "//" not in path and "\\" not in path
    return path[:256] if ok and path.isprintable() else f"{tenant.base}/"
