"""The password rules that apply to one user, asked of the tenant's agent
(the directory is the only source of truth: a PSO may apply to this user only).
The portal shows them next to the password field (SPEC W1, W4)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from passback.protocol.messages import Rules, RulesRequest
from passback.protocol.outcomes import Outcome
from passback.server.errors import AgentLost, AgentUnavailable, ReplyTimeout
from passback.server.services import Services
from passback.server.store.models import DirectoryUser

logger = logging.getLogger(__name__)

#: Rules are shown while a person waits for a page: ask quickly or not at all.
RULES_TIMEOUT = 5.0


@dataclasses.dataclass(frozen=True)
class PasswordRules:
    source: str  # "domain" or "pso:<name>"
    min_length: int
    complexity: bool
    history_length: int
    min_age_seconds: int
    max_age_seconds: int  # 0 = never expires
    #: Whether the directory checks a reset against the history; None when the
    #: agent did not say (an older agent): then nothing may be promised.
    history_on_reset: bool | None = None
    max_length: int | None = None  # the longest password the directory takes
    policy_hints: bool | None = None  # resets carry AD's policy-hints control

    @classmethod
    def from_message(cls, rules: Rules) -> PasswordRules:
        return cls(
            rules.source,
            rules.min_length,
            rules.complexity,
            rules.history_length,
            rules.min_age,
            rules.max_age,
            history_on_reset=rules.history_on_reset,
            max_length=rules.max_length,
            policy_hints=rules.policy_hints,
        )

    @property
    def history_checked_on_reset(self) -> bool:
        """Whether "not one of your last N passwords" is true of a reset."""
        return self.history_length > 0 and self.history_on_reset is True


async def rules_for(services: Services, tenant_id: str, user_id: str) -> PasswordRules | None:
    """The rules for the user with server id ``user_id``; None when no agent
    could tell (none connected, the directory unreachable, the user gone).
    The reason is logged; writeback still enforces the rules either way."""
    anchor = await asyncio.to_thread(_anchor_of, services.sessions, tenant_id, user_id)
    if anchor is None:
        return None
    router = services.router
    for agent_id in await router.present(tenant_id):
        request = RulesRequest(str(uuid.uuid4()), anchor)
        try:
            rules = await router.request(
                tenant_id, agent_id, request.request_id, request, Rules, RULES_TIMEOUT
            )
        except AgentUnavailable:
            continue
        except (AgentLost, ReplyTimeout) as exc:
            logger.warning("rules for user %s: %s", user_id, exc)
            return None
        if rules.outcome is not Outcome.OK:
            logger.warning("rules for user %s: the agent answered %s", user_id, rules.outcome)
            return None
        return PasswordRules.from_message(rules)
    return None


def _anchor_of(sessions: sessionmaker[Session], tenant_id: str, user_id: str) -> str | None:
    with sessions() as db:
        return db.scalar(
            select(DirectoryUser.anchor).where(
                DirectoryUser.tenant_id == tenant_id, DirectoryUser.id == user_id
            )
        )


def rules_from_json(text: str | None) -> PasswordRules | None:
    """Rules kept as JSON (on a flow or a session); None if there are none, or
    they were kept by a version whose rules had other fields (then the agent
    is asked again)."""
    if not text:
        return None
    try:
        return PasswordRules(**json.loads(text))
    except (TypeError, ValueError):
        return None
