"""The tenant's self-service policy (SPEC G1, G2, G8): read it, change it."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter

from passback.server import admin_actions
from passback.server.admin_actions import Acting
from passback.server.api.deps import PolicyCaller, ServicesDep
from passback.server.api.problems import error_responses
from passback.server.api.schemas import PolicyChange, PolicyOut
from passback.server.gate_policies import gate_policy
from passback.server.services import Services

router = APIRouter(prefix="/api/v1", tags=["policy"])


@router.get(
    "/policy",
    response_model=PolicyOut,
    summary="The tenant's self-service policy",
    responses=error_responses(401, 403),
)
async def get_policy(caller: PolicyCaller, services: ServicesDep) -> PolicyOut:
    def read() -> PolicyOut:
        with services.sessions() as db:
            return PolicyOut.of(gate_policy(db, caller.tenant_id))

    return await asyncio.to_thread(read)


@router.patch(
    "/policy",
    response_model=PolicyOut,
    summary="Change the tenant's self-service policy",
    responses=error_responses(401, 403, 422),
)
async def change_policy(
    change: PolicyChange, caller: PolicyCaller, services: ServicesDep
) -> PolicyOut:
    """Change the fields given; the others stay. The result is checked as a
    whole (`invalid_policy`, 422, names every problem) and shown back."""
    changes = change.model_dump(exclude_none=True)
    if "gates_required" in changes:
        changes["required"] = changes.pop("gates_required")
    return await asyncio.to_thread(_change, services, caller.acting, changes)


def _change(services: Services, acting: Acting, changes: dict[str, Any]) -> PolicyOut:
    return PolicyOut.of(admin_actions.change_policy(services, acting, changes))
