"""The "Security info" pages of My account (SPEC G2, G3): what the user has on
file to prove who they are, and setting up or removing a method.

    GET  /security                        the methods, each with its action
    GET  /security/authenticator          QR code + secret + the first code
    POST /security/authenticator          the first code   → 303 security
    POST /security/authenticator/remove                    → 303 security
    GET  /security/questions              N questions, each with its answer
    POST /security/questions              → 303 security
    POST /security/questions/remove       → 303 security

Signed-in sessions only (``account_pages``); every form carries the session's
CSRF token and is answered with a redirect.
"""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from passback.policy.gates import MAX_QUESTIONS, Method
from passback.server.i18n.translations import N_
from passback.server.portal import flash
from passback.server.portal.account_pages import SESSION_COOKIE, check_session_csrf, not_signed_in
from passback.server.portal.errors import PortalError
from passback.server.portal.gates.questions import QUESTIONS
from passback.server.portal.pages import (
    MAX_FIELD,
    base_of,
    check_same_origin,
    fail_and_redirect,
    page,
    portal_of,
    renderer,
)
from passback.server.portal.security_info import SecurityInfo

router = APIRouter(prefix="/portal/{slug}", include_in_schema=False)

Text = Annotated[str, Form(max_length=MAX_FIELD)]


def _security(request: Request) -> SecurityInfo:
    return cast(SecurityInfo, request.app.state.security_info)


@router.get("/security")
async def security_page(request: Request, slug: str) -> Response:
    t = renderer(request).translator(request)
    token = request.cookies.get(SESSION_COOKIE)
    try:
        tenant = await portal_of(request).tenant(slug)
        view = await _security(request).view(tenant, token)
    except PortalError as error:
        return await not_signed_in(request, t, error, slug)
    accounts = _security(request).accounts
    return page(
        request,
        t,
        tenant,
        "security.html",
        info=view,
        totp_allowed=Method.TOTP in view.policy.methods,
        has_totp=Method.TOTP in view.methods,
        questions_allowed=Method.QUESTIONS in view.policy.methods,
        has_questions=Method.QUESTIONS in view.methods,
        csrf=accounts.csrf_token(token or ""),
    )


@router.get("/security/authenticator")
async def authenticator_page(request: Request, slug: str) -> Response:
    t = renderer(request).translator(request)
    token = request.cookies.get(SESSION_COOKIE)
    try:
        tenant = await portal_of(request).tenant(slug)
        enrolment = await _security(request).authenticator(tenant, token)
    except PortalError as error:
        if error.code in {"already_registered", "method_not_allowed"}:
            return await fail_and_redirect(request, t, error, slug=slug, to="security")
        return await not_signed_in(request, t, error, slug)
    grouped = " ".join(enrolment.secret[i : i + 4] for i in range(0, len(enrolment.secret), 4))
    response = page(
        request,
        t,
        tenant,
        "authenticator.html",
        qr_svg=enrolment.qr_svg,
        secret=grouped,
        csrf=_security(request).accounts.csrf_token(token or ""),
    )
    response.headers["Cache-Control"] = "no-store"  # the page shows a secret
    return response


@router.post("/security/authenticator")
async def confirm_authenticator(
    request: Request, slug: str, code: Text = "", csrf: Text = ""
) -> Response:
    t = renderer(request).translator(request)
    token = request.cookies.get(SESSION_COOKIE)
    security = _security(request)
    try:
        tenant = await portal_of(request).tenant(slug)
        check_same_origin(request)
        check_session_csrf(security.accounts, token, csrf)
        await security.confirm_authenticator(tenant, token, code)
    except PortalError as error:
        to = "security/authenticator" if error.field == "code" else "signin"
        return await fail_and_redirect(request, t, error, slug=slug, to=to)
    return _back(
        request,
        tenant_base=f"/portal/{slug}",
        notice=t.gettext(
            N_("Your authenticator app is set up. You can use it to prove who you are.")
        ),
    )


@router.post("/security/authenticator/remove")
async def remove_authenticator(request: Request, slug: str, csrf: Text = "") -> Response:
    t = renderer(request).translator(request)
    token = request.cookies.get(SESSION_COOKIE)
    security = _security(request)
    try:
        tenant = await portal_of(request).tenant(slug)
        check_same_origin(request)
        check_session_csrf(security.accounts, token, csrf)
        await security.remove(tenant, token, Method.TOTP)
    except PortalError as error:
        return await fail_and_redirect(request, t, error, slug=slug, to="signin")
    return _back(
        request,
        tenant_base=base_of(tenant),
        notice=t.gettext(N_("Your authenticator app is removed.")),
    )


@router.get("/security/questions")
async def questions_page(request: Request, slug: str) -> Response:
    t = renderer(request).translator(request)
    token = request.cookies.get(SESSION_COOKIE)
    try:
        tenant = await portal_of(request).tenant(slug)
        count = await _security(request).question_form(tenant, token)
    except PortalError as error:
        if error.code == "method_not_allowed":
            return await fail_and_redirect(request, t, error, slug=slug, to="security")
        return await not_signed_in(request, t, error, slug)
    keys = list(QUESTIONS)
    return page(
        request,
        t,
        tenant,
        "security_questions.html",
        count=count,
        choices=[(key, t.gettext(QUESTIONS[key])) for key in keys],
        chosen=keys[:count],
        answer_fields=[f"answer-{n}" for n in range(1, count + 1)],
        csrf=_security(request).accounts.csrf_token(token or ""),
    )


@router.post("/security/questions")
async def set_questions(request: Request, slug: str) -> Response:
    t = renderer(request).translator(request)
    token = request.cookies.get(SESSION_COOKIE)
    security = _security(request)
    form = await request.form(max_fields=2 * MAX_QUESTIONS + 2)
    keys = [k[:64] for k in form.getlist("question") if isinstance(k, str)]
    answers = [a[:MAX_FIELD] for a in form.getlist("answer") if isinstance(a, str)]
    csrf = form.get("csrf")
    try:
        tenant = await portal_of(request).tenant(slug)
        check_same_origin(request)
        check_session_csrf(security.accounts, token, csrf if isinstance(csrf, str) else "")
        await security.set_questions(tenant, token, keys, answers)
    except PortalError as error:
        to = "signin" if error.code in {"not_signed_in", "csrf_failed"} else "security/questions"
        return await fail_and_redirect(request, t, error, slug=slug, to=to)
    return _back(
        request,
        tenant_base=base_of(tenant),
        notice=t.gettext(N_("Your security questions are set up.")),
    )


@router.post("/security/questions/remove")
async def remove_questions(request: Request, slug: str, csrf: Text = "") -> Response:
    t = renderer(request).translator(request)
    token = request.cookies.get(SESSION_COOKIE)
    security = _security(request)
    try:
        tenant = await portal_of(request).tenant(slug)
        check_same_origin(request)
        check_session_csrf(security.accounts, token, csrf)
        await security.remove(tenant, token, Method.QUESTIONS)
    except PortalError as error:
        return await fail_and_redirect(request, t, error, slug=slug, to="signin")
    return _back(
        request,
        tenant_base=base_of(tenant),
        notice=t.gettext(N_("Your security questions are removed.")),
    )


def _back(request: Request, *, tenant_base: str, notice: str) -> Response:
    response = RedirectResponse(f"{tenant_base}/security", status_code=303)
    flash.carry(request, response, portal_of(request).hasher, f"{tenant_base}/", {"notice": notice})
    return response
