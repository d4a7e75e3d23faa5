"""The pages of "My account" (SPEC U4, W3): sign in with the directory
password, see the account's state, change the password; a password that must
be changed (773) or has expired (532) leads from the sign-in straight to the
change, and the change then signs the user in.

    GET  /signin     username and password
    POST /signin     the agent checks them      → 303 account, or change (forced)
    GET  /account    password last set, expiry, lock state
    GET  /change     current password (not for a forced change), the new one twice
    POST /change     change it                   → 303 account, or back to the form
    POST /signout                                → 303 signin

The session cookie is HttpOnly, SameSite=Strict, Secure over HTTPS, scoped
to the tenant's path; the forms of a session carry a CSRF token bound to it,
and the sign-in form refuses posts from other sites. Every form that carried a
password is answered with a redirect (PRG, see ``flash``).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, cast

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from passback.server.i18n import Translator
from passback.server.i18n.translations import N_
from passback.server.portal import flash
from passback.server.portal.account import Accounts
from passback.server.portal.errors import PortalError
from passback.server.portal.pages import (
    DEVICE_COOKIE,
    MAX_FIELD,
    base_of,
    check_same_origin,
    fail,
    fail_and_redirect,
    page,
    portal_of,
    renderer,
    set_device_cookie,
    set_strict_cookie,
)
from passback.server.portal.rules_text import describe_rules, source_text
from passback.server.portal.security_info import DUE_NOTICES, SecurityInfo

SESSION_COOKIE = "passback_session"
#: "Expires soon" on the account page.
SOON = dt.timedelta(days=14)

router = APIRouter(prefix="/portal/{slug}", include_in_schema=False)

Text = Annotated[str, Form(max_length=MAX_FIELD)]


def _accounts(request: Request) -> Accounts:
    return cast(Accounts, request.app.state.accounts)


@router.get("/signin")
async def sign_in_page(request: Request, slug: str) -> Response:
    t = renderer(request).translator(request)
    try:
        tenant = await portal_of(request).tenant(slug)
        await portal_of(request).check_agent(tenant)
    except PortalError as error:
        return await fail(request, t, error, slug=slug)
    carried = flash.take(request, portal_of(request).hasher) or {}
    username = carried.get("username")
    return page(
        request, t, tenant, "signin.html", username=username if isinstance(username, str) else ""
    )


@router.post("/signin")
async def sign_in(
    request: Request, slug: str, username: Text = "", password: Text = ""
) -> Response:
    t = renderer(request).translator(request)
    accounts = _accounts(request)
    try:
        tenant = await portal_of(request).tenant(slug)
        check_same_origin(request)
        client = request.client.host if request.client else "unknown"
        signed_in = await accounts.sign_in(
            tenant,
            username,
            password,
            client=client,
            device=request.cookies.get(DEVICE_COOKIE),
            language=t.locale,
        )
    except PortalError as error:
        return await fail_and_redirect(
            request,
            t,
            error,
            slug=slug,
            to="signin",
            username=username,
            keep={"username": username},
        )
    after = "change" if signed_in.state.forced_change else "account"
    response = RedirectResponse(f"{base_of(tenant)}/{after}", status_code=303)
    set_strict_cookie(request, response, tenant, SESSION_COOKIE, signed_in.token)
    set_device_cookie(request, response, tenant, signed_in.device)
    return response


@router.get("/account")
async def account_page(request: Request, slug: str) -> Response:
    t = renderer(request).translator(request)
    try:
        tenant = await portal_of(request).tenant(slug)
        view = await _accounts(request).view(tenant, request.cookies.get(SESSION_COOKIE))
    except PortalError as error:
        return await not_signed_in(request, t, error, slug)
    if view.state.forced_change:
        return RedirectResponse(f"{base_of(tenant)}/change", status_code=303)
    security = cast(SecurityInfo, request.app.state.security_info)
    due = await security.due(tenant, request.cookies.get(SESSION_COOKIE))
    if due is not None:  # G8: the tenant asks for it before My account
        to = f"{base_of(tenant)}/security"
        response = RedirectResponse(to, status_code=303)
        flash.carry(request, response, portal_of(request).hasher, to, {"notice": DUE_NOTICES[due]})
        return response
    now = dt.datetime.now(dt.UTC)
    expires = view.password_expires_at
    return page(
        request,
        t,
        tenant,
        "account.html",
        account=view,
        csrf=view.csrf,
        password_set=t.datetime(view.password_set_at) if view.password_set_at else None,
        password_expires=t.datetime(expires) if expires else None,
        expires_soon=expires is not None and expires - now < SOON,
    )


@router.get("/change")
async def change_page(request: Request, slug: str) -> Response:
    t = renderer(request).translator(request)
    try:
        tenant = await portal_of(request).tenant(slug)
        view = await _accounts(request).change_step(tenant, request.cookies.get(SESSION_COOKIE))
    except PortalError as error:
        return await not_signed_in(request, t, error, slug)
    forced = view.state.value if view.state.forced_change else ""
    return page(
        request,
        t,
        tenant,
        "change.html",
        csrf=view.csrf,
        forced=forced,
        rules=describe_rules(view.rules, t, common_refused=tenant.refuse_common, change=True),
        rules_source=source_text(view.rules, t),
    )


@router.post("/change")
async def change(
    request: Request,
    slug: str,
    current_password: Text = "",
    new_password: Text = "",
    confirm_password: Text = "",
    csrf: Text = "",
) -> Response:
    t = renderer(request).translator(request)
    accounts = _accounts(request)
    token = request.cookies.get(SESSION_COOKIE)
    try:
        tenant = await portal_of(request).tenant(slug)
        check_same_origin(request)
        check_session_csrf(accounts, token, csrf)
        await accounts.change(
            tenant, token, current_password, new_password, confirm_password, language=t.locale
        )
    except PortalError as error:
        to = "signin" if error.code in {"not_signed_in", "too_many_changes"} else "change"
        return await fail_and_redirect(request, t, error, slug=slug, to=to)
    to = f"{base_of(tenant)}/account"
    response = RedirectResponse(to, status_code=303)
    notice = N_("Your password was changed. Use the new one from now on, everywhere.")
    flash.carry(request, response, portal_of(request).hasher, to, {"notice": notice})
    return response


@router.post("/signout")
async def sign_out(request: Request, slug: str, csrf: Text = "") -> Response:
    t = renderer(request).translator(request)
    accounts = _accounts(request)
    token = request.cookies.get(SESSION_COOKIE)
    try:
        tenant = await portal_of(request).tenant(slug)
        check_same_origin(request)
        check_session_csrf(accounts, token, csrf)
        await accounts.sign_out(tenant, token)
    except PortalError as error:
        return await fail(request, t, error, slug=slug)
    to = f"{base_of(tenant)}/signin"
    response = RedirectResponse(to, status_code=303)
    response.delete_cookie(SESSION_COOKIE, path=f"{base_of(tenant)}/")
    flash.carry(
        request, response, portal_of(request).hasher, to, {"notice": N_("You are signed out.")}
    )
    return response


def check_session_csrf(accounts: Accounts, token: str | None, csrf: str) -> None:
    if token is None:
        return  # no session: the use-case refuses it, with its own words
    if not accounts.csrf_matches(token, csrf):
        raise PortalError("csrf_failed", N_("This form has expired. Start again."))


async def not_signed_in(request: Request, t: Translator, error: PortalError, slug: str) -> Response:
    """A page of the session without one: to the sign-in, which says why."""
    if error.code != "not_signed_in":
        return await fail(request, t, error, slug=slug)
    return await fail_and_redirect(request, t, error, slug=slug, to="signin")
