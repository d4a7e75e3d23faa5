"""Every HTTP response carries the security headers (server/headers.py): JSON
and pages, errors included, over the real server on loopback."""

from __future__ import annotations

import base64
import hashlib
import re
import shutil
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import sync_playwright

from passback.server.headers import (
    HSTS_MAX_AGE,
    OTHER_POLICY,
    PAGE_POLICY,
    SCRIPT_PAGE_POLICY,
)
from tests.support.server import RunningServer, bearer

#: One route of each kind: method, path, JSON body, whether it takes the admin token.
ROUTES = [
    ("GET", "/healthz", None, False),
    ("GET", "/openapi.json", None, False),
    ("GET", "/api/v1/agents", None, True),  # 200
    ("GET", "/api/v1/users", None, False),  # 401
    ("POST", "/api/v1/users/jdoe/password-reset", {"new_password": ""}, True),  # 422
    ("POST", "/api/v1/sync", None, True),  # 503
    ("GET", "/api/v1/nothing", None, False),  # 404
    ("DELETE", "/healthz", None, False),  # 405
    ("GET", "/api/v1/portal/acme/status", None, False),  # 503 (no agent)
    ("POST", "/api/v1/portal/nobody/reset", {"username": "jdoe"}, False),  # 404
    ("GET", "/portal/acme/", None, False),  # a page, 503
    ("GET", "/portal/nobody/", None, False),  # a page, 404
    ("GET", "/portal/acme/code", None, False),  # a page, no flow
]


@pytest.mark.parametrize(("method", "path", "body", "admin"), ROUTES)
async def test_every_response_has_the_headers(
    server: RunningServer,
    client: httpx.AsyncClient,
    method: str,
    path: str,
    body: object,
    admin: bool,
) -> None:
    tenant = server.create_tenant("Acme")
    headers = bearer(tenant.admin_token) if admin else {}
    response = await client.request(method, path, json=body, headers=headers)
    h = response.headers
    assert h["x-content-type-options"] == "nosniff"
    assert h["cache-control"] == "no-store"
    assert "strict-transport-security" not in h  # plain HTTP: HSTS would be ignored
    assert "frame-ancestors 'none'" in h["content-security-policy"]
    if h["content-type"].startswith("text/html"):
        assert h["content-security-policy"] == PAGE_POLICY
        assert h["referrer-policy"] == "same-origin"  # see headers.py
        assert h["x-frame-options"] == "DENY"
        assert "<script" not in response.text and " style=" not in response.text
    else:
        assert h["content-security-policy"] == OTHER_POLICY
        assert h["referrer-policy"] == "no-referrer"


async def test_hsts_over_tls(client: httpx.AsyncClient) -> None:
    # uvicorn takes X-Forwarded-Proto from a proxy on 127.0.0.1: the request came over TLS.
    for path in ("/healthz", "/portal/nobody/", "/api/v1/nothing"):
        response = await client.get(path, headers={"X-Forwarded-Proto": "https"})
        assert response.headers["strict-transport-security"] == f"max-age={HSTS_MAX_AGE}"


async def test_static_assets_may_be_cached(client: httpx.AsyncClient) -> None:
    for path in ("/static/portal.css", "/docs/assets/swagger-ui.css"):
        response = await client.get(path)
        assert response.status_code == 200
        assert "cache-control" not in response.headers
        assert response.headers["x-content-type-options"] == "nosniff"


async def test_docs_allow_exactly_their_inline_script(client: httpx.AsyncClient) -> None:
    page = await client.get("/docs")
    policy = page.headers["content-security-policy"]
    assert "'unsafe-inline'" not in policy and "'unsafe-eval'" not in policy
    assert "frame-ancestors 'none'" in policy
    [script] = re.findall(r"<script>(.*?)</script>", page.text, re.DOTALL)
    [digest] = re.findall(r"'sha256-([^']+)'", policy)
    assert base64.b64decode(digest) == hashlib.sha256(script.encode()).digest()


CHROMIUM = Path("/usr/bin/chromium")


def test_docs_work_under_their_policy(server: RunningServer) -> None:
    """In a real browser, Swagger UI's script and inline start-up script run, it
    shows the API's operations, and the browser reports no violation of the
    page's policy."""
    if not CHROMIUM.exists() or shutil.which("chromium") is None:
        pytest.skip("Chromium is not installed (Debian package `chromium`)")
    console: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
        try:
            page = browser.new_page()
            page.on("console", lambda message: console.append(message.text))
            with page.expect_response(f"{server.base_url}/openapi.json"):  # the inline script ran
                page.goto(f"{server.base_url}/docs")
            page.locator("#swagger-ui .swagger-ui").wait_for()  # and Swagger UI rendered
            # ... the OpenAPI 3.1 document itself (Swagger UI 4 refused it: a blank page)
            page.get_by_text("Liveness check").first.wait_for(timeout=30_000)
            assert "does not specify a valid version" not in page.content()
        finally:
            browser.close()
    assert not [line for line in console if "Content Security Policy" in line], console


async def test_only_the_passkey_pages_may_run_a_script_and_only_from_this_site(
    client: httpx.AsyncClient,
) -> None:
    for path in ("/portal/nobody/passkey", "/portal/nobody/security/passkey"):
        policy = (await client.get(path)).headers["content-security-policy"]
        assert policy == SCRIPT_PAGE_POLICY and "script-src 'self';" in policy
        assert "unsafe" not in policy
    for path in ("/portal/nobody/", "/portal/nobody/code"):
        assert (await client.get(path)).headers["content-security-policy"] == PAGE_POLICY
