"""What every console page shares: the app's console, rendering with the menu
of the administrator's role, errors and notices carried over a redirect
(``portal.flash``), the cross-site and CSRF checks, and the session cookie.

The cookie is HttpOnly, SameSite=Strict, Secure over HTTPS and scoped to the
tenant's console path; every form of a session carries a CSRF token bound
to it, and every post must come from this site.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any, cast

from fastapi import Form, Request
from fastapi.responses import RedirectResponse, Response

from passback.server import cookies, support
from passback.server.console.errors import ConsoleError
from passback.server.console.roles import SECTIONS, Permission, home
from passback.server.console.service import Console, ConsoleTenant, SignedInAdmin, Verified
from passback.server.i18n import Translator
from passback.server.i18n.translations import N_
from passback.server.portal import flash
from passback.server.portal.errors import PortalError
from passback.server.portal.pages import check_same_origin
from passback.server.portal.templating import Renderer

CONSOLE_TEMPLATES = Path(__file__).parent / "templates"
SESSION_COOKIE = "passback_console"
DEVICE_COOKIE = "passback_console_device"
DEVICE_COOKIE_AGE = 180 * 24 * 3600
#: Longest text a console form field takes.
MAX_FIELD = 1024
#: A console form field.
Text = Annotated[str, Form(max_length=MAX_FIELD)]

#: The menu's words for each section, and its path under the console.
SECTION_NAMES = {
    Permission.DASHBOARD: (N_("Dashboard"), "dashboard"),
    Permission.PEOPLE: (N_("People"), "people"),
    Permission.AGENTS: (N_("Agents"), "agents"),
    Permission.REPORTS: (N_("Reports"), "reports"),
    Permission.SUPPORT: (N_("Support code"), "support"),
    Permission.ADMINS: (N_("Administrators"), "admins"),
    Permission.POLICY: (N_("Policy"), "policy"),
    Permission.TOKENS: (N_("API tokens"), "tokens"),
}


def console_of(request: Request) -> Console:
    return cast(Console, request.app.state.console)


def renderer_of(request: Request) -> Renderer:
    return cast(Renderer, request.app.state.console_renderer)


def translator(request: Request) -> Translator:
    return renderer_of(request).translator(request)


def page(
    request: Request,
    t: Translator,
    tenant: ConsoleTenant,
    name: str,
    *,
    admin: SignedInAdmin | None = None,
    status: int = 200,
    error: ConsoleError | None = None,
    **context: Any,
) -> Response:
    """The page ``name`` with the menu of ``admin``'s role; an error or a
    notice carried to this page over a redirect is shown on it."""
    values: dict[str, Any] = {
        "tenant_name": tenant.name,
        "tenant": tenant,
        "base": tenant.base,
        "admin": admin,
        "menu": _menu(admin, t),
        "error": _shown(error, t) if error else None,
        "notice": None,
        "csrf": admin.csrf if admin else "",
        **context,
    }
    carried = flash.take(request, console_of(request).hasher) if request.method == "GET" else None
    if carried is not None:
        raw = carried.get("error")
        if values["error"] is None and isinstance(raw, dict):
            values["error"] = _shown(_from_carried(raw), t)
            status = int(raw.get("status", status))
        if isinstance(carried.get("notice"), str):
            values["notice"] = t.gettext(carried["notice"], **carried.get("values", {}))
    return renderer_of(request).page(request, t, name, values, status)


async def error_page(
    request: Request, t: Translator, tenant: ConsoleTenant | None, error: ConsoleError
) -> Response:
    """A page that cannot be shown: to the sign-in when there is no session;
    else the error, with a support code whose record is stored (E2) within
    the budget of records the client's address may make the server keep
    (past it, no code: anyone can ask for a console page that fails)."""
    if tenant is not None and error.code == "not_signed_in":
        return redirect(request, f"{tenant.base}/signin", error=error)
    services = console_of(request).services
    client = request.client.host if request.client else None
    if error.support_code is None and await services.may_record(client):
        incident = support.Incident(
            error=error.code,
            status=error.status,
            message=error.text(Translator.for_locale(renderer_of(request).catalogs, "en")),
            method=request.method,
            path=request.url.path,
            tenant_id=tenant.id if tenant else None,
            language=t.tag,
        )
        error.support_code = await asyncio.to_thread(support.record, services.sessions, incident)
    values = {
        "tenant_name": tenant.name if tenant else "Passback",
        "base": tenant.base if tenant else "",
    }
    return renderer_of(request).page(
        request,
        t,
        "error.html",
        {
            **values,
            "admin": None,
            "menu": [],
            "notice": None,
            "csrf": "",
            "error": _shown(error, t),
        },
        error.status,
    )


async def signed_in(
    request: Request, slug: str, permission: Permission
) -> tuple[ConsoleTenant, SignedInAdmin]:
    """The tenant of ``slug`` and its administrator signed in on this request,
    whose role has ``permission``.

    Raises:
        ConsoleError: no such console, not signed in, or ``forbidden``.
    """
    console = console_of(request)
    tenant = await console.tenant(slug)
    return tenant, await console.admin(tenant, request.cookies.get(SESSION_COOKIE), permission)


async def confirm_fresh(
    request: Request, tenant: ConsoleTenant, admin: SignedInAdmin, code: str
) -> None:
    """Before a reset, an invitation, a token or a policy change: the
    authenticator's ``code`` unless the session proved one within
    ``sessions.REAUTH_WINDOW``.

    Raises:
        ConsoleError: as ``Console.reauthenticate``.
    """
    if not admin.recently_verified:
        await console_of(request).reauthenticate(
            tenant,
            request.cookies.get(SESSION_COOKIE),
            code,
            device=request.cookies.get(DEVICE_COOKIE),
        )


async def fail(request: Request, slug: str, error: ConsoleError) -> Response:
    """:func:`error_page` for a request whose tenant may not have been found."""
    try:
        tenant: ConsoleTenant | None = await console_of(request).tenant(slug)
    except ConsoleError:
        tenant = None
    return await error_page(request, translator(request), tenant, error)


def redirect(
    request: Request,
    to: str,
    *,
    error: ConsoleError | None = None,
    notice: str | None = None,
    values: dict[str, object] | None = None,
) -> Response:
    """303 to ``to``, carrying an error or a notice to that page (PRG)."""
    response = RedirectResponse(to, status_code=303)
    message: dict[str, Any] = {}
    if error is not None:
        message["error"] = {
            "code": error.code,
            "message": error.message,
            "values": error.values,
            "field": error.field,
            "status": error.status,
            "support_code": error.support_code,
        }
    if notice is not None:
        message["notice"] = notice
        message["values"] = values or {}
    if message:
        flash.carry(request, response, console_of(request).hasher, to.partition("?")[0], message)
    return response


def check_post(request: Request, token: str | None, csrf: str) -> None:
    """A form of the session, posted from this site.

    Raises:
        ConsoleError: ``cross_site`` (403) or ``csrf_failed`` (403).
    """
    try:
        check_same_origin(request)
    except PortalError:
        raise ConsoleError(
            "cross_site",
            N_("This form was sent from another site. Open the console's address yourself."),
            status=403,
        ) from None
    if token is not None and not console_of(request).csrf_matches(token, csrf):
        raise ConsoleError("csrf_failed", N_("This form has expired. Try again."), status=403)


def set_cookie(
    request: Request,
    response: Response,
    tenant: ConsoleTenant,
    name: str,
    value: str,
    max_age: int | None = None,
) -> None:
    """A cookie of the tenant's console that no other site's request carries."""
    cookies.set_strict_cookie(request, response, f"{tenant.base}/", name, value, max_age)


def signed_in_response(
    request: Request, tenant: ConsoleTenant, admin: SignedInAdmin, verified: Verified
) -> Response:
    """Past the second factor: to the role's first section, with the session's
    new token and the browser's device token."""
    response = redirect(request, landing(tenant, admin))
    set_cookie(request, response, tenant, SESSION_COOKIE, verified.token)
    set_cookie(request, response, tenant, DEVICE_COOKIE, verified.device, max_age=DEVICE_COOKIE_AGE)
    return response


def landing(tenant: ConsoleTenant, admin: SignedInAdmin) -> str:
    return f"{tenant.base}/{SECTION_NAMES[home(admin.role)][1]}"


def _menu(admin: SignedInAdmin | None, t: Translator) -> list[tuple[str, str, str]]:
    if admin is None:
        return []
    return [
        (SECTION_NAMES[s][1], t.gettext(SECTION_NAMES[s][0]), s.value)
        for s in SECTIONS
        if admin.may(s)
    ]


def _shown(error: ConsoleError, t: Translator) -> dict[str, Any]:
    return {
        "text": error.text(t),
        "field": error.field,
        "support_code": error.support_code,
    }


def _from_carried(raw: dict[str, Any]) -> ConsoleError:
    values = raw.get("values")
    return ConsoleError(
        str(raw.get("code", "")),
        str(raw.get("message", "")),
        status=int(raw.get("status", 422)),
        field=raw.get("field") if isinstance(raw.get("field"), str) else None,
        values=values if isinstance(values, dict) else None,
        support_code=raw.get("support_code") if isinstance(raw.get("support_code"), str) else None,
    )
