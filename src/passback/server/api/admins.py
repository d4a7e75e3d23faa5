"""The tenant's administrators (SPEC U1): list, invite, disable, enable, and
a new set-up link; the same use-cases as the console's Administrators page
(``console/admin_changes.py``), audited the same way.

The console asks an administrator for a fresh authenticator code before an
invitation, an enabling or a new set-up link; an API token is a credential of
its own and is not asked for one. The tenant's own token has no account: it
can disable anyone but the last active tenant administrator.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, cast

from fastapi import APIRouter, Path, Request, status

from passback.server import entitlements
from passback.server.admin_actions import Acting
from passback.server.api.deps import AdminsCaller, ServicesDep
from passback.server.api.problems import error_responses
from passback.server.api.schemas import AdminOut, InviteRequest, SetupLinkOut
from passback.server.console import admin_changes, admins
from passback.server.console.recovery import Recovery
from passback.server.console.roles import Role
from passback.server.console.service import ConsoleTenant
from passback.server.i18n import Translator, negotiate
from passback.server.services import Services
from passback.server.store.models import Tenant

router = APIRouter(prefix="/api/v1", tags=["administrators"])

AdminParam = Annotated[str, Path(max_length=64, description="The administrator's id.")]


@router.get(
    "/admins",
    response_model=list[AdminOut],
    summary="List the tenant's administrators",
    responses=error_responses(401, 403),
)
async def list_admins(caller: AdminsCaller, services: ServicesDep) -> list[AdminOut]:
    def read() -> list[AdminOut]:
        with services.sessions() as db:
            return [
                AdminOut(
                    id=a.id,
                    email=a.email,
                    name=a.name,
                    role=Role(a.role),
                    state=admins.state(a),
                    created_at=a.created_at,
                    last_sign_in_at=a.last_sign_in_at,
                )
                for a in admins.listed(db, caller.tenant_id)
            ]

    return await asyncio.to_thread(read)


@router.post(
    "/admins",
    status_code=status.HTTP_201_CREATED,
    response_model=SetupLinkOut,
    summary="Invite an administrator: a one-time set-up link",
    responses=error_responses(401, 403, 409, 422),
)
async def invite(
    body: InviteRequest, caller: AdminsCaller, services: ServicesDep, request: Request
) -> SetupLinkOut:
    """The link sets the new administrator's password and authenticator app;
    give it to them. Inviting again someone who has not set up yet gives a new
    link (the old one stops working); an active administrator's email is
    refused (`admin_exists`, 409). An audit event records it."""
    invitation = await asyncio.to_thread(
        admin_changes.invite,
        services,
        caller.acting,
        email=body.email,
        name=body.name or body.email,
        role=body.role,
    )
    tenant = await asyncio.to_thread(_tenant, services, caller.tenant_id)
    return _link(request, services, tenant, invitation)


@router.post(
    "/admins/{admin_id}/disable",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Disable an administrator: their sessions end, their API tokens stop",
    responses=error_responses(401, 403, 404, 409, 422),
)
async def disable(admin_id: AdminParam, caller: AdminsCaller, services: ServicesDep) -> None:
    """Refused for one's own account (`own_account`) and for the last active
    tenant administrator (`last_admin`), both 409. An audit event records it."""
    await _change(services, caller.acting, admin_id, "disable")


@router.post(
    "/admins/{admin_id}/enable",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Enable a disabled administrator again",
    responses=error_responses(401, 403, 404, 409, 422),
)
async def enable(admin_id: AdminParam, caller: AdminsCaller, services: ServicesDep) -> None:
    """Their API tokens work again; they sign in anew. An audit event records it."""
    await _change(services, caller.acting, admin_id, "enable")


@router.post(
    "/admins/{admin_id}/setup-link",
    response_model=SetupLinkOut,
    summary="A new set-up link for an administrator who lost the authenticator or password",
    responses=error_responses(401, 403, 404, 409, 422),
)
async def new_setup_link(
    admin_id: AdminParam, caller: AdminsCaller, services: ServicesDep, request: Request
) -> SetupLinkOut:
    """Their password, authenticator and passkeys are cleared and set again
    from the link; their sessions end and their API tokens are revoked for
    good. Refused for one's own account (`own_account`) and for the last
    active tenant administrator (`last_admin`), both 409. Every administrator
    is told by mail (G9) unless the policy turned it off; an audit event
    records it."""
    changed = await _change(services, caller.acting, admin_id, "setup-link")
    assert changed.invitation is not None  # a new set-up link was asked for
    tenant = await asyncio.to_thread(_tenant, services, caller.tenant_id)
    recovery = cast(Recovery, request.app.state.recovery)
    language = negotiate(request.headers.get("accept-language"), None)
    t = Translator.for_locale(recovery.catalogs, language)
    how = admin_changes.told_how(caller.acting)
    recovery.tell_admins(tenant, changed.name, changed.email, changed.told, how, t)
    return _link(request, services, tenant, changed.invitation)


async def _change(
    services: Services, acting: Acting, admin_id: str, action: admin_changes.Action
) -> admin_changes.Changed:
    return await asyncio.to_thread(admin_changes.change, services, acting, admin_id, action)


def _tenant(services: Services, tenant_id: str) -> ConsoleTenant:
    with services.sessions() as db:
        row = db.get(Tenant, tenant_id)
        assert row is not None  # the caller's token names it
        return ConsoleTenant(row.id, row.slug, row.name, entitlements.plan_of(row))


def _link(
    request: Request, services: Services, tenant: ConsoleTenant, invitation: admins.Invitation
) -> SetupLinkOut:
    """The link as the console shows it: on the public URL, else this request's."""
    origin = services.settings.public_url or str(request.base_url)
    return SetupLinkOut(
        admin_id=invitation.admin_id,
        setup_link=admins.setup_link(origin, tenant.slug, invitation.token),
        expires_at=invitation.expires_at,
    )
