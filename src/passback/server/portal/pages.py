"""The portal's pages (SPEC W1, W2, W8): server-rendered forms that work
without JavaScript, under ``/portal/<slug>/``.

    GET  /           username form (W2 first: 503 at once without an agent)
    POST /           look up, send the code      → 303 code
    GET  /code       code form
    POST /code       check the code              → 303 password
    GET  /password   the new password twice, with the rules for this user
    POST /password   write it back                → 303 done, or back to the form
    GET  /done       the success page
    GET  /unlock     username form of an unlock (W3); then the code, as above
    POST /unlock     look up, send the code      → 303 code → 303 unlock/confirm
    GET  /unlock/confirm   the unlock button
    POST /unlock/confirm   unlock                  → 303 unlocked
    GET  /unlocked   done; a new password offered too (the same flow)

Post/Redirect/Get: a form that carried a password is answered with a
redirect, also when it was refused (the reason rides in ``flash``), so that
Back or Reload never sends the password again. "My account" (sign-in,
change, forced change) is in ``account_pages``.

The flow id travels in an HttpOnly, SameSite=Lax cookie scoped to the
tenant's path: Lax, so that the link in the code mail (a cross-site
navigation from webmail) arrives with it; every form of a flow carries a
CSRF token bound to the flow. No form is taken from another site: a POST
whose ``Sec-Fetch-Site`` or ``Origin`` says it came from elsewhere is refused
(the start form has no flow to bind a token to yet).
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, cast
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from starlette.background import BackgroundTask

from passback.policy.gates import Method
from passback.server import cookies, support
from passback.server.api.problems import status_of
from passback.server.i18n import Translator
from passback.server.i18n.translations import N_
from passback.server.portal import flash, flow
from passback.server.portal.errors import PortalError
from passback.server.portal.gates import passkey, passkey_gate, questions_gate, registry
from passback.server.portal.gates.base import Code
from passback.server.portal.gates.passkey_gate import Assertion
from passback.server.portal.gates.questions import text_of
from passback.server.portal.gates.questions_gate import Answers
from passback.server.portal.rules_text import describe_rules, source_text
from passback.server.portal.service import CodePassed, Portal, PortalTenant
from passback.server.portal.templating import Renderer
from passback.server.rules import PasswordRules

FLOW_COOKIE = "passback_flow"
#: Names the account whose gates, or whose password, this browser passed.
DEVICE_COOKIE = "passback_device"
#: A browser stays known to that account for this long.
DEVICE_COOKIE_AGE = 180 * 24 * 3600
#: Fields of the questions form: the CSRF token and at most 20 answers.
MAX_QUESTION_FIELDS = 24
#: Form fields are short; bound them so a form post cannot carry megabytes.
MAX_FIELD = 1024

router = APIRouter(prefix="/portal/{slug}", include_in_schema=False)

Text = Annotated[str, Form(max_length=MAX_FIELD)]
#: A passkey's answer (JSON from the browser's WebAuthn call).
Credential = Annotated[str, Form(max_length=passkey.MAX_CREDENTIAL)]


def portal_of(request: Request) -> Portal:
    return cast(Portal, request.app.state.portal)


def renderer(request: Request) -> Renderer:
    return cast(Renderer, request.app.state.renderer)


def base_of(tenant: PortalTenant) -> str:
    return f"/portal/{tenant.slug}"


@router.get("/")
async def start_page(request: Request, slug: str) -> Response:
    return await _username_page(request, slug, flow.Purpose.RESET)


@router.post("/")
async def start(request: Request, slug: str, username: Text = "") -> Response:
    return await _start(request, slug, username, flow.Purpose.RESET)


@router.get("/unlock")
async def unlock_start_page(request: Request, slug: str) -> Response:
    return await _username_page(request, slug, flow.Purpose.UNLOCK)


@router.post("/unlock")
async def unlock_start(request: Request, slug: str, username: Text = "") -> Response:
    return await _start(request, slug, username, flow.Purpose.UNLOCK)


async def _username_page(request: Request, slug: str, purpose: flow.Purpose) -> Response:
    t = renderer(request).translator(request)
    try:
        tenant = await portal_of(request).tenant(slug)
        await portal_of(request).check_available(tenant)
    except PortalError as error:
        return await fail(request, t, error, slug=slug)
    return page(request, t, tenant, "start.html", username="", purpose=purpose.value)


async def _start(request: Request, slug: str, username: str, purpose: flow.Purpose) -> Response:
    t = renderer(request).translator(request)
    portal = portal_of(request)
    try:
        tenant = await portal.tenant(slug)
        check_same_origin(request)
        client = request.client.host if request.client else "unknown"
        started = await portal.start(
            tenant, username, client=client, language=t.locale, purpose=purpose
        )
    except PortalError as error:
        return await fail(request, t, error, slug=slug, username=username, purpose=purpose.value)
    after = "method" if started.step is flow.Step.CHOOSE else "code"
    response = RedirectResponse(f"{base_of(tenant)}/{after}", status_code=303)
    _set_flow_cookie(request, response, tenant, started.token)
    if started.deliver is not None:
        response.background = BackgroundTask(started.deliver)
    return response


@router.get("/method")
async def method_page(request: Request, slug: str) -> Response:
    t = renderer(request).translator(request)
    portal = portal_of(request)
    token = request.cookies.get(FLOW_COOKIE)
    try:
        tenant = await portal.tenant(slug)
        choice = await portal.choice(tenant, token)
    except PortalError as error:
        return await fail(request, t, error, slug=slug)
    return page(
        request,
        t,
        tenant,
        "method.html",
        csrf=portal.csrf_token(token or ""),
        methods=[m.value for m in choice.methods],
        passed=choice.passed,
        required=choice.required,
    )


@router.post("/method")
async def choose_method(
    request: Request, slug: str, method: Text = "", csrf: Text = ""
) -> Response:
    t = renderer(request).translator(request)
    portal = portal_of(request)
    token = request.cookies.get(FLOW_COOKIE)
    try:
        tenant = await portal.tenant(slug)
        check_same_origin(request)
        _check_csrf(portal, token, csrf)
        started = await portal.choose(tenant, token, method, language=t.locale)
    except PortalError as error:
        return await fail_and_redirect(request, t, error, slug=slug, to="method")
    response = RedirectResponse(f"{base_of(tenant)}/{started.page}", status_code=303)
    if started.deliver is not None:
        response.background = BackgroundTask(started.deliver)
    return response


@router.post("/method/again")
async def choose_again(request: Request, slug: str, csrf: Text = "") -> Response:
    """From a gate back to the choice of its method."""
    t = renderer(request).translator(request)
    portal = portal_of(request)
    token = request.cookies.get(FLOW_COOKIE)
    try:
        tenant = await portal.tenant(slug)
        check_same_origin(request)
        _check_csrf(portal, token, csrf)
        await portal.choose_again(tenant, token)
    except PortalError as error:
        return await fail(request, t, error, slug=slug)
    return RedirectResponse(f"{base_of(tenant)}/method", status_code=303)


def set_device_cookie(
    request: Request, response: Response, tenant: PortalTenant, device: str
) -> None:
    """Leave ``device`` (``Hasher.device_token``) in the browser: the account
    it names counts this browser's failed tries apart from strangers' (T1)."""
    set_strict_cookie(request, response, tenant, DEVICE_COOKIE, device, DEVICE_COOKIE_AGE)


def set_strict_cookie(
    request: Request,
    response: Response,
    tenant: PortalTenant,
    name: str,
    value: str,
    max_age: int | None = None,
) -> None:
    """A cookie of the tenant's portal that no other site's request carries."""
    cookies.set_strict_cookie(request, response, f"{base_of(tenant)}/", name, value, max_age)


def _set_flow_cookie(
    request: Request, response: Response, tenant: PortalTenant, token: str
) -> None:
    response.set_cookie(
        FLOW_COOKIE,
        token,
        path=f"{base_of(tenant)}/",
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )


@router.get("/number")
async def number_page(request: Request, slug: str) -> Response:
    """A phone gate's first step: the number on file, typed in full (G4)."""
    t = renderer(request).translator(request)
    portal = portal_of(request)
    token = request.cookies.get(FLOW_COOKIE)
    try:
        tenant = await portal.tenant(slug)
        row = await portal.require(tenant, token, flow.Step.NUMBER)
    except PortalError as error:
        return await fail(request, t, error, slug=slug)
    method = Method(row.gate or Method.MOBILE_SMS.value)
    return page(
        request,
        t,
        tenant,
        "number.html",
        csrf=portal.csrf_token(token or ""),
        gate=method.value,
        gate_choice=True,  # a phone gate exists only where the user chose it
        can_ask=await portal.help_offered(tenant, row),
    )


