"""Database connections: ``connections`` (sync, per thread) and ``async_connections``."""

from __future__ import annotations

from dorm.conf import DEFAULT_DB_ALIAS
from dorm.db.hooks import register_execute_wrapper
from dorm.db.router import router
from dorm.db.utils import AsyncConnectionHandler, ConnectionHandler

connections = ConnectionHandler()
async_connections = AsyncConnectionHandler()


def close_all() -> None:
    """Close every sync connection (all threads)."""
    connections.close_all()


async def aclose_all() -> None:
    """Close the async connections of the running event loop."""
    await async_connections.aclose_all()


__all__ = [
    "DEFAULT_DB_ALIAS",
    "aclose_all",
    "async_connections",
    "close_all",
    "connections",
    "register_execute_wrapper",
    "router",
]
