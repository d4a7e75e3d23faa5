"""The password rules that apply to one user, as the directory states them:
the fine-grained policy (PSO) that applies to them, or the domain's, with what
the directory does with a reset (whether it checks the history, the longest
password it takes). The portal shows them next to the password field (SPEC W1, W4)."""

from __future__ import annotations

from passback.agent.directory.base import Directory, DirectoryError
from passback.protocol import anchors
from passback.protocol.messages import Rules, RulesRequest
from passback.protocol.outcomes import Outcome


def read_rules(directory: Directory, request: RulesRequest) -> Rules:
    """Never raises: a rules lookup that fails says why in ``outcome``."""
    try:
        anchor = anchors.decode(request.anchor)
    except ValueError:
        return Rules(request.request_id, Outcome.INVALID_REQUEST)
    try:
        policy = directory.password_policy(directory.locate(anchor))
        capabilities = directory.capabilities()
    except DirectoryError as exc:
        return Rules(request.request_id, exc.outcome)
    return Rules(
        request.request_id,
        Outcome.OK,
        source=policy.source,
        min_length=policy.min_length,
        complexity=policy.complexity,
        history_length=policy.history_length,
        min_age=policy.min_age_seconds,
        max_age=policy.max_age_seconds,
        history_on_reset=capabilities.history_on_reset,
        max_length=capabilities.max_password_length,
        policy_hints=capabilities.policy_hints,
    )