@router.post("/number")
async def enter_number(request: Request, slug: str, number: Text = "", csrf: Text = "") -> Response:
    t = renderer(request).translator(request)
    portal = portal_of(request)
    token = request.cookies.get(FLOW_COOKIE)
    try:
        tenant = await portal.tenant(slug)
        check_same_origin(request)
        _check_csrf(portal, token, csrf)
        started = await portal.enter_number(tenant, token, number, language=t.locale)
    except PortalError as error:
        return await fail_and_redirect(request, t, error, slug=slug, to="number")
    response = RedirectResponse(f"{base_of(tenant)}/code", status_code=303)
    if started.deliver is not None:
        response.background = BackgroundTask(started.deliver)
    return response


def relying_party(request: Request, tenant: PortalTenant) -> passkey.RelyingParty:
    """The site passkeys are made for and used at: the public URL's host, or
    the host this request came to."""
    public = portal_of(request).services.settings.public_url
    return passkey.site(public, str(request.url), tenant.name)


@router.get("/passkey")
async def passkey_page(request: Request, slug: str) -> Response:
    t = renderer(request).translator(request)
    portal = portal_of(request)
    token = request.cookies.get(FLOW_COOKIE)
    try:
        tenant = await portal.tenant(slug)
        row = await portal.at_gate(tenant, token, Method.PASSKEY)
        options = passkey_gate.options(row, relying_party(request, tenant))
    except PortalError as error:
        return await fail(request, t, error, slug=slug)
    return page(
        request,
        t,
        tenant,
        "passkey.html",
        csrf=portal.csrf_token(token or ""),
        ceremony="get",
        options=options,
        action="passkey",
        gate_choice=True,  # a passkey gate exists only where the user chose it
    )


