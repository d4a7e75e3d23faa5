"""The portal's pages (SPEC W1, W2, W8): server-rendered forms that work
without JavaScript, under ``/portal/<slug>/``.

    GET  /           username form (W2 first: 503 at once without an agent)
    POST /           look up, send the code      → 303 code
    GET  /code       code form
    POST /code       check the code              → 303 password
    GET  /password   the new password twice, with the rules for this user
    POST /password   write it back; success page or the directory's reason

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

from passback.server import support
from passback.server.api.problems import status_of
from passback.server.i18n import Translator
from passback.server.i18n.translations import N_
from passback.server.portal import flow
from passback.server.portal.errors import PortalError
from passback.server.portal.rules_text import describe_rules, source_text
from passback.server.portal.service import Portal, PortalTenant
from passback.server.portal.templating import Renderer
from passback.server.rules import PasswordRules

FLOW_COOKIE = "passback_flow"
#: Form fields are short; bound them so a form post cannot carry megabytes.
MAX_FIELD = 1024

router = APIRouter(prefix="/portal/{slug}", include_in_schema=False)

Text = Annotated[str, Form(max_length=MAX_FIELD)]


def _portal(request: Request) -> Portal:
    return cast(Portal, request.app.state.portal)


def _renderer(request: Request) -> Renderer:
    return cast(Renderer, request.app.state.renderer)


def _base(tenant: PortalTenant) -> str:
    return f"/portal/{tenant.slug}"


@router.get("/")
async def start_page(request: Request, slug: str) -> Response:
    t = _renderer(request).translator(request)
    try:
        tenant = await _portal(request).tenant(slug)
        await _portal(request).check_available(tenant)
    except PortalError as error:
        return await _fail(request, t, error, slug=slug)
    return _page(request, t, tenant, "start.html", username="")


@router.post("/")
async def start(request: Request, slug: str, username: Text = "") -> Response:
    t = _renderer(request).translator(request)
    portal = _portal(request)
    try:
        tenant = await portal.tenant(slug)
        _check_same_origin(request)
        client = request.client.host if request.client else "unknown"
        started = await portal.start(tenant, username, client=client, language=t.locale)
    except PortalError as error:
        return await _fail(request, t, error, slug=slug, username=username)
    response = RedirectResponse(f"{_base(tenant)}/code", status_code=303)
    _set_flow_cookie(request, response, tenant, started.token)
    if started.deliver is not None:
        response.background = BackgroundTask(started.deliver)
    return response


def _set_flow_cookie(
    request: Request, response: Response, tenant: PortalTenant, token: str
) -> None:
    response.set_cookie(
        FLOW_COOKIE,
        token,
        path=f"{_base(tenant)}/",
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )


@router.get("/code")
async def code_page(request: Request, slug: str) -> Response:
    t = _renderer(request).translator(request)
    portal = _portal(request)
    token = request.cookies.get(FLOW_COOKIE)
    try:
        tenant = await portal.tenant(slug)
        await portal.require(tenant, token, flow.Step.CODE)
    except PortalError as error:
        return await _fail(request, t, error, slug=slug)
    return _code_page(request, t, tenant, token)


@router.post("/code")
async def enter_code(request: Request, slug: str, code: Text = "", csrf: Text = "") -> Response:
    t = _renderer(request).translator(request)
    portal = _portal(request)
    token = request.cookies.get(FLOW_COOKIE)
    try:
        tenant = await portal.tenant(slug)
        _check_same_origin(request)
        _check_csrf(portal, token, csrf)
        new_token = await portal.enter_code(tenant, token, code)
    except PortalError as error:
        if error.field == "code" and token:
            return await _fail(request, t, error, slug=slug, page="code.html", token=token)
        return await _fail(request, t, error, slug=slug)
    response = RedirectResponse(f"{_base(tenant)}/password", status_code=303)
    _set_flow_cookie(request, response, tenant, new_token)
    return response


@router.get("/password")
async def password_page(request: Request, slug: str) -> Response:
    t = _renderer(request).translator(request)
    portal = _portal(request)
    token = request.cookies.get(FLOW_COOKIE)
    try:
        tenant = await portal.tenant(slug)
        rules = await portal.password_step(tenant, token)
    except PortalError as error:
        return await _fail(request, t, error, slug=slug)
    return _password_page(request, t, tenant, token or "", rules)


@router.post("/password")
async def set_password(
    request: Request,
    slug: str,
    new_password: Text = "",
    confirm_password: Text = "",
    csrf: Text = "",
) -> Response:
    t = _renderer(request).translator(request)
    portal = _portal(request)
    token = request.cookies.get(FLOW_COOKIE)
    try:
        tenant = await portal.tenant(slug)
        _check_same_origin(request)
        _check_csrf(portal, token, csrf)
        await portal.set_password(tenant, token, new_password, confirm_password)
    except PortalError as error:
        retry = error.outcome is not None or error.field in {"new_password", "confirm_password"}
        if retry and not error.flow_ended:
            # The user may try again (W8): the same form, with the reason.
            return await _fail(request, t, error, slug=slug, page="password.html", token=token)
        return await _fail(request, t, error, slug=slug)
    response = _page(request, t, tenant, "done.html")
    response.delete_cookie(FLOW_COOKIE, path=f"{_base(tenant)}/")
    return response


# -- rendering -------------------------------------------------------------------


def _check_same_origin(request: Request) -> None:
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


def _page(
    request: Request,
    t: Translator,
    tenant: PortalTenant,
    name: str,
    status: int = 200,
    **context: Any,
) -> Response:
    values = {"tenant_name": tenant.name, "base": _base(tenant), "error": None, **context}
    return _renderer(request).page(request, t, name, values, status)


def _code_page(
    request: Request,
    t: Translator,
    tenant: PortalTenant,
    token: str | None,
    status: int = 200,
    **context: Any,
) -> Response:
    csrf = _portal(request).csrf_token(token) if token else ""
    minutes = _portal(request).services.settings.code_ttl // 60
    return _page(request, t, tenant, "code.html", status, csrf=csrf, minutes=minutes, **context)


def _password_page(
    request: Request,
    t: Translator,
    tenant: PortalTenant,
    token: str,
    rules: PasswordRules | None,
    status: int = 200,
    **context: Any,
) -> Response:
    return _page(
        request,
        t,
        tenant,
        "password.html",
        status,
        csrf=_portal(request).csrf_token(token),
        rules=describe_rules(rules, t, common_refused=tenant.refuse_common),
        rules_source=source_text(rules, t),
        **context,
    )


async def _fail(
    request: Request,
    t: Translator,
    error: PortalError,
    *,
    slug: str,
    username: str | None = None,
    page: str = "error.html",
    token: str | None = None,
) -> Response:
    """The page for ``error``, with the support code of its stored record (E2)."""
    portal = _portal(request)
    status = status_of(error)
    tenant = None
    if error.code != "tenant_not_found":
        tenant = await portal.tenant(slug)
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
    )
    code = await asyncio.to_thread(
        support.record, portal.services.sessions, incident, error.support_code
    )
    shown = {"text": error.text(t), "field": error.field, "support_code": code}
    if tenant is None:
        return _renderer(request).page(
            request,
            t,
            "error.html",
            {"tenant_name": "Passback", "base": "", "error": shown, "restart": False},
            status,
        )
    if page == "code.html":
        return _code_page(request, t, tenant, token, status, error=shown)
    if page == "password.html" and token is not None:
        try:
            rules = await portal.password_step(tenant, token)
        except PortalError:
            pass  # the flow ended or expired meanwhile: no form, the reason stays
        else:
            return _password_page(request, t, tenant, token, rules, status, error=shown)
    restart = status not in {429, 503}
    if page == "start.html" or error.field == "username":
        return _page(request, t, tenant, "start.html", status, error=shown, username=username or "")
    return _page(request, t, tenant, "error.html", status, error=shown, restart=restart)
