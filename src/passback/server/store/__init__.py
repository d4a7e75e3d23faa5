"""The server's store: typed models, engine factory and migrations."""

from passback.server.store.engine import create_engine, session_factory
from passback.server.store.migrate import upgrade

__all__ = ["create_engine", "session_factory", "upgrade"]