@router.post("/passkey")
async def use_passkey(
    request: Request, slug: str, credential: Credential = "", csrf: Text = ""
) -> Response:
    t = renderer(request).translator(request)
    portal = portal_of(request)
    token = request.cookies.get(FLOW_COOKIE)
    try:
        tenant = await portal.tenant(slug)
        check_same_origin(request)
        _check_csrf(portal, token, csrf)
        answer = Assertion(credential, relying_party(request, tenant))
        passed = await portal.enter(tenant, token, answer, language=t.locale)
    except PortalError as error:
        return await fail_and_redirect(request, t, error, slug=slug, to="passkey")
    return _after_gate(request, tenant, passed)


@router.get("/code")
async def code_page(request: Request, slug: str) -> Response:
    t = renderer(request).translator(request)
    portal = portal_of(request)
    token = request.cookies.get(FLOW_COOKIE)
    try:
        tenant = await portal.tenant(slug)
        row = await portal.require(tenant, token, flow.Step.CODE)
    except PortalError as error:
        return await fail(request, t, error, slug=slug)
    gate = registry.gate_of(row.gate)
    if gate.page != "code":  # the gate takes its answer on a page of its own
        return RedirectResponse(f"{base_of(tenant)}/{gate.page}", status_code=303)
    choice = await portal.offers_choice(tenant)
    return _code_page(
        request,
        t,
        tenant,
        token,
        gate=row.gate or "email",
        gate_choice=choice,
        ending=gate.target(row),
        can_ask=await portal.help_offered(tenant, row),
    )


@router.post("/code/again")
async def send_again(request: Request, slug: str, csrf: Text = "") -> Response:
    """G5 "try again": the code is sent again (an email gate), or the number is
    asked again to send there (a phone gate)."""
    t = renderer(request).translator(request)
    portal = portal_of(request)
    token = request.cookies.get(FLOW_COOKIE)
    try:
        tenant = await portal.tenant(slug)
        check_same_origin(request)
        _check_csrf(portal, token, csrf)
        started = await portal.send_again(tenant, token, language=t.locale)
    except PortalError as error:
        return await fail(request, t, error, slug=slug)
    if started.step is flow.Step.NUMBER:
        return RedirectResponse(f"{base_of(tenant)}/number", status_code=303)
    target = f"{base_of(tenant)}/code"
    response = RedirectResponse(target, status_code=303)
    flash.carry(request, response, portal.hasher, target, {"notice": SENT_AGAIN})
    if started.deliver is not None:
        response.background = BackgroundTask(started.deliver)
    return response


