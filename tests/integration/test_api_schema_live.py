"""The OpenAPI document holds with the real agent and the real Samba DC behind
the API (issue "Hardening": keep it checked). schemathesis sends valid and
invalid requests for every operation with an admin token; the user of the
``{user}`` routes is one of a few disposable test users (never the agent's
service account, which is not even synced), so generated passwords really
reach the directory. Every answer must match the document and none may be a
5xx other than the declared gateway answers of a writeback.

Bounded: ``EXAMPLES`` cases per operation and kind.
"""

from __future__ import annotations

import collections
import os
import random
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.support.deployment import Deployment
from tests.support.samba import SERVICE_ACCOUNT, SambaDC

pytestmark = pytest.mark.samba

EXAMPLES = int(os.environ.get("PASSBACK_TEST_SCHEMATHESIS_EXAMPLES", "15"))
#: What a writeback may answer from the gateway side (declared in the document).
GATEWAY = {502, 503, 504}


@pytest.fixture(scope="module")
def deployment(samba_dc: SambaDC, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    d = Deployment(tmp_path_factory.mktemp("schema-live"), samba_dc)
    try:
        d.start_server()
        yield d
    finally:
        d.stop()


def test_every_answer_matches_the_document_with_the_real_directory(
    deployment: Deployment, samba_dc: SambaDC
) -> None:
    tenant = deployment.connected_tenant("Schema", "agent-a")
    users = [samba_dc.create_user().name for _ in range(3)]
    deployment.sync(tenant, *users)
    assert SERVICE_ACCOUNT not in deployment.usernames(tenant)
    ca = str(deployment.tls / "ca.pem")
    schema = schemathesis.openapi.from_url(f"{deployment.url}/openapi.json", verify=ca)
    headers = {"Authorization": f"Bearer {tenant.admin_token}"}
    statuses: collections.Counter[int] = collections.Counter()
    for operation in (result.ok() for result in schema.get_all_operations()):
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            check = _check(operation, mode, users, headers, ca, statuses)
            try:
                check()
            except Unsatisfiable:
                assert mode is GenerationMode.NEGATIVE
    assert statuses[200] > 0, statuses  # some generated passwords were taken
    assert samba_dc.can_bind(samba_dc.service_dn, samba_dc.service_password)
    print(f"schemathesis (real DC): {statuses.total()} cases, {sorted(statuses.items())}")


def _check(
    operation: Any,
    mode: GenerationMode,
    users: list[str],
    headers: dict[str, str],
    ca: str,
    statuses: collections.Counter[int],
) -> Callable[[], None]:
    """One operation's property test in ``mode``; valid cases name a test user."""
    pick = random.Random(7)

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def check(case: schemathesis.Case) -> None:
        if "user" in (case.path_parameters or {}) and mode is GenerationMode.POSITIVE:
            case.path_parameters["user"] = pick.choice(users)
        response = case.call_and_validate(
            headers=headers,
            verify=ca,
            excluded_checks=[not_a_server_error, positive_data_acceptance],
        )
        statuses[response.status_code] += 1
        assert response.status_code < 500 or response.status_code in GATEWAY, case

    return check  # type: ignore[no-any-return]
