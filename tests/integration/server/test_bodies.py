"""The request body limit, on every route (bodies.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from passback.server.bodies import MAX_BODY
from tests.support.server import RunningServer, assert_error, bearer


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
async def test_a_body_past_the_limit_is_refused_before_it_is_read(
    server: RunningServer, client: httpx.AsyncClient, declared: bool
) -> None:
    tenant = server.create_tenant("Acme")
    body = b'{"new_password": "' + b"x" * MAX_BODY + b'"}'

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 8192):
            yield body[start : start + 8192]

    response = await client.post(
        "/api/v1/users/jdoe/password-reset",
        headers=bearer(tenant.admin_token) | {"Content-Type": "application/json"},
        content=body if declared else chunks(),
    )
    assert_error(response, 413, "body_too_large", recorded=False)
    # A portal form too, before its parser reads it (a multipart file part
    # would be spooled to disk).
    huge = "x" * MAX_BODY
    for form in ({"files": {"username": ("big", huge.encode())}}, {"data": {"username": huge}}):
        response = await client.post("/portal/acme/start", **form)  # type: ignore[arg-type]
        assert_error(response, 413, "body_too_large", recorded=False)
    # Just under the limit is read and judged on its content.
    small = {"new_password": "x" * 2000}
    response = await client.post(
        "/api/v1/users/jdoe/password-reset", headers=bearer(tenant.admin_token), json=small
    )
    assert_error(response, 422, "validation_failed")
