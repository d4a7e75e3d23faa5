"""Routes about agents: onboarding (SPEC L1) and the tenant's list."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Path, status

from passback.server import admin_actions, agents
from passback.server.api.deps import AgentsCaller, OnboardingToken, ServicesDep
from passback.server.api.problems import error_responses
from passback.server.api.schemas import (
    AgentOut,
    OnboardingTokenOut,
    OnboardRequest,
    OnboardResponse,
    PackageKeyOut,
)
from passback.server.relay.endpoint import RELAY_PATH
from passback.server.services import Services

router = APIRouter(prefix="/api/v1", tags=["agents"])


@router.post(
    "/agents/onboard",
    status_code=status.HTTP_201_CREATED,
    response_model=OnboardResponse,
    summary="Register a new agent with a one-time onboarding token",
    responses=error_responses(401, 422),
)
def onboard(body: OnboardRequest, token: OnboardingToken, services: ServicesDep) -> OnboardResponse:
    """The agent sends its public key and receives its relay secret and the
    tenant's package key (SPEC L1). The token is spent by a successful call."""
    with services.sessions() as db, db.begin():
        agent = agents.onboard_agent(
            db,
            token,
            name=body.name,
            public_key_pem=body.public_key,
            software=body.software,
            master_key=services.master_key,
        )
    return OnboardResponse(
        agent_id=agent.agent_id,
        tenant_id=agent.tenant_id,
        relay_secret=agent.relay_secret,
        package_key=PackageKeyOut(key_id=agent.package_key.key_id, key=agent.package_key.to_b64()),
        relay_path=RELAY_PATH,
        heartbeat_interval=services.settings.heartbeat_interval,
    )


@router.get(
    "/agents",
    response_model=list[AgentOut],
    summary="List the tenant's agents and whether each is connected",
    responses=error_responses(401, 403),
)
async def list_agents(caller: AgentsCaller, services: ServicesDep) -> list[AgentOut]:
    rows = await asyncio.to_thread(_agents, services, caller.tenant_id)
    present = set(await services.router.present(caller.tenant_id))
    for row in rows:
        row.connected = row.id in present
    return rows


@router.post(
    "/agents/onboarding-tokens",
    status_code=status.HTTP_201_CREATED,
    response_model=OnboardingTokenOut,
    summary="Create a one-time onboarding token for another agent",
    responses=error_responses(401, 403),
)
async def create_onboarding_token(
    caller: AgentsCaller, services: ServicesDep
) -> OnboardingTokenOut:
    token = await asyncio.to_thread(admin_actions.new_onboarding_token, services, caller.acting)
    return OnboardingTokenOut(onboarding_token=token)


@router.post(
    "/agents/{agent_id}/revoke",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Revoke an agent for good; its live link is closed at once (4006)",
    responses=error_responses(401, 403, 404, 422),
)
async def revoke_agent(
    agent_id: Annotated[str, Path(max_length=64)], caller: AgentsCaller, services: ServicesDep
) -> None:
    """The agent's relay secret is refused from now on; it can never
    reconnect. Revoking a revoked agent again is answered the same."""
    await admin_actions.revoke_agent(services, caller.acting, agent_id)


def _agents(services: Services, tenant_id: str) -> list[AgentOut]:
    with services.sessions() as db:
        return [
            AgentOut(
                id=a.id,
                name=a.name,
                software=a.software,
                connected=False,
                created_at=a.created_at,
                last_seen_at=a.last_seen_at,
                history_on_reset=a.history_on_reset,
                revoked=a.revoked_at is not None,
            )
            for a in agents.list_agents(db, tenant_id)
        ]
