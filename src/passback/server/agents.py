"""The tenant's agents: onboarding (SPEC L1), relay authentication (S1), and
what the relay learns about them (presence, heartbeats).

Plain functions over a ``Session``; they flush, the caller commits.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from passback.crypto.errors import KeyFormatError
from passback.crypto.keys import PackageKey, public_key_from_pem
from passback.crypto.masterkey import MasterKey
from passback.crypto.tokens import RELAY_PREFIX, new_token, token_hash, token_matches
from passback.protocol.messages import Hello
from passback.server import audit
from passback.server.errors import NotFound, Unauthorized, Unprocessable
from passback.server.keyring import open_package_key
from passback.server.store.models import Agent, StoredPackageKey, Token, utcnow
from passback.server.tenants import ONBOARDING

ONBOARDING_REFUSED = (
    "The onboarding token is not valid: it is unknown, already used or revoked. "
    "Ask an administrator of the tenant for a new one."
)


@dataclasses.dataclass(frozen=True)
class OnboardedAgent:
    agent_id: str
    tenant_id: str
    relay_secret: str = dataclasses.field(repr=False)
    package_key: PackageKey


def onboard_agent(
    session: Session,
    onboarding_token: str,
    *,
    name: str,
    public_key_pem: str,
    software: str,
    master_key: MasterKey,
) -> OnboardedAgent:
    """Register a new agent with the one-time ``onboarding_token`` (L1).

    The token is spent only when the agent is created: a refused key leaves it
    usable for a corrected request.

    Raises:
        Unauthorized: the token is unknown, used or revoked.
        Unprocessable: ``public_key_pem`` is not an RSA-2048 public key (S2).
    """
    digest = token_hash(onboarding_token)
    token = session.scalar(
        select(Token).where(
            Token.token_hash == digest,
            Token.kind == ONBOARDING,
            Token.used_at.is_(None),
            Token.revoked_at.is_(None),
        )
    )
    if token is None:
        raise Unauthorized(ONBOARDING_REFUSED)
    try:
        public_key_from_pem(public_key_pem)
    except KeyFormatError:
        raise Unprocessable(
            "The public key must be an RSA-2048 public key in PEM format.",
            code="invalid_public_key",
        ) from None
    now = utcnow()
    # Spend the token atomically: of two concurrent requests, one wins.
    spent = session.execute(
        update(Token).where(Token.id == token.id, Token.used_at.is_(None)).values(used_at=now)
    )
    if getattr(spent, "rowcount", 0) != 1:
        raise Unauthorized(ONBOARDING_REFUSED)
    relay_secret = new_token(RELAY_PREFIX)
    agent = Agent(
        id=str(uuid.uuid4()),
        tenant_id=token.tenant_id,
        name=name,
        public_key_pem=public_key_pem,
        relay_secret_hash=token_hash(relay_secret),
        software=software,
        created_at=now,
    )
    session.add(agent)
    session.flush()
    audit.record(
        session,
        tenant_id=agent.tenant_id,
        user_id=None,
        activity=audit.Activity.ONBOARD_AGENT,
        success=True,
        at=now,
        actor=audit.Actor.SYSTEM,
        agent=agent.id,
        name=name[:64],
    )
    return OnboardedAgent(
        agent.id,
        agent.tenant_id,
        relay_secret,
        newest_package_key(session, agent.tenant_id, master_key),
    )


def newest_package_key(session: Session, tenant_id: str, master_key: MasterKey) -> PackageKey:
    """The key new envelopes of the tenant are sealed under (S3, S6).

    Raises:
        LookupError: the tenant has no package key in service.
        KeyringError: it does not open under ``master_key``.
    """
    row = session.scalar(_NEWEST_KEY, {"tenant_id": tenant_id})
    if row is None:
        raise LookupError(f"tenant {tenant_id} has no package key in service")
    # Opened once per stored value: a rotated, retired or re-wrapped key is
    # another row or another value, so the query above is all that must run.
    cache_key = (master_key, row.tenant_id, row.key_id, row.key_wrapped)
    key = _OPENED_KEYS.get(cache_key)
    if key is None:
        if len(_OPENED_KEYS) >= _OPENED_KEY_CACHE:
            _OPENED_KEYS.clear()
        key = _OPENED_KEYS[cache_key] = open_package_key(master_key, row)
    return key


#: Built once: every writeback runs it (building it took longer than running it).
_NEWEST_KEY = (
    select(StoredPackageKey)
    .where(
        StoredPackageKey.tenant_id == bindparam("tenant_id"),
        StoredPackageKey.retired_at.is_(None),
    )
    .order_by(StoredPackageKey.created_at.desc(), StoredPackageKey.key_id)
    .limit(1)
)

#: Package keys opened under the master key, by what the store holds; bounded.
_OPENED_KEY_CACHE = 1024
_OPENED_KEYS: dict[tuple[MasterKey, str, str, str], PackageKey] = {}


def authenticate_agent(session: Session, hello: Hello, secret: str) -> Agent | None:
    """The agent that ``hello`` names, if ``secret`` is its relay secret, it
    belongs to the tenant it claims and it is not revoked (S1); else ``None``."""
    agent = session.get(Agent, hello.agent_id)
    if agent is None or agent.tenant_id != hello.tenant_id or agent.revoked_at is not None:
        return None
    if not token_matches(secret, agent.relay_secret_hash):
        return None
    return agent


def record_connected(session: Session, agent_id: str, software: str, now: dt.datetime) -> None:
    session.execute(
        update(Agent).where(Agent.id == agent_id).values(last_seen_at=now, software=software[:64])
    )


def record_sync(
    session: Session,
    agent_id: str,
    now: dt.datetime,
    *,
    users: int,
    groups: int,
    removed: int,
    complete: bool,
) -> None:
    """The end of an agent's full sync, for the dashboard."""
    session.execute(
        update(Agent)
        .where(Agent.id == agent_id)
        .values(
            last_sync_at=now,
            last_sync_users=users,
            last_sync_groups=groups,
            last_sync_removed=removed,
            last_sync_complete=complete,
        )
    )


def record_heartbeat(
    session: Session, agent_id: str, history_on_reset: bool, now: dt.datetime
) -> bool:
    """Record a heartbeat; False if the agent was revoked meanwhile (its link
    must end: a revocation from another node or the CLI reaches it so)."""
    alive = session.execute(
        update(Agent)
        .where(Agent.id == agent_id, Agent.revoked_at.is_(None))
        .values(last_seen_at=now, history_on_reset=history_on_reset)
        .returning(Agent.id)
        .execution_options(synchronize_session=False)
    ).scalar_one_or_none()
    return alive is not None


def revoke_agent(session: Session, tenant_id: str, agent_id: str, now: dt.datetime) -> Agent:
    """Revoke the agent for good: its relay secret is refused from now on (S1).
    Revoking it again changes nothing.

    Raises:
        NotFound: the tenant has no such agent.
    """
    agent = session.get(Agent, agent_id[:64])
    if agent is None or agent.tenant_id != tenant_id:
        raise NotFound("The tenant has no agent with this id.", code="agent_not_found")
    if agent.revoked_at is None:
        agent.revoked_at = now
    session.flush()
    return agent


def list_agents(session: Session, tenant_id: str) -> list[Agent]:
    return list(
        session.scalars(
            select(Agent).where(Agent.tenant_id == tenant_id).order_by(Agent.created_at, Agent.id)
        )
    )
