"""The pages of an administrator's own password reset (``recovery``).

    GET  /console/{slug}/forgot             email address
    POST /console/{slug}/forgot                              → 303 forgot/code
    GET  /console/{slug}/forgot/code        the emailed code and the app's code
    POST /console/{slug}/forgot/code                         → 303 forgot/password
    GET  /console/{slug}/forgot/password    the new password, twice
    POST /console/{slug}/forgot/password                     → 303 signin

The reset's cookie is HttpOnly, SameSite=Strict, scoped to the console's path,
and separate from the session's; every form that carried a password or a
code is answered with a redirect.
"""

from __future__ import annotations

from typing import cast

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from passback.server.console.errors import ConsoleError
from passback.server.console.recovery import Recovery, check_enabled
from passback.server.console.web import (
    DEVICE_COOKIE,
    Text,
    check_post,
    console_of,
    fail,
    page,
    redirect,
    set_cookie,
    translator,
)
from passback.server.i18n.translations import N_

router = APIRouter(prefix="/console/{slug}/forgot", include_in_schema=False)

RESET_COOKIE = "passback_console_reset"


def _recovery(request: Request) -> Recovery:
    return cast(Recovery, request.app.state.recovery)


@router.get("")
async def email_page(request: Request, slug: str) -> Response:
    try:
        tenant = await console_of(request).tenant(slug)
        check_enabled(tenant)
    except ConsoleError as error:
        return await fail(request, slug, error)
    return page(request, translator(request), tenant, "forgot.html")


@router.post("")
async def start(request: Request, slug: str, email: Text = "") -> Response:
    t = translator(request)
    try:
        tenant = await console_of(request).tenant(slug)
        check_post(request, None, "")
        started = await _recovery(request).start(
            tenant,
            email,
            client=request.client.host if request.client else "unknown",
            t=t,
            device=request.cookies.get(DEVICE_COOKIE),
        )
    except ConsoleError as error:
        return await _back(request, slug, "", error)
    response = redirect(request, f"{tenant.base}/forgot/code")
    set_cookie(request, response, tenant, RESET_COOKIE, started.token)
    return response


@router.get("/code")
async def code_page(request: Request, slug: str) -> Response:
    try:
        tenant = await console_of(request).tenant(slug)
    except ConsoleError as error:
        return await fail(request, slug, error)
    if request.cookies.get(RESET_COOKIE) is None:
        return RedirectResponse(f"{tenant.base}/forgot", status_code=303)
    return page(request, translator(request), tenant, "forgot_code.html")


@router.post("/code")
async def enter_codes(
    request: Request, slug: str, code: Text = "", app_code: Text = ""
) -> Response:
    try:
        tenant = await console_of(request).tenant(slug)
        check_post(request, None, "")
        await _recovery(request).check_codes(
            tenant, request.cookies.get(RESET_COOKIE), code, app_code
        )
    except ConsoleError as error:
        again = "/code" if error.code in {"wrong_codes", "code_throttled"} else ""
        return await _back(request, slug, again, error)
    return redirect(request, f"{tenant.base}/forgot/password")


@router.get("/password")
async def password_page(request: Request, slug: str) -> Response:
    try:
        tenant = await console_of(request).tenant(slug)
    except ConsoleError as error:
        return await fail(request, slug, error)
    return page(request, translator(request), tenant, "forgot_password.html")


@router.post("/password")
async def set_password(
    request: Request, slug: str, password: Text = "", confirm: Text = ""
) -> Response:
    t = translator(request)
    try:
        tenant = await console_of(request).tenant(slug)
        check_post(request, None, "")
        email = await _recovery(request).set_password(
            tenant, request.cookies.get(RESET_COOKIE), password, confirm, t=t
        )
    except ConsoleError as error:
        again = "" if error.code == "reset_ended" else "/password"
        return await _back(request, slug, again, error)
    response = redirect(
        request,
        f"{tenant.base}/signin",
        notice=N_("Your password is changed, %(email)s. Sign in with it and a code."),
        values={"email": email},
    )
    response.delete_cookie(RESET_COOKIE, path=f"{tenant.base}/")
    return response


async def _back(request: Request, slug: str, step: str, error: ConsoleError) -> Response:
    try:
        tenant = await console_of(request).tenant(slug)
    except ConsoleError:
        return await fail(request, slug, error)
    return redirect(request, f"{tenant.base}/forgot{step}", error=error)
