"""The "Security info" pages of My account (SPEC G2, G3): what the user has on
file to prove who they are, and setting up or removing a method.

    GET  /security                        the methods, each with its action
    GET  /security/authenticator          QR code + secret + the first code
    POST /security/authenticator          the first code   → 303 security
    POST /security/{authenticator,questions}/remove        → 303 security
    POST /security/review                 "still right" (G8)   → 303 account
    GET  /security/test/{authenticator,passkey}   try a method: nothing changes
    POST /security/test/{authenticator,passkey}   → 303 security, "it works"
    GET  /security/questions              N questions, each with its answer
    POST /security/questions              → 303 security
    GET  /security/confirm                why a code is needed; "send the code"
    POST /security/confirm                a code to the directory's mail → 303 confirm/code
    GET  /security/contact/{email,mobile}        an own address or mobile number
    POST /security/contact/{email,mobile}        a code sent there → 303 …/code
    GET  /security/contact/{email,mobile}/code   the code form
    POST /security/contact/{email,mobile}/code   → 303 security
    POST /security/{email,mobile}/remove         → 303 security
    GET  /security/confirm/code           the code form
    POST /security/confirm/code           → 303 security (changes allowed for 10 minutes)

A change needs the session to have confirmed by mail first (``security_info``):
the pages of a change lead to /security/confirm until it has.

Signed-in sessions only (``account_pages``); every form carries the session's
CSRF token and is answered with a redirect.
"""

from __future__ import annotations

from typing import Annotated, Literal, cast

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from starlette.background import BackgroundTask

from passback.policy.gates import MAX_QUESTIONS, Method
from passback.server.i18n import Translator
from passback.server.i18n.translations import N_
from passback.server.portal import flash
from passback.server.portal.account_pages import SESSION_COOKIE, check_session_csrf, not_signed_in
from passback.server.portal.contacts import KINDS, Contacts
from passback.server.portal.errors import PortalError
from passback.server.portal.gates import questions
from passback.server.portal.pages import (
    MAX_FIELD,
    Credential,
    base_of,
    check_same_origin,
    fail_and_redirect,
    page,
    portal_of,
    relying_party,
    renderer,
)
from passback.server.portal.security_info import SecurityInfo
from passback.server.portal.service import PortalTenant

router = APIRouter(prefix="/portal/{slug}", include_in_schema=False)

Text = Annotated[str, Form(max_length=MAX_FIELD)]


def _security(request: Request) -> SecurityInfo:
    return cast(SecurityInfo, request.app.state.security_info)


#: What Security info adds of the user's own (``contacts.KINDS``).
Kind = Literal["email", "mobile"]


