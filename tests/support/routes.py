"""The server's HTTP routes as ``METHOD /path`` lines (``MOUNT``/``WEBSOCKET``
for the others), read from a real app, for the tests that pin or walk them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from fastapi import routing
from starlette.routing import Mount, WebSocketRoute

from passback.server.app import create_app
from passback.server.settings import ServerSettings
from tests.support.keys import TEST_MASTER_KEY


def routes(tmp_path: Path) -> Iterator[str]:
    app = create_app(ServerSettings(f"sqlite:///{tmp_path / 'passback.db'}"), TEST_MASTER_KEY)
    # Newer FastAPI keeps an included router whole in app.routes: flatten it.
    flatten = getattr(routing, "iter_route_contexts", iter)
    for route in flatten(app.routes):
        original = getattr(route, "original_route", route)
        if isinstance(original, Mount):
            yield f"MOUNT {route.path}"
        elif isinstance(original, WebSocketRoute):
            yield f"WEBSOCKET {route.path}"
        else:
            yield from (f"{method} {route.path}" for method in route.methods)