@router.post("/help")
async def ask_admin(request: Request, slug: str, csrf: Text = "") -> Response:
    """G5: ask the tenant's administrators for help; back to the gate's page,
    which says so."""
    t = renderer(request).translator(request)
    portal = portal_of(request)
    token = request.cookies.get(FLOW_COOKIE)
    try:
        tenant = await portal.tenant(slug)
        check_same_origin(request)
        _check_csrf(portal, token, csrf)
        row = await portal.require_gate(tenant, token)
        await portal.ask_admin(tenant, token, language=t.locale)
    except PortalError as error:
        return await fail(request, t, error, slug=slug)
    target = f"{base_of(tenant)}/{'number' if row.step == flow.Step.NUMBER.value else 'code'}"
    response = RedirectResponse(target, status_code=303)
    flash.carry(request, response, portal.hasher, target, {"notice": ASKED_ADMIN})
    return response


@router.get("/code/{link}")
async def code_link_page(request: Request, slug: str, link: str) -> Response:
    """The code mail's link, opened anywhere: the code form of that flow. A
    GET changes nothing (mail scanners open links); the code decides."""
    t = renderer(request).translator(request)
    portal = portal_of(request)
    try:
        tenant = await portal.tenant(slug)
        minutes = await portal.link_step(tenant, link)
    except PortalError as error:
        return await fail(request, t, error, slug=slug)
    csrf = portal.link_csrf_token(link)
    return _code_page(request, t, tenant, None, csrf=csrf, action=f"code/{link}", minutes=minutes)


@router.post("/code/{link}")
async def enter_code_by_link(
    request: Request, slug: str, link: str, code: Text = "", csrf: Text = ""
) -> Response:
    t = renderer(request).translator(request)
    portal = portal_of(request)
    try:
        tenant = await portal.tenant(slug)
        check_same_origin(request)
        if not portal.link_csrf_matches(link, csrf):
            raise PortalError("csrf_failed", N_("This form has expired. Start again."))
        passed = await portal.enter(tenant, None, Code(code), link=link, language=t.locale)
    except PortalError as error:
        if error.field == "code":
            return await fail_and_redirect(request, t, error, slug=slug, to=f"code/{link}")
        return await fail(request, t, error, slug=slug)
    # This device continues the flow from here (its token, in this browser's cookie).
    return _after_gate(request, tenant, passed)


@router.get("/questions")
async def questions_page(request: Request, slug: str) -> Response:
    t = renderer(request).translator(request)
    portal = portal_of(request)
    token = request.cookies.get(FLOW_COOKIE)
    try:
        tenant = await portal.tenant(slug)
        row = await portal.at_gate(tenant, token, Method.QUESTIONS)
        custom = await asyncio.to_thread(questions_gate.custom_questions, portal, tenant.id)
    except PortalError as error:
        return await fail(request, t, error, slug=slug)
    return page(
        request,
        t,
        tenant,
        "questions.html",
        csrf=portal.csrf_token(token or ""),
        questions=[text_of(key, t, custom) for key in questions_gate.challenge_of(row).keys],
        gate_choice=True,  # a questions gate exists only where the user chose it
    )


@router.post("/questions")
async def answer_questions(request: Request, slug: str) -> Response:
    t = renderer(request).translator(request)
    portal = portal_of(request)
    token = request.cookies.get(FLOW_COOKIE)
    form = await request.form(max_fields=MAX_QUESTION_FIELDS)
    answers = [a[:MAX_FIELD] for a in form.getlist("answer") if isinstance(a, str)]
    csrf = form.get("csrf")
    try:
        tenant = await portal.tenant(slug)
        check_same_origin(request)
        _check_csrf(portal, token, csrf if isinstance(csrf, str) else "")
        passed = await portal.enter(tenant, token, Answers(answers), language=t.locale)
    except PortalError as error:
        return await fail_and_redirect(request, t, error, slug=slug, to="questions")
    return _after_gate(request, tenant, passed)


@router.post("/code")
async def enter_code(request: Request, slug: str, code: Text = "", csrf: Text = "") -> Response:
    t = renderer(request).translator(request)
    portal = portal_of(request)
    token = request.cookies.get(FLOW_COOKIE)
    try:
        tenant = await portal.tenant(slug)
        check_same_origin(request)
        _check_csrf(portal, token, csrf)
        device = request.cookies.get(DEVICE_COOKIE)
        passed = await portal.enter(tenant, token, Code(code), language=t.locale, device=device)
    except PortalError as error:
        if error.field == "code" and token:
            gate, ending = await portal.gate_of(slug, token)
            return await fail(
                request,
                t,
                error,
                slug=slug,
                page_name="code.html",
                token=token,
                gate=gate,
                ending=ending,
            )
        return await fail(request, t, error, slug=slug)
    return _after_gate(request, tenant, passed)


