"""The password rules that apply to one user, as the directory reports them."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Path

from passback.server.api.deps import PeopleCaller, ServicesDep
from passback.server.api.problems import error_responses
from passback.server.api.schemas import RulesOut
from passback.server.directory_users import one_user
from passback.server.errors import ServiceUnavailable
from passback.server.rules import rules_for
from passback.server.services import Services
from passback.server.store.models import DirectoryUser

router = APIRouter(prefix="/api/v1", tags=["users"])


@router.get(
    "/users/{user}/password-rules",
    response_model=RulesOut,
    summary="The password rules that apply to a user",
    responses=error_responses(401, 403, 404, 409, 422, 503),
)
async def password_rules(
    user: Annotated[
        str,
        Path(max_length=1024, description="The user's id, sAMAccountName (any case) or UPN."),
    ],
    caller: PeopleCaller,
    services: ServicesDep,
) -> RulesOut:
    """Asked of a connected agent, which reads the domain's policy or the
    fine-grained policy (PSO) that applies to this user (SPEC W4)."""
    found = await asyncio.to_thread(_find, services, caller.tenant_id, user)
    rules = await rules_for(services, caller.tenant_id, found.id)
    if rules is None:
        raise ServiceUnavailable("No connected agent could read the rules for this user right now.")
    return RulesOut.of(rules)


def _find(services: Services, tenant_id: str, user: str) -> DirectoryUser:
    with services.sessions() as db:
        return one_user(db, tenant_id, user)
