"""The security headers of every HTTP response, set in one place.

=============================  ====================================================
``X-Content-Type-Options``     ``nosniff``, always.
``Strict-Transport-Security``  when the request came over TLS (directly, or from a
                               trusted proxy's ``X-Forwarded-Proto``).
``Referrer-Policy``            ``no-referrer``; HTML pages ``same-origin`` (below).
``Content-Security-Policy``    always, ``frame-ancestors 'none'`` included: HTML gets
                               the pages' policy (no script at all; the passkey
                               pages: one script file of this site) or the one its
                               path was given (``/docs``: its one inline script, by
                               hash); anything else ``default-src 'none'``.
``X-Frame-Options``            ``DENY`` on HTML, for browsers without CSP level 2.
``Cache-Control``              ``no-store``, but for the static assets: API answers
                               carry secrets (relay secret, flow token) and pages
                               carry a flow.
=============================  ====================================================

The portal's pages say ``same-origin`` rather than ``no-referrer``: under
``no-referrer`` a browser sends ``Origin: null`` with the pages' own form
posts, which the portal's cross-site check must refuse for browsers that do
not send ``Sec-Fetch-Site``. ``same-origin`` still sends nothing to other sites.

The middleware wraps the whole app, outside Starlette's error middleware, so
that a 500 carries the headers too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: A year, the usual HSTS lifetime; not ``includeSubDomains``: the server does
#: not own its parent domain's other names.
HSTS_MAX_AGE = 365 * 24 * 3600

#: The portal's pages: no script, styles and images from this site, forms to
#: this site only, never in a frame.
PAGE_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
#: The passkey pages (``…/passkey``) run one script, from this site: WebAuthn
#: has no other way in. No inline script, nothing fetched.
SCRIPT_PAGE_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
#: Paths (under the portal or the console) of the pages that need it.
SCRIPT_AREAS = ("/portal/", "/console/")
SCRIPT_PAGES = ("/passkey",)
#: Anything that is not a page (JSON, an image): nothing may run or embed it.
OTHER_POLICY = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"


class SecurityHeaders:
    """ASGI middleware setting the headers above on every HTTP response.

    Args:
        page_policies: a CSP per path for HTML that needs more than the
            portal's pages (``/docs``).
        cacheable: path prefixes of static assets, which may be cached.
    """

    def __init__(
        self, app: ASGIApp, *, page_policies: Mapping[str, str], cacheable: Iterable[str]
    ) -> None:
        self.app = app
        self.page_policies = dict(page_policies)
        self.cacheable = tuple(cacheable)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        tls = scope.get("scheme") == "https"

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                self._set(MutableHeaders(scope=message), path, tls)
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _set(self, headers: MutableHeaders, path: str, tls: bool) -> None:
        html = headers.get("content-type", "").startswith("text/html")
        headers["X-Content-Type-Options"] = "nosniff"
        if tls:
            headers["Strict-Transport-Security"] = f"max-age={HSTS_MAX_AGE}"
        if html:
            headers["Content-Security-Policy"] = self.page_policies.get(path) or (
                SCRIPT_PAGE_POLICY
                if path.startswith(SCRIPT_AREAS) and path.endswith(SCRIPT_PAGES)
                else PAGE_POLICY
            )
            headers["Referrer-Policy"] = "same-origin"
            headers["X-Frame-Options"] = "DENY"
        else:
            headers["Content-Security-Policy"] = OTHER_POLICY
            headers["Referrer-Policy"] = "no-referrer"
        if not path.startswith(self.cacheable):
            headers["Cache-Control"] = "no-store"
