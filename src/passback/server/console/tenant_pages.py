"""The console's pages about the tenant itself: its agents (L1) and its
administrators (U1).

    GET  /console/{slug}/agents                     health of each agent
    POST /console/{slug}/agents/onboarding-token    a one-time token, shown once
    POST /console/{slug}/agents/{id}/revoke         for good; its link drops (4006)
    GET  /console/{slug}/admins                     the administrators
    POST /console/{slug}/admins                     invite one: a set-up link, shown once
    GET  /console/{slug}/tokens                     API tokens (one's own; all: a tenant admin)
    POST /console/{slug}/tokens                     a new one of one's own, shown once
    POST /console/{slug}/tokens/{id}/revoke

A token or a link is shown on the page that answers the post, once: it is
never put in a URL, a cookie or a log, and the store keeps only its hash.
Inviting an administrator needs the authenticator code proved within the
last five minutes, as a reset does.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response

from passback.server import admin_actions, audit
from passback.server.admin_actions import Acting
from passback.server.console import admin_changes, admins, api_tokens, overview
from passback.server.console.errors import ConsoleError
from passback.server.console.recovery import Recovery
from passback.server.console.roles import ROLE_NAMES, Permission, Role
from passback.server.console.service import ConsoleTenant, SignedInAdmin
from passback.server.console.web import (
    SESSION_COOKIE,
    Text,
    check_post,
    confirm_fresh,
    console_of,
    fail,
    page,
    redirect,
    signed_in,
    translator,
)
from passback.server.errors import NotFound
from passback.server.i18n.translations import N_
from passback.server.store.models import utcnow

router = APIRouter(prefix="/console/{slug}", include_in_schema=False)


@router.get("/agents")
async def agents_page(request: Request, slug: str) -> Response:
    try:
        tenant, admin = await signed_in(request, slug, Permission.AGENTS)
    except ConsoleError as error:
        return await fail(request, slug, error)
    return await _agents(request, tenant, admin)


@router.post("/agents/onboarding-token")
async def onboarding_token(request: Request, slug: str, csrf: Text = "") -> Response:
    console = console_of(request)
    try:
        tenant, admin = await signed_in(request, slug, Permission.AGENTS)
        check_post(request, request.cookies.get(SESSION_COOKIE), csrf)
    except ConsoleError as error:
        return await fail(request, slug, error)
    token = await asyncio.to_thread(
        admin_actions.new_onboarding_token, console.services, Acting(tenant.id, admin.id)
    )
    return await _agents(request, tenant, admin, onboarding_token=token)


@router.post("/agents/{agent_id}/revoke")
async def revoke(request: Request, slug: str, agent_id: str, csrf: Text = "") -> Response:
    console = console_of(request)
    try:
        tenant, admin = await signed_in(request, slug, Permission.AGENTS)
        check_post(request, request.cookies.get(SESSION_COOKIE), csrf)
        await admin_actions.revoke_agent(console.services, Acting(tenant.id, admin.id), agent_id)
    except NotFound:
        error = ConsoleError("agent_not_found", N_("There is no such agent."), status=404)
        return await fail(request, slug, error)
    except ConsoleError as error:
        return await fail(request, slug, error)
    return redirect(
        request,
        f"{tenant.base}/agents",
        notice=N_("The agent is revoked: its link is closed and it can never connect again."),
    )


@router.get("/admins")
async def admins_page(request: Request, slug: str) -> Response:
    try:
        tenant, admin = await signed_in(request, slug, Permission.ADMINS)
    except ConsoleError as error:
        return await fail(request, slug, error)
    return await _admins(request, tenant, admin)


@router.post("/admins")
async def invite(
    request: Request,
    slug: str,
    email: Text = "",
    name: Text = "",
    role: Text = "",
    code: Text = "",
    csrf: Text = "",
) -> Response:
    console = console_of(request)
    token = request.cookies.get(SESSION_COOKIE)
    try:
        tenant, admin = await signed_in(request, slug, Permission.ADMINS)
    except ConsoleError as error:
        return await fail(request, slug, error)
    try:
        check_post(request, token, csrf)
        await confirm_fresh(request, tenant, admin, code)
        invitation = await asyncio.to_thread(
            admin_changes.invite,
            console.services,
            Acting(tenant.id, admin.id),
            email=email,
            name=name,
            role=admin_changes.role_of(role),
        )
    except ConsoleError as error:
        if error.code in {"not_signed_in", "too_many_codes", "cross_site", "csrf_failed"}:
            return await fail(request, slug, error)
        return await _admins(
            request, tenant, admin, error=error, status=error.status, typed=(email, name, role)
        )
    link = _link(request, tenant, invitation)
    return await _admins(request, tenant, admin, invitation=invitation, link=link)


async def _agents(
    request: Request, tenant: ConsoleTenant, admin: SignedInAdmin, **context: Any
) -> Response:
    console = console_of(request)
    present = await console.services.router.features(tenant.id)

    def read() -> list[overview.AgentHealth]:
        with console.services.sessions() as db:
            return overview.agents(db, tenant.id, present)

    t = translator(request)
    rows = await asyncio.to_thread(read)
    return page(
        request, t, tenant, "agents.html", admin=admin, agents=rows, when=t.datetime, **context
    )


async def _admins(
    request: Request,
    tenant: ConsoleTenant,
    admin: SignedInAdmin,
    status: int = 200,
    error: ConsoleError | None = None,
    typed: tuple[str, str, str] = ("", "", Role.HELPDESK.value),
    **context: Any,
) -> Response:
    console = console_of(request)

    def read() -> list[Any]:
        with console.services.sessions() as db:
            rows = admins.listed(db, tenant.id)
            db.expunge_all()
            return rows

    t = translator(request)
    return page(
        request,
        t,
        tenant,
        "admins.html",
        admin=admin,
        status=status,
        error=error,
        admins=await asyncio.to_thread(read),
        roles=[(r.value, t.gettext(ROLE_NAMES[r])) for r in Role],
        role_names={r.value: t.gettext(ROLE_NAMES[r]) for r in Role},
        typed=typed,
        when=t.datetime,
        **context,
    )


@router.get("/tokens")
async def tokens_page(request: Request, slug: str) -> Response:
    try:
        tenant, admin = await signed_in(request, slug, Permission.TOKENS)
    except ConsoleError as error:
        return await fail(request, slug, error)
    return await _tokens(request, tenant, admin)


@router.post("/tokens")
async def create_token(
    request: Request, slug: str, name: Text = "", code: Text = "", csrf: Text = ""
) -> Response:
    console = console_of(request)
    token = request.cookies.get(SESSION_COOKIE)
    try:
        tenant, admin = await signed_in(request, slug, Permission.TOKENS)
        check_post(request, token, csrf)
    except ConsoleError as error:
        return await fail(request, slug, error)
    try:
        await confirm_fresh(request, tenant, admin, code)

        def make() -> str:
            now = utcnow()
            with console.services.sessions() as db, db.begin():
                made = api_tokens.create(db, tenant.id, admin.id, name, now)
                admin_actions.record_admin_event(
                    db, Acting(tenant.id, admin.id), audit.Activity.API_TOKEN, now, created=name
                )
                return made

        made = await asyncio.to_thread(make)
    except ConsoleError as error:
        if error.code in {"not_signed_in", "too_many_codes"}:
            return await fail(request, slug, error)
        return await _tokens(request, tenant, admin, error=error, status=error.status)
    return await _tokens(request, tenant, admin, created=made)


@router.post("/tokens/{token_id}/revoke")
async def revoke_token(request: Request, slug: str, token_id: str, csrf: Text = "") -> Response:
    console = console_of(request)
    try:
        tenant, admin = await signed_in(request, slug, Permission.TOKENS)
        check_post(request, request.cookies.get(SESSION_COOKIE), csrf)

        def revoke() -> None:
            now = utcnow()
            every = admin.may(Permission.ADMINS)
            with console.services.sessions() as db, db.begin():
                api_tokens.revoke(db, tenant.id, token_id, by=admin.id, every=every, now=now)
                admin_actions.record_admin_event(
                    db, Acting(tenant.id, admin.id), audit.Activity.API_TOKEN, now, revoked=token_id
                )

        await asyncio.to_thread(revoke)
    except ConsoleError as error:
        return await fail(request, slug, error)
    return redirect(request, f"{tenant.base}/tokens", notice=N_("The token is revoked."))


async def _tokens(
    request: Request,
    tenant: ConsoleTenant,
    admin: SignedInAdmin,
    status: int = 200,
    **context: Any,
) -> Response:
    console = console_of(request)
    every = admin.may(Permission.ADMINS)

    def read() -> list[api_tokens.Listed]:
        with console.services.sessions() as db:
            return api_tokens.listed(db, tenant.id, None if every else admin.id)

    t = translator(request)
    return page(
        request,
        t,
        tenant,
        "tokens.html",
        admin=admin,
        status=status,
        tokens=await asyncio.to_thread(read),
        every=every,
        when=t.datetime,
        **context,
    )


@router.post("/admins/{admin_id}/{action}")
async def change_admin(
    request: Request, slug: str, admin_id: str, action: str, csrf: Text = ""
) -> Response:
    """``disable``, ``enable``, or ``setup-link`` (a new set-up link: the
    password and the authenticator are set again; needs a fresh code)."""
    console = console_of(request)
    try:
        tenant, admin = await signed_in(request, slug, Permission.ADMINS)
        check_post(request, request.cookies.get(SESSION_COOKIE), csrf)
        if action not in admin_changes.ACTIONS:
            raise ConsoleError("not_found", N_("There is no such page."), status=404)
        if action in {"setup-link", "enable"} and not admin.recently_verified:
            return redirect(
                request,
                f"{tenant.base}/confirm?" + urlencode({"next": f"{tenant.base}/admins"}),
                notice=N_("Confirm it is you, then do it again."),
            )
        changed = await asyncio.to_thread(
            admin_changes.change,
            console.services,
            Acting(tenant.id, admin.id),
            admin_id,
            action,
        )
    except ConsoleError as error:
        if error.code in {"own_account", "last_admin", "admin_not_found"}:
            return redirect(request, f"{tenant.base}/admins", error=error)
        return await fail(request, slug, error)
    if changed.invitation is None:
        return redirect(request, f"{tenant.base}/admins", notice=N_("Done."))
    recovery = cast(Recovery, request.app.state.recovery)
    t, how = translator(request), admin_changes.BY_ADMIN
    recovery.tell_admins(tenant, changed.name, changed.email, changed.told, how, t)
    link = _link(request, tenant, changed.invitation)
    return await _admins(request, tenant, admin, invitation=changed.invitation, link=link)


def _link(request: Request, tenant: ConsoleTenant, invitation: admins.Invitation) -> str:
    origin = console_of(request).services.settings.public_url or str(request.base_url)
    return admins.setup_link(origin, tenant.slug, invitation.token)