def _after_gate(request: Request, tenant: PortalTenant, passed: CodePassed) -> Response:
    """Where a passed gate leads: another gate, or the flow's purpose."""
    if passed.step is flow.Step.CHOOSE:
        after = "method"  # another gate is needed
    elif passed.purpose is flow.Purpose.UNLOCK:
        after = "unlock/confirm"
    else:
        after = "password"
    response = RedirectResponse(f"{base_of(tenant)}/{after}", status_code=303)
    _set_flow_cookie(request, response, tenant, passed.token)
    return response


@router.get("/password")
async def password_page(request: Request, slug: str) -> Response:
    t = renderer(request).translator(request)
    portal = portal_of(request)
    token = request.cookies.get(FLOW_COOKIE)
    try:
        tenant = await portal.tenant(slug)
        rules = await portal.password_step(tenant, token)
    except PortalError as error:
        return await fail(request, t, error, slug=slug)
    return _password_page(request, t, tenant, token or "", rules)


@router.post("/password")
async def set_password(
    request: Request,
    slug: str,
    new_password: Text = "",
    confirm_password: Text = "",
    csrf: Text = "",
) -> Response:
    t = renderer(request).translator(request)
    portal = portal_of(request)
    token = request.cookies.get(FLOW_COOKIE)
    try:
        tenant = await portal.tenant(slug)
        check_same_origin(request)
        _check_csrf(portal, token, csrf)
        await portal.set_password(tenant, token, new_password, confirm_password, language=t.locale)
    except PortalError as error:
        # The form again with the reason (W8), or the reason alone once the
        # flow is over: either way by a redirect (PRG).
        return await fail_and_redirect(request, t, error, slug=slug, to="password")
    return RedirectResponse(f"{base_of(tenant)}/done", status_code=303)


@router.get("/done")
async def done_page(request: Request, slug: str) -> Response:
    t = renderer(request).translator(request)
    portal = portal_of(request)
    try:
        tenant = await portal.tenant(slug)
        row = await portal.require(tenant, request.cookies.get(FLOW_COOKIE), flow.Step.DONE)
    except PortalError as error:
        return await fail(request, t, error, slug=slug)
    response = page(request, t, tenant, "done.html")
    known = portal.hasher.device_of(request.cookies.get(DEVICE_COOKIE))
    if row.user_id and (known is None or known[0] != row.user_id):
        # The gates proved who this is: their browser from now on (a reload
        # keeps the token it has).
        set_device_cookie(request, response, tenant, portal.hasher.device_token(row.user_id))
    return response


@router.get("/unlock/confirm")
async def unlock_page(request: Request, slug: str) -> Response:
    t = renderer(request).translator(request)
    portal = portal_of(request)
    token = request.cookies.get(FLOW_COOKIE)
    try:
        tenant = await portal.tenant(slug)
        await portal.unlock_step(tenant, token)
    except PortalError as error:
        return await fail(request, t, error, slug=slug)
    return page(request, t, tenant, "unlock.html", csrf=portal.csrf_token(token or ""))


@router.post("/unlock/confirm")
async def unlock(request: Request, slug: str, csrf: Text = "") -> Response:
    t = renderer(request).translator(request)
    portal = portal_of(request)
    token = request.cookies.get(FLOW_COOKIE)
    try:
        tenant = await portal.tenant(slug)
        check_same_origin(request)
        _check_csrf(portal, token, csrf)
        await portal.unlock(tenant, token, language=t.locale)
    except PortalError as error:
        return await fail_and_redirect(request, t, error, slug=slug, to="unlock/confirm")
    return RedirectResponse(f"{base_of(tenant)}/unlocked", status_code=303)


@router.get("/unlocked")
async def unlocked_page(request: Request, slug: str) -> Response:
    t = renderer(request).translator(request)
    portal = portal_of(request)
    try:
        tenant = await portal.tenant(slug)
        row = await portal.unlock_step(tenant, request.cookies.get(FLOW_COOKIE))
        if row.unlocked_at is None:
            return RedirectResponse(f"{base_of(tenant)}/unlock/confirm", status_code=303)
    except PortalError as error:
        return await fail(request, t, error, slug=slug)
    return page(request, t, tenant, "unlocked.html")


