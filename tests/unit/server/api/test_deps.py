"""The routes' dependencies: those that do no I/O are coroutines, since FastAPI
runs a plain function dependency in a worker thread (a thread hop per request
for nothing); the admin token check reads the store and stays a function,
and the role check after it is a coroutine."""

from __future__ import annotations

import inspect
from typing import Any, get_args

import pytest

from passback.server.api.deps import (
    ActCaller,
    AgentsCaller,
    OnboardingToken,
    PeopleCaller,
    PolicyCaller,
    ServicesDep,
    api_caller,
)


def dependency(annotated: Any) -> Any:
    return get_args(annotated)[1].dependency


@pytest.mark.parametrize(
    "annotated",
    [ServicesDep, OnboardingToken, PeopleCaller, ActCaller, AgentsCaller, PolicyCaller],
)
def test_a_dependency_without_io_runs_on_the_event_loop(annotated: Any) -> None:
    assert inspect.iscoroutinefunction(dependency(annotated))


def test_the_admin_token_check_reads_the_store_in_a_worker_thread() -> None:
    assert not inspect.iscoroutinefunction(api_caller)
