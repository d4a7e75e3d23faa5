"""Errors map to HTTP at the edge only (issue "Sign-in, change…", part 1): the
use-cases raise refusals without a status, and ``server/api/problems.py`` alone
gives each its status, for the API and the pages."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import passback
from passback.protocol.outcomes import Outcome
from passback.server import errors
from passback.server.api.problems import PORTAL_STATUS, status_of
from passback.server.portal.errors import FlowRefused, PortalError, Refusal, refusal_error

SRC = Path(passback.__file__).parent
#: Use-case modules: what they do is not HTTP.
USE_CASES = [
    "server/writeback.py",
    "server/agents.py",
    "server/rules.py",
    "server/tenants.py",
    "server/portal/service.py",
    "server/portal/flow.py",
    "server/portal/errors.py",
]


@pytest.mark.parametrize("module", USE_CASES)
def test_use_cases_know_nothing_of_http(module: str) -> None:
    tree = ast.parse((SRC / module).read_text())
    imported = {
        node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
    } | {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    assert not {m for m in imported if m.split(".")[0] in {"fastapi", "starlette"}}
    names = {a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names}
    assert "ApiError" not in names


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (errors.Unauthorized("no token"), 401),
        (errors.NotFound("no user"), 404),
        (errors.RequestConflict("used"), 409),
        (errors.RequestBusy("busy"), 409),
        (errors.Unprocessable("bad"), 422),
        (errors.ServiceUnavailable("no agent"), 503),
        (errors.ApiError("as it is", status=502), 502),
        (errors.Refused("unmapped"), 500),
    ],
)
def test_refusals(error: errors.Refused, status: int) -> None:
    assert status_of(error) == status


def test_every_flow_refusal_has_a_status() -> None:
    for refusal in Refusal:
        assert refusal.value in PORTAL_STATUS
        assert status_of(refusal_error(FlowRefused(refusal))) == PORTAL_STATUS[refusal.value]


def test_portal_outcomes_take_the_outcomes_status() -> None:
    error = PortalError.of_outcome(
        Outcome.TOO_SHORT, {"min_length": 12}, request_id="r", support_code="s", user_id="u"
    )
    assert status_of(error) == 422
    unknown = PortalError.of_outcome(
        Outcome.OUTCOME_UNKNOWN, {}, request_id="r", support_code="s", user_id="u"
    )
    assert status_of(unknown) == 504


def test_every_portal_error_code_has_a_status() -> None:
    """A code raised by the portal but missing from PORTAL_STATUS would answer 500."""
    source = Path(__file__).resolve().parents[4] / "src" / "passback" / "server"
    raised = {
        code
        for path in source.rglob("*.py")
        for code in re.findall(r'PortalError\(\s*"([a-z_]+)"', path.read_text())
    }
    assert len(raised) > 15
    outcomes = {o.value for o in Outcome}
    assert sorted(raised - PORTAL_STATUS.keys() - outcomes) == []