# -- rendering -------------------------------------------------------------------


def check_same_origin(request: Request) -> None:
    """Refuse a form posted from another site (a hostile page submitting it
    from a visitor's browser). ``Sec-Fetch-Site`` is set by the browser and
    decides when present. Older browsers send only ``Origin``, which must then
    name this server's host (the scheme is not compared: a TLS-terminating
    proxy may reach us over plain HTTP); ``null`` is an opaque origin (a
    sandboxed frame, a data: page) and is refused. Clients that send neither
    (scripts) are not browsers carrying a victim's session.

    Raises:
        PortalError: ``cross_site`` (403).
    """
    site = request.headers.get("sec-fetch-site")
    origin = request.headers.get("origin")
    if site is not None:
        foreign = site not in {"same-origin", "none"}
    elif origin is not None:
        host = request.headers.get("host", "")
        foreign = urlsplit(origin).netloc.lower() != host.lower() or not host
    else:
        foreign = False
    if foreign:
        raise PortalError(
            "cross_site",
            N_("This form was sent from another site. Open the portal's address yourself."),
            note=f"refused a cross-site POST (Sec-Fetch-Site: {site}, Origin: {origin})",
        )


def _check_csrf(portal: Portal, token: str | None, csrf: str) -> None:
    if token is None:
        return  # no flow: the step itself refuses it, with its own words
    if not portal.csrf_matches(token, csrf):
        raise PortalError("csrf_failed", N_("This form has expired. Start again."))


def page(
    request: Request,
    t: Translator,
    tenant: PortalTenant,
    name: str,
    status: int = 200,
    **context: Any,
) -> Response:
    """The page ``name``; an error or notice carried over a redirect
    (``flash``) to this very page is shown on it, in the page's language and
    with the status it was carried with — also when the page is reloaded or
    switched to another language, until the next redirect replaces it."""
    values: dict[str, Any] = {
        "tenant_name": tenant.name,
        "base": base_of(tenant),
        "error": None,
        "notice": None,
        **context,
    }
    carried = flash.take(request, portal_of(request).hasher) if request.method == "GET" else None
    if carried is not None:
        error = carried_error(carried)
        if values["error"] is None and error is not None:
            values["error"] = _shown(error, t)
            status = int(carried.get("status", status))
        if isinstance(carried.get("notice"), str):
            values["notice"] = t.gettext(carried["notice"])
    return renderer(request).page(request, t, name, values, status)


def carried_error(carried: dict[str, Any]) -> PortalError | None:
    raw = carried.get("error")
    return PortalError.from_carried(raw) if isinstance(raw, dict) else None


def _shown(error: PortalError, t: Translator) -> dict[str, Any]:
    """What a page shows of ``error``."""
    return {"text": error.text(t), "field": error.field, "support_code": error.support_code}


