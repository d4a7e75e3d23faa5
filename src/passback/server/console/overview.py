"""What the dashboard and the agents page read: each agent's health, the
tenant's registration coverage (G8), how many users self-service is
enabled for (E1, G6), and when users were last synced."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from passback.protocol.features import Feature
from passback.server import entitlements
from passback.server.agents import list_agents
from passback.server.gate_policies import gate_policy
from passback.server.store.models import (
    DirectoryUser,
    GateRegistration,
    OperationRecord,
    Tenant,
)


@dataclasses.dataclass(frozen=True)
class SyncSummary:
    """An agent's last full sync (``Agent.last_sync_*``)."""

    at: dt.datetime
    users: int
    groups: int
    removed: int  # users removed at its end
    complete: bool  # every batch arrived (else none was removed)


@dataclasses.dataclass(frozen=True)
class AgentHealth:
    id: str
    name: str
    software: str
    connected: bool
    created_at: dt.datetime
    last_seen_at: dt.datetime | None
    revoked_at: dt.datetime | None
    #: The last writeback this agent answered with a failure: outcome and time.
    last_failure: tuple[str, dt.datetime] | None
    #: What this server can ask that the connected agent did not announce
    #: (``protocol.features``): it needs an upgrade.
    missing: tuple[str, ...] = ()
    #: Its last full sync; None: none yet.
    last_sync: SyncSummary | None = None


@dataclasses.dataclass(frozen=True)
class Coverage:
    users: int  # enabled synced users
    registered: int  # of them, with at least one method registered
    last_sync: dt.datetime | None
    enabled_for: int = 0  # of them, those self-service is enabled for (E1, G6)

    @property
    def percent(self) -> int:
        return round(100 * self.registered / self.users) if self.users else 0


def agents(db: Session, tenant_id: str, present: Mapping[str, frozenset[str]]) -> list[AgentHealth]:
    """Each agent of the tenant; ``present``: what each connected one announced."""
    out = []
    for agent in list_agents(db, tenant_id):
        failure = db.execute(
            select(OperationRecord.outcome, OperationRecord.finished_at)
            .where(
                OperationRecord.tenant_id == tenant_id,
                OperationRecord.agent_id == agent.id,
                OperationRecord.outcome.is_not(None),
                OperationRecord.outcome != "ok",
                OperationRecord.finished_at.is_not(None),
            )
            .order_by(OperationRecord.finished_at.desc())
            .limit(1)
        ).first()
        out.append(
            AgentHealth(
                id=agent.id,
                name=agent.name,
                software=agent.software,
                connected=agent.id in present and agent.revoked_at is None,
                created_at=agent.created_at,
                last_seen_at=agent.last_seen_at,
                revoked_at=agent.revoked_at,
                last_failure=(str(failure[0]), failure[1]) if failure and failure[1] else None,
                last_sync=SyncSummary(
                    agent.last_sync_at,
                    agent.last_sync_users or 0,
                    agent.last_sync_groups or 0,
                    agent.last_sync_removed or 0,
                    bool(agent.last_sync_complete),
                )
                if agent.last_sync_at is not None
                else None,
                missing=tuple(
                    f.value for f in Feature if agent.id in present and f not in present[agent.id]
                ),
            )
        )
    return out


def coverage(db: Session, tenant_id: str) -> Coverage:
    enabled = (DirectoryUser.tenant_id == tenant_id, DirectoryUser.enabled.is_(True))
    users = db.scalar(select(func.count()).select_from(DirectoryUser).where(*enabled)) or 0
    registered = (
        db.scalar(
            select(func.count(func.distinct(GateRegistration.user_id)))
            .join(DirectoryUser, DirectoryUser.id == GateRegistration.user_id)
            .where(*enabled, GateRegistration.tenant_id == tenant_id)
        )
        or 0
    )
    last_sync = db.scalar(select(func.max(DirectoryUser.synced_at)).where(*enabled))
    tenant = db.get(Tenant, tenant_id)
    conditions = entitlements.enabled_for(tenant, gate_policy(db, tenant_id)) if tenant else None
    enabled_for = (
        db.scalar(select(func.count()).select_from(DirectoryUser).where(*enabled, *conditions))
        if conditions is not None
        else 0
    )
    return Coverage(users, registered, last_sync, enabled_for or 0)
