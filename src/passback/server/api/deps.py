"""What the routes depend on: the services of the app and the caller's tenant."""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import select

from passback.crypto.tokens import token_hash
from passback.server.errors import Unauthorized
from passback.server.services import Services
from passback.server.store.models import Token
from passback.server.tenants import ADMIN


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


def admin_tenant(
    services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(admin_bearer)],
) -> str:
    """The tenant whose admin token the caller presented; every admin route
    is scoped to it."""
    if credentials is None:
        raise Unauthorized("Send an admin token as 'Authorization: Bearer <token>'.")
    digest = token_hash(credentials.credentials)
    with services.sessions() as db:
        tenant_id = db.scalar(
            select(Token.tenant_id).where(
                Token.token_hash == digest, Token.kind == ADMIN, Token.revoked_at.is_(None)
            )
        )
    if tenant_id is None:
        raise Unauthorized("The admin token is not valid: it is unknown or revoked.")
    return tenant_id


async def onboarding_token(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(onboarding_bearer)],
) -> str:
    if credentials is None:
        raise Unauthorized("Send the onboarding token as 'Authorization: Bearer <token>'.")
    return credentials.credentials


AdminTenant = Annotated[str, Depends(admin_tenant)]
OnboardingToken = Annotated[str, Depends(onboarding_token)]