def _code_page(
    request: Request,
    t: Translator,
    tenant: PortalTenant,
    token: str | None,
    status: int = 200,
    gate: str = "email",
    **context: Any,
) -> Response:
    if "csrf" not in context:
        context["csrf"] = portal_of(request).csrf_token(token) if token else ""
    context.setdefault("action", "code")
    context.setdefault("gate_choice", False)
    context.setdefault("can_ask", False)
    context["sends_per_client"] = flow.MAX_MAILS_PER_USER_PER_CLIENT
    context["sends_per_user"] = flow.MAX_MAILS_PER_USER
    context["link_every"] = flow.LINK_MAIL_INTERVAL.seconds // 60
    settings = portal_of(request).services.settings
    context["link_mails"] = bool(settings.public_url)  # past the caps (T1)
    context.setdefault("minutes", settings.code_ttl // 60)
    return page(request, t, tenant, "code.html", status, gate=gate, **context)


def _password_page(
    request: Request,
    t: Translator,
    tenant: PortalTenant,
    token: str,
    rules: PasswordRules | None,
    status: int = 200,
    **context: Any,
) -> Response:
    return page(
        request,
        t,
        tenant,
        "password.html",
        status,
        csrf=portal_of(request).csrf_token(token),
        rules=describe_rules(rules, t, common_refused=tenant.refuse_common),
        rules_source=source_text(rules, t),
        **context,
    )


SENT_AGAIN = N_("We sent a new code. The one before no longer works.")
ASKED_ADMIN = N_(
    "We asked your administrators to help you. They will contact you; make sure it is "
    "really them before you tell them anything."
)

#: Errors of a form field the user mends by typing again: nothing an operator
#: looks up, so no support record (and no code) for them.
TRIVIAL = frozenset(
    {
        "invalid_username",
        "empty",
        "mismatch",
        "invalid_answer",
        "invalid_question",
        "invalid_method",
        "invalid_number",
    }
)


async def shown_error(
    request: Request,
    t: Translator,
    error: PortalError,
    *,
    slug: str,
    username: str | None = None,
) -> tuple[dict[str, Any], int, PortalTenant | None]:
    """What the page shows of ``error``, its status and the tenant, once its
    support record (E2) is stored — except for a trivial field error, or
    past the budget of records one client address may make the server keep."""
    portal = portal_of(request)
    status = status_of(error)
    tenant = None
    if error.code != "tenant_not_found":
        tenant = await portal.tenant(slug)
    client = request.client.host if request.client else None
    keep = error.code not in TRIVIAL and (
        error.support_code is not None or await portal.services.may_record(client)
    )
    if not keep:
        return {"text": error.text(t), "field": error.field, "support_code": None}, status, tenant
    incident = support.Incident(
        error=error.code,
        status=status,
        message=error.text(Translator.for_locale(portal.catalogs, "en")),
        method=request.method,
        path=request.url.path,
        tenant_id=tenant.id if tenant else None,
        user_id=error.user_id,
        username=username,
        request_id=error.request_id or None,
        note=error.note,
        language=t.tag,
    )
    code = await asyncio.to_thread(
        support.record, portal.services.sessions, incident, error.support_code
    )
    return {"text": error.text(t), "field": error.field, "support_code": code}, status, tenant


async def fail_and_redirect(
    request: Request,
    t: Translator,
    error: PortalError,
    *,
    slug: str,
    to: str,
    username: str | None = None,
    keep: dict[str, str] | None = None,
) -> Response:
    """PRG for a refused form: back to the page ``to`` (under the tenant's
    base), which shows ``error`` with its support code and status, and gets
    ``keep`` (what the form shows again, never a password)."""
    shown, status, tenant = await shown_error(request, t, error, slug=slug, username=username)
    if tenant is None:
        return _bare_error(request, t, shown, status)
    target = f"{base_of(tenant)}/{to}"
    response = RedirectResponse(target, status_code=303)
    message = {
        "error": error.carried(shown["support_code"] or ""),
        "status": status,
        **(keep or {}),
    }
    flash.carry(request, response, portal_of(request).hasher, target, message)
    return response


def _bare_error(request: Request, t: Translator, shown: dict[str, Any], status: int) -> Response:
    context = {"tenant_name": "Passback", "base": "", "error": shown, "restart": False}
    context["notice"] = None
    return renderer(request).page(request, t, "error.html", context, status)


async def fail(
    request: Request,
    t: Translator,
    error: PortalError,
    *,
    slug: str,
    username: str | None = None,
    page_name: str = "error.html",
    token: str | None = None,
    purpose: str = flow.Purpose.RESET.value,
    gate: str = "email",
    ending: str | None = None,
) -> Response:
    """The page for ``error``, with the support code of its stored record (E2).
    An error carried over a redirect is about what happened before, and says
    more than "this step is over": it is shown instead."""
    carried = flash.take(request, portal_of(request).hasher) if request.method == "GET" else None
    if carried is not None and carried_error(carried) is not None and slug:
        known = await portal_of(request).tenant(slug)
        return page(request, t, known, "error.html", restart=True)
    shown, status, tenant = await shown_error(request, t, error, slug=slug, username=username)
    if tenant is None:
        return _bare_error(request, t, shown, status)
    if page_name == "code.html":
        choice = await portal_of(request).offers_choice(tenant)
        return _code_page(
            request,
            t,
            tenant,
            token,
            status,
            gate=gate,
            error=shown,
            gate_choice=choice,
            ending=ending,
        )
    restart = status not in {429, 503}
    if error.field == "username":
        return page(
            request,
            t,
            tenant,
            "start.html",
            status,
            error=shown,
            username=username or "",
            purpose=purpose,
        )
    return page(request, t, tenant, "error.html", status, error=shown, restart=restart)
