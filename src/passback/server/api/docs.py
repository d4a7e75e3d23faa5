"""The API's browsable reference at ``/docs``: Swagger UI 5 (which reads the
OpenAPI 3.1 document FastAPI writes) served from the files the installed
``fastapi-offline`` package ships, so the page works on a server without Internet
access and loads no script from another origin.

The page starts Swagger UI with one inline script; its policy (``POLICY``)
allows that script by its SHA-256 and nothing else inline.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.resources
import re

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

DOCS_PATH = "/docs"
ASSETS_PATH = "/docs/assets"

#: Swagger UI's script, style sheet and icon, as the package ships them.
ASSETS = importlib.resources.files("fastapi_offline") / "static"

_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def install(app: FastAPI) -> str:
    """Serve ``/docs`` and its assets (create ``app`` with ``docs_url=None``).

    Returns:
        The page's Content-Security-Policy.
    """
    app.mount(ASSETS_PATH, StaticFiles(directory=str(ASSETS)), name="docs-assets")
    page = get_swagger_ui_html(
        openapi_url=app.openapi_url or "/openapi.json",
        title=f"{app.title} API",
        swagger_js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
        swagger_css_url=f"{ASSETS_PATH}/swagger-ui.css",
        swagger_favicon_url=f"{ASSETS_PATH}/favicon.png",
        oauth2_redirect_url=None,  # the API takes bearer tokens, not OAuth
    )
    html = bytes(page.body).decode()

    @app.get(DOCS_PATH, include_in_schema=False)
    def docs() -> HTMLResponse:
        return HTMLResponse(html)

    return policy(html)


def policy(html: str) -> str:
    """The CSP for ``html``: scripts, styles and the document from this site,
    the inline scripts by hash; Swagger UI's icons are ``data:`` images."""
    hashes = " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(s.encode()).digest()).decode()}'"
        for s in _INLINE_SCRIPT.findall(html)
    )
    return (
        f"default-src 'none'; script-src 'self' {hashes}; style-src 'self'; "
        "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; "
        "base-uri 'none'; form-action 'none'"
    )