def _contacts(request: Request) -> Contacts:
    return cast(Contacts, request.app.state.contacts)


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
    confirm_to = await _security(request).needs_confirmation(tenant, token)
    due = await _security(request).due(tenant, token)
    return page(
        request,
        t,
        tenant,
        "security.html",
        confirm_to=confirm_to,
        due=due.value if due else "",
        info=view,
        totp_allowed=Method.TOTP in view.policy.methods,
        phones_allowed=any(m.phone and accounts.portal.serviceable(m) for m in view.policy.methods),
        has_totp=Method.TOTP in view.methods,
        questions_allowed=Method.QUESTIONS in view.policy.methods,
        has_questions=Method.QUESTIONS in view.methods,
        passkey_allowed=Method.PASSKEY in view.policy.methods,
        own_mail_allowed=Method.EMAIL in view.policy.methods,
        has_passkey=Method.PASSKEY in view.methods,
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
        return await _refused(request, t, error, slug)
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
        await security.confirm_authenticator(tenant, token, code, language=t.locale)
    except PortalError as error:
        to = "security/authenticator" if error.field == "code" else _after_refusal(error)
        return await fail_and_redirect(request, t, error, slug=slug, to=to)
    return _back(
        request,
        tenant_base=f"/portal/{slug}",
        notice=N_("Your authenticator app is set up. You can use it to prove who you are."),
    )


@router.get("/security/passkey")
async def passkey_page(request: Request, slug: str) -> Response:
    t = renderer(request).translator(request)
    token = request.cookies.get(SESSION_COOKIE)
    try:
        tenant = await portal_of(request).tenant(slug)
        options = await _security(request).passkey_options(
            tenant, token, relying_party(request, tenant)
        )
    except PortalError as error:
        return await _refused(request, t, error, slug)
    return _passkey_page(request, t, tenant, token, options, "create", "security/passkey")


@router.post("/security/passkey")
async def confirm_passkey(
    request: Request, slug: str, credential: Credential = "", csrf: Text = ""
) -> Response:
    t = renderer(request).translator(request)
    token = request.cookies.get(SESSION_COOKIE)
    security = _security(request)
    try:
        tenant = await portal_of(request).tenant(slug)
        check_same_origin(request)
        check_session_csrf(security.accounts, token, csrf)
        await security.confirm_passkey(
            tenant, token, credential, relying_party(request, tenant), language=t.locale
        )
    except PortalError as error:
        to = "security/passkey" if error.field == "passkey" else _after_refusal(error)
        return await fail_and_redirect(request, t, error, slug=slug, to=to)
    return _back(
        request,
        tenant_base=f"/portal/{slug}",
        notice=N_("Your passkey is set up. You can use it to prove who you are."),
    )


@router.get("/security/contact/{kind}")
async def contact_page(request: Request, slug: str, kind: Kind) -> Response:
    return await _contact_form(request, slug, kind, "value")


@router.get("/security/contact/{kind}/code")
async def contact_code_page(request: Request, slug: str, kind: Kind) -> Response:
    return await _contact_form(request, slug, kind, "code")


async def _contact_form(request: Request, slug: str, kind: str, step: str) -> Response:
    t = renderer(request).translator(request)
    token = request.cookies.get(SESSION_COOKIE)
    try:
        tenant = await portal_of(request).tenant(slug)
        await _security(request).confirmed_user(tenant, token)
        await _security(request).allowed_by_policy(tenant, KINDS[kind])
    except PortalError as error:
        return await _refused(request, t, error, slug)
    return page(
        request,
        t,
        tenant,
        "contact.html",
        kind=kind,
        step=step,
        csrf=_security(request).accounts.csrf_token(token or ""),
    )


@router.post("/security/contact/{kind}")
async def add_contact(
    request: Request, slug: str, kind: Kind, value: Text = "", csrf: Text = ""
) -> Response:
    t = renderer(request).translator(request)
    token = request.cookies.get(SESSION_COOKIE)
    security = _security(request)
    try:
        tenant = await portal_of(request).tenant(slug)
        check_same_origin(request)
        check_session_csrf(security.accounts, token, csrf)
        deliver = await _contacts(request).start(tenant, token, kind, value, language=t.locale)
    except PortalError as error:
        to = f"security/contact/{kind}" if error.field == "value" else _after_refusal(error)
        return await fail_and_redirect(request, t, error, slug=slug, to=to)
    response = RedirectResponse(f"{base_of(tenant)}/security/contact/{kind}/code", status_code=303)
    response.background = BackgroundTask(deliver)
    return response


@router.post("/security/contact/{kind}/code")
async def confirm_contact(
    request: Request, slug: str, kind: Kind, code: Text = "", csrf: Text = ""
) -> Response:
    t = renderer(request).translator(request)
    token = request.cookies.get(SESSION_COOKIE)
    security = _security(request)
    try:
        tenant = await portal_of(request).tenant(slug)
        check_same_origin(request)
        check_session_csrf(security.accounts, token, csrf)
        await _contacts(request).confirm(tenant, token, kind, code, language=t.locale)
    except PortalError as error:
        to = f"security/contact/{kind}/code" if error.field == "code" else _after_refusal(error)
        return await fail_and_redirect(request, t, error, slug=slug, to=to)
    return _back(
        request,
        tenant_base=base_of(tenant),
        notice=N_("It is on file. You can use it to prove who you are."),
    )


@router.get("/security/test/authenticator")
async def test_authenticator_page(request: Request, slug: str) -> Response:
    t = renderer(request).translator(request)
    token = request.cookies.get(SESSION_COOKIE)
    try:
        tenant = await portal_of(request).tenant(slug)
        await _security(request).accounts.signed_in(tenant, token)
    except PortalError as error:
        return await _refused(request, t, error, slug)
    return page(
        request,
        t,
        tenant,
        "security_test.html",
        csrf=_security(request).accounts.csrf_token(token or ""),
    )


@router.post("/security/test/authenticator")
async def test_authenticator(
    request: Request, slug: str, code: Text = "", csrf: Text = ""
) -> Response:
    t = renderer(request).translator(request)
    token = request.cookies.get(SESSION_COOKIE)
    security = _security(request)
    try:
        tenant = await portal_of(request).tenant(slug)
        check_same_origin(request)
        check_session_csrf(security.accounts, token, csrf)
        await security.test_authenticator(tenant, token, code)
    except PortalError as error:
        to = "security/test/authenticator" if error.field == "code" else _after_refusal(error)
        return await fail_and_redirect(request, t, error, slug=slug, to=to)
    return _back(request, tenant_base=base_of(tenant), notice=N_("It works: the code was right."))


@router.get("/security/test/passkey")
async def test_passkey_page(request: Request, slug: str) -> Response:
    t = renderer(request).translator(request)
    token = request.cookies.get(SESSION_COOKIE)
    try:
        tenant = await portal_of(request).tenant(slug)
        options = await _security(request).passkey_test_options(
            tenant, token, relying_party(request, tenant)
        )
    except PortalError as error:
        return await _refused(request, t, error, slug)
    return _passkey_page(request, t, tenant, token, options, "get", "security/test/passkey")


@router.post("/security/test/passkey")
async def test_passkey(
    request: Request, slug: str, credential: Credential = "", csrf: Text = ""
) -> Response:
    t = renderer(request).translator(request)
    token = request.cookies.get(SESSION_COOKIE)
    security = _security(request)
    try:
        tenant = await portal_of(request).tenant(slug)
        check_same_origin(request)
        check_session_csrf(security.accounts, token, csrf)
        await security.test_passkey(tenant, token, credential, relying_party(request, tenant))
    except PortalError as error:
        to = "security/test/passkey" if error.field == "passkey" else _after_refusal(error)
        return await fail_and_redirect(request, t, error, slug=slug, to=to)
    return _back(
        request, tenant_base=base_of(tenant), notice=N_("It works: your passkey answered.")
    )


@router.get("/security/questions")
async def questions_page(request: Request, slug: str) -> Response:
    t = renderer(request).translator(request)
    token = request.cookies.get(SESSION_COOKIE)
    try:
        tenant = await portal_of(request).tenant(slug)
        policy = await _security(request).question_form(tenant, token)
    except PortalError as error:
        return await _refused(request, t, error, slug)
    keys, count = questions.pool(policy.custom_questions), policy.questions_to_register
    return page(
        request,
        t,
        tenant,
        "security_questions.html",
        count=count,
        choices=[(key, questions.text_of(key, t, policy.custom_questions)) for key in keys],
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
        await security.set_questions(tenant, token, keys, answers, language=t.locale)
    except PortalError as error:
        to = "security/questions" if error.field or error.code == "invalid_question" else None
        return await fail_and_redirect(request, t, error, slug=slug, to=to or _after_refusal(error))
    return _back(
        request,
        tenant_base=base_of(tenant),
        notice=N_("Your security questions are set up."),
    )


@router.post("/security/review")
async def still_right(request: Request, slug: str, csrf: Text = "") -> Response:
    """G8: the user confirms that their security info is still right."""
    t = renderer(request).translator(request)
    token = request.cookies.get(SESSION_COOKIE)
    security = _security(request)
    try:
        tenant = await portal_of(request).tenant(slug)
        check_same_origin(request)
        check_session_csrf(security.accounts, token, csrf)
        await security.still_right(tenant, token)
    except PortalError as error:
        return await fail_and_redirect(request, t, error, slug=slug, to=_after_refusal(error))
    return RedirectResponse(f"{base_of(tenant)}/account", status_code=303)


#: What Security info can remove, by the name in its path, with what is said after.
_REMOVABLE = {
    "authenticator": (Method.TOTP, N_("Your authenticator app is removed.")),
    "questions": (Method.QUESTIONS, N_("Your security questions are removed.")),
    "passkey": (Method.PASSKEY, N_("Your passkey is removed. Remove it from your device too.")),
    "email": (Method.EMAIL, N_("Your own email address is removed.")),
    "mobile": (Method.MOBILE_SMS, N_("Your own mobile number is removed.")),
}


@router.post("/security/{what}/remove")
async def remove(request: Request, slug: str, what: str, csrf: Text = "") -> Response:
    t = renderer(request).translator(request)
    token = request.cookies.get(SESSION_COOKIE)
    security = _security(request)
    try:
        tenant = await portal_of(request).tenant(slug)
        check_same_origin(request)
        check_session_csrf(security.accounts, token, csrf)
        if what not in _REMOVABLE:
            raise PortalError(
                "method_not_allowed", N_("Your organisation does not use this method.")
            )
        method, notice = _REMOVABLE[what]
        await security.remove(tenant, token, method, language=t.locale)
    except PortalError as error:
        return await fail_and_redirect(request, t, error, slug=slug, to=_after_refusal(error))
    return _back(request, tenant_base=base_of(tenant), notice=notice)


@router.get("/security/confirm")
async def confirm_page(request: Request, slug: str) -> Response:
    return await _confirm_page(request, slug, "security_confirm.html")


async def _confirm_page(request: Request, slug: str, name: str) -> Response:
    """A page of the confirmation by mail; to Security info once it is done."""
    t = renderer(request).translator(request)
    token = request.cookies.get(SESSION_COOKIE)
    try:
        tenant = await portal_of(request).tenant(slug)
        mail = await _security(request).needs_confirmation(tenant, token)
    except PortalError as error:
        return await not_signed_in(request, t, error, slug)
    if mail is None:
        return RedirectResponse(f"{base_of(tenant)}/security", status_code=303)
    csrf = _security(request).accounts.csrf_token(token or "")
    return page(request, t, tenant, name, mail=mail, csrf=csrf)


@router.post("/security/confirm")
async def send_confirmation(request: Request, slug: str, csrf: Text = "") -> Response:
    t = renderer(request).translator(request)
    token = request.cookies.get(SESSION_COOKIE)
    security = _security(request)
    try:
        tenant = await portal_of(request).tenant(slug)
        check_same_origin(request)
        check_session_csrf(security.accounts, token, csrf)
        deliver = await security.send_confirmation(tenant, token, language=t.locale)
    except PortalError as error:
        to = "security/confirm" if error.code == "too_many_confirm_codes" else _after_refusal(error)
        return await fail_and_redirect(request, t, error, slug=slug, to=to)
    response = RedirectResponse(f"{base_of(tenant)}/security/confirm/code", status_code=303)
    response.background = BackgroundTask(deliver)
    return response


@router.get("/security/confirm/code")
async def confirm_code_page(request: Request, slug: str) -> Response:
    return await _confirm_page(request, slug, "security_confirm_code.html")


@router.post("/security/confirm/code")
async def confirm(request: Request, slug: str, code: Text = "", csrf: Text = "") -> Response:
    t = renderer(request).translator(request)
    token = request.cookies.get(SESSION_COOKIE)
    security = _security(request)
    try:
        tenant = await portal_of(request).tenant(slug)
        check_same_origin(request)
        check_session_csrf(security.accounts, token, csrf)
        await security.confirm(tenant, token, code)
    except PortalError as error:
        to = "security/confirm/code" if error.field == "code" else _after_refusal(error)
        return await fail_and_redirect(request, t, error, slug=slug, to=to)
    return _back(
        request,
        tenant_base=base_of(tenant),
        notice=N_("Confirmed. You can change your security info for 10 minutes."),
    )


def _passkey_page(
    request: Request,
    t: Translator,
    tenant: PortalTenant,
    token: str | None,
    options: str,
    ceremony: str,
    action: str,
) -> Response:
    """The passkey page of Security info: make one (``create``) or test it (``get``)."""
    return page(
        request,
        t,
        tenant,
        "passkey.html",
        csrf=_security(request).accounts.csrf_token(token or ""),
        ceremony=ceremony,
        options=options,
        action=action,
        gate_choice=False,
    )


async def _refused(request: Request, t: Translator, error: PortalError, slug: str) -> Response:
    """A page of a change that cannot be shown: where it leads instead."""
    if error.code == "not_signed_in":
        return await not_signed_in(request, t, error, slug)
    return await fail_and_redirect(request, t, error, slug=slug, to=_after_refusal(error))


def _after_refusal(error: PortalError) -> str:
    if error.code in {"not_signed_in", "csrf_failed"}:
        return "signin"
    if error.code == "confirm_first":
        return "security/confirm"
    return "security"


def _back(request: Request, *, tenant_base: str, notice: str) -> Response:
    """To Security info, which shows ``notice`` (a message id)."""
    to = f"{tenant_base}/security"
    response = RedirectResponse(to, status_code=303)
    flash.carry(request, response, portal_of(request).hasher, to, {"notice": notice})
    return response
