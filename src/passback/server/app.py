"""The ASGI application: portal pages, JSON API, relay endpoint and health
check in one app."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp

from passback import __version__
from passback.crypto.masterkey import MasterKey
from passback.server.api import (
    admins,
    agents,
    docs,
    policy,
    problems,
    reports,
    rules,
    support,
    users,
)
from passback.server.api.schemas import Health
from passback.server.bodies import MAX_BODY, DeclaredBodyLimit
from passback.server.console import admins as console_admins
from passback.server.console import pages as console_pages
from passback.server.console import (
    passkey_pages,
    people_pages,
    policy_pages,
    recovery_pages,
    report_pages,
    tenant_pages,
)
from passback.server.console import recovery as recovery_mails
from passback.server.console import service as console_service
from passback.server.console import sessions as console_sessions
from passback.server.console.recovery import Recovery
from passback.server.console.service import Console
from passback.server.console.web import CONSOLE_TEMPLATES
from passback.server.deferred import AfterAnswer
from passback.server.headers import SecurityHeaders
from passback.server.hosts import TrustedHosts
from passback.server.i18n import load_catalogs
from passback.server.keyring import seal_store
from passback.server.notify import SmtpSender, phone_config
from passback.server.portal import account_pages, flash, security_pages
from passback.server.portal import api as portal_api
from passback.server.portal import pages as portal_pages
from passback.server.portal.account import MAX_ACCOUNT_FAILURES, MAX_DEVICE_FAILURES, Accounts
from passback.server.portal.codes import Hasher, load_key
from passback.server.portal.contacts import Contacts
from passback.server.portal.gates import questions
from passback.server.portal.security_info import SecurityInfo
from passback.server.portal.service import Portal
from passback.server.portal.templating import STATIC, TEMPLATES, Renderer
from passback.server.ratelimit import SlidingWindowLimiter
from passback.server.relay.endpoint import RELAY_PATH, RelayEndpoint
from passback.server.relay.inbox import Inbox
from passback.server.relay.local import LocalHub
from passback.server.retention import Retention, prune_forever
from passback.server.services import Services
from passback.server.settings import ServerSettings
from passback.server.store import create_engine, session_factory, upgrade
from passback.server.types import Hub, MailSender, PhoneSender


def create_app(
    settings: ServerSettings,
    master_key: MasterKey,
    hub: Hub | None = None,
    mailer: MailSender | None = None,
    phone: PhoneSender | None = None,
) -> FastAPI:
    """The server app. Migrates the store to the latest schema first, and wraps
    under ``master_key`` any secret it still keeps in clear (blocking).

    Args:
        master_key: the key the store's secrets are wrapped under (keyring.py).
        hub: routes messages to the agents and holds their links; the
            in-process ``LocalHub`` if None.
        mailer: sends the portal's codes; SMTP per ``settings`` if None (and
            none at all without ``settings.smtp_host``).
        phone: sends phone gates' codes; the provider ``settings.phone_provider``
            names if None (and none at all without it).

    Raises:
        ProviderConfigError: the phone provider's file is not valid.
    """
    upgrade(settings.database_url)
    engine = create_engine(settings.database_url)
    sessions = session_factory(engine)
    with sessions() as db:
        seal_store(db, master_key)
    # What an unknown account is checked against, made before the first request (T2).
    console_admins.unknown_hash()
    questions.no_answer_hash()
    hub = hub or LocalHub()
    services = Services(settings=settings, sessions=sessions, router=hub, master_key=master_key)
    catalogs = load_catalogs()
    portal = Portal(
        services,
        mailer=mailer or smtp_sender(settings),
        limiter=SlidingWindowLimiter(settings.lookup_limit, settings.lookup_window),
        hasher=Hasher(load_key(services.sessions, master_key)),
        catalogs=catalogs,
        phone=phone
        or (phone_config.load(settings.phone_provider) if settings.phone_provider else None),
    )

    accounts = Accounts(
        portal,
        hasher=portal.hasher,
        address_limiter=SlidingWindowLimiter(settings.sign_in_limit, settings.sign_in_window),
        account_failures=SlidingWindowLimiter(
            MAX_ACCOUNT_FAILURES, settings.sign_in_failure_window
        ),
        device_failures=SlidingWindowLimiter(MAX_DEVICE_FAILURES, settings.sign_in_failure_window),
    )

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        pruning = asyncio.ensure_future(
            prune_forever(
                services.sessions,
                Retention(settings.support_retention_days, settings.audit_retention_days),
            )
        )
        try:
            yield
        finally:
            pruning.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pruning
            await services.deferred.drain()  # outcomes recorded after their answer
            engine.dispose()

    console = Console(
        services,
        hasher=portal.hasher,
        address_limiter=SlidingWindowLimiter(settings.sign_in_limit, settings.sign_in_window),
        account_failures=SlidingWindowLimiter(
            console_service.MAX_ACCOUNT_FAILURES, settings.sign_in_failure_window
        ),
        device_failures=SlidingWindowLimiter(
            console_service.MAX_DEVICE_FAILURES, settings.sign_in_failure_window
        ),
        code_failures=SlidingWindowLimiter(
            console_service.MAX_CODE_FAILURES, settings.sign_in_failure_window
        ),
    )

    recovery = Recovery(
        console,
        mailer=portal.mailer,
        mails=SlidingWindowLimiter(
            recovery_mails.MAX_RESET_MAILS, recovery_mails.RESET_MAIL_WINDOW
        ),
        tries=SlidingWindowLimiter(
            recovery_mails.WRONG_TRIES, console_sessions.RESET_WINDOW.total_seconds()
        ),
        catalogs=catalogs,
    )

    app = _App(
        title="Passback",
        version=__version__,
        summary="Self-service password reset with writeback to on-premises directories.",
        lifespan=lifespan,
        docs_url=None,  # served from the installed package by api.docs
        # Any route: a body that is not UTF-8, or a Host that is not the public URL's.
        responses=problems.error_responses(400, 413),
        redoc_url=None,
        max_body_size=MAX_BODY,
    )
    app.state.services = services
    app.state.portal = portal
    app.state.accounts = accounts
    app.state.security_info = SecurityInfo(accounts)
    app.state.contacts = Contacts(app.state.security_info)
    app.state.renderer = Renderer(catalogs)
    app.state.console = console
    app.state.recovery = recovery
    # The portal's templates after the console's: the passkey form is shared.
    app.state.console_renderer = Renderer(catalogs, (CONSOLE_TEMPLATES, TEMPLATES))
    problems.install(app)
    app.public_url = settings.public_url
    app.page_policies = {docs.DOCS_PATH: docs.install(app)}
    app.include_router(agents.router)
    app.include_router(users.router)
    app.include_router(rules.router)
    app.include_router(policy.router)
    app.include_router(admins.router)
    app.include_router(reports.router)
    app.include_router(support.router)
    app.include_router(portal_api.router)
    app.include_router(portal_pages.router)
    app.include_router(account_pages.router)
    app.include_router(security_pages.router)
    app.include_router(console_pages.router)
    app.include_router(passkey_pages.router)
    app.include_router(people_pages.router)
    app.include_router(tenant_pages.router)
    app.include_router(report_pages.router)
    app.include_router(policy_pages.router)
    app.include_router(recovery_pages.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_api_websocket_route(
        RELAY_PATH,
        RelayEndpoint(links=hub, inbox=Inbox(services.sessions), settings=settings),
        name="relay",
    )

    @app.get("/healthz", response_model=Health, summary="Liveness check", tags=["health"])
    def healthz() -> Health:
        return Health()

    return app


class _App(FastAPI):
    """The app wrapped in the body limit, the Host check and the security
    headers, outside Starlette's error middleware, so that a 500 gets them
    too; deferred work starts once the answer is out (``deferred.AfterAnswer``)."""

    public_url: str | None = None
    page_policies: dict[str, str]  # CSP by path, for HTML other than the portal's

    def build_middleware_stack(self) -> ASGIApp:
        return AfterAnswer(
            SecurityHeaders(
                DeclaredBodyLimit(
                    TrustedHosts(
                        flash.ReplacedByEveryPost(super().build_middleware_stack()),
                        public_url=self.public_url,
                    )
                ),
                page_policies=self.page_policies,
                cacheable=("/static/", f"{docs.ASSETS_PATH}/"),
            )
        )


def smtp_sender(settings: ServerSettings) -> SmtpSender | None:
    if settings.smtp_host is None:
        return None
    return SmtpSender(
        settings.smtp_host,
        settings.smtp_port,
        settings.smtp_from,
        security=settings.smtp_security,
        username=settings.smtp_username,
        password=settings.smtp_password,
        timeout=settings.smtp_timeout,
    )
