"""The ASGI application: JSON API, relay endpoint and health check in one app."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI

from passback import __version__
from passback.server.api import agents, problems, rules, users
from passback.server.api.deps import Services
from passback.server.api.schemas import Health
from passback.server.hub import Hub, LocalHub
from passback.server.relay import RELAY_PATH, RelayEndpoint
from passback.server.settings import ServerSettings
from passback.server.store import create_engine, session_factory, upgrade


def create_app(settings: ServerSettings, hub: Hub | None = None) -> FastAPI:
    """The server app. Migrates the store to the latest schema first (blocking).

    Args:
        hub: where operations are routed; the in-process ``LocalHub`` if None.
    """
    upgrade(settings.database_url)
    engine = create_engine(settings.database_url)
    services = Services(settings=settings, sessions=session_factory(engine), hub=hub or LocalHub())

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            engine.dispose()

    app = FastAPI(
        title="Passback",
        version=__version__,
        summary="Self-service password reset with writeback to on-premises directories.",
        lifespan=lifespan,
    )
    app.state.services = services
    problems.install(app)
    app.include_router(agents.router)
    app.include_router(users.router)
    app.include_router(rules.router)
    app.add_api_websocket_route(
        RELAY_PATH,
        RelayEndpoint(sessions=services.sessions, hub=services.hub, settings=settings),
        name="relay",
    )

    @app.get("/healthz", response_model=Health, summary="Liveness check", tags=["health"])
    def healthz() -> Health:
        return Health()

    return app
