"""What the routes depend on: the services of the app and the caller's tenant."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Annotated, cast

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import bindparam, select, update

from passback.crypto.tokens import token_hash
from passback.server.admin_actions import Acting
from passback.server.console.roles import Permission, Role, may
from passback.server.errors import Forbidden, Unauthorized
from passback.server.services import Services
from passback.server.store.models import Admin, Token, utcnow
from passback.server.tenants import ADMIN


def caller_tenant(request: Request) -> str | None:
    """The tenant of the admin token the request presented, once it was found valid."""
    return cast(str | None, getattr(request.state, "caller_tenant", None))


def get_services(request: Request) -> Services:
    return cast(Services, request.app.state.services)


async def _services(request: Request) -> Services:
    # A coroutine: FastAPI runs a plain function dependency in a worker thread.
    return get_services(request)


ServicesDep = Annotated[Services, Depends(_services)]

admin_bearer = HTTPBearer(
    scheme_name="AdminToken",
    description="An admin token of the tenant (`pba_…`), from `passback tenant create`.",
    auto_error=False,
)
onboarding_bearer = HTTPBearer(
    scheme_name="OnboardingToken",
    description="A one-time onboarding token of the tenant (`pbo_…`).",
    auto_error=False,
)


@dataclasses.dataclass(frozen=True)
class ApiCaller:
    """Who calls an admin route: the tenant's bootstrap token (``role`` None:
    everything, for automation), or an administrator's own token (their role)."""

    tenant_id: str
    admin_id: str | None = None
    role: Role | None = None

    @property
    def acting(self) -> Acting:
        return Acting(self.tenant_id, self.admin_id)


#: How precisely a token's last use is kept (``Token.used_at``).
USED_EVERY = dt.timedelta(minutes=1)

#: The admin token of a digest; built once, as every API call runs it.
_TOKEN = select(Token.id, Token.tenant_id, Token.admin_id, Token.used_at).where(
    Token.token_hash == bindparam("digest"), Token.kind == ADMIN, Token.revoked_at.is_(None)
)


def api_caller(
    request: Request,
    services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(admin_bearer)],
) -> ApiCaller:
    """The caller of the admin token presented; every admin route is scoped to
    its tenant. An administrator's token works only while they are active.

    The tenant is noted on the request (``caller_tenant``): the support record
    of an error answered to the caller is the tenant's, which its
    administrators look up (E2)."""
    if credentials is None:
        raise Unauthorized("Send an admin token as 'Authorization: Bearer <token>'.")
    digest = token_hash(credentials.credentials)
    now = utcnow()
    with services.sessions() as db:
        found = db.execute(_TOKEN, {"digest": digest}).first()
        admin = db.get(Admin, found.admin_id) if found and found.admin_id else None
        if found is not None and (found.used_at is None or now - found.used_at >= USED_EVERY):
            # The token list shows when each was last used, to the minute: one
            # write a minute at most, not one per call.
            db.execute(update(Token).where(Token.id == found.id).values(used_at=now))
            db.commit()
    if found is None or (found.admin_id and (admin is None or not _active(admin))):
        raise Unauthorized("The admin token is not valid: it is unknown or revoked.")
    request.state.caller_tenant = found.tenant_id
    if admin is None:
        return ApiCaller(found.tenant_id)
    return ApiCaller(found.tenant_id, admin.id, Role(admin.role))


def _active(admin: Admin) -> bool:
    return admin.activated_at is not None and admin.disabled_at is None


def allowed(permission: Permission) -> Callable[[ApiCaller], Awaitable[ApiCaller]]:
    """A dependency: the caller, if its role grants ``permission`` (a coroutine:
    no I/O, no thread hop)."""

    async def check(caller: Annotated[ApiCaller, Depends(api_caller)]) -> ApiCaller:
        if caller.role is not None and not may(caller.role, permission):
            raise Forbidden(
                f"This token's administrator is {caller.role.value}: it may not do this.",
                code="forbidden",
            )
        return caller

    return check


async def onboarding_token(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(onboarding_bearer)],
) -> str:
    if credentials is None:
        raise Unauthorized("Send the onboarding token as 'Authorization: Bearer <token>'.")
    return credentials.credentials


PeopleCaller = Annotated[ApiCaller, Depends(allowed(Permission.PEOPLE))]
ActCaller = Annotated[ApiCaller, Depends(allowed(Permission.ACT_ON_PEOPLE))]
AgentsCaller = Annotated[ApiCaller, Depends(allowed(Permission.AGENTS))]
PolicyCaller = Annotated[ApiCaller, Depends(allowed(Permission.POLICY))]
AssignCaller = Annotated[ApiCaller, Depends(allowed(Permission.ASSIGN))]
AdminsCaller = Annotated[ApiCaller, Depends(allowed(Permission.ADMINS))]
ReportsCaller = Annotated[ApiCaller, Depends(allowed(Permission.REPORTS))]
SupportCaller = Annotated[ApiCaller, Depends(allowed(Permission.SUPPORT))]
OnboardingToken = Annotated[str, Depends(onboarding_token)]
