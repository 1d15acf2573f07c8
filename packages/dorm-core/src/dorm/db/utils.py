"""Connection handlers: per-thread sync wrappers and per-event-loop async wrappers."""

from __future__ import annotations

import asyncio
import threading
import weakref
from typing import Any

from dorm.conf import settings
from dorm.db.registry import load_backend
from dorm.exceptions import ImproperlyConfigured


def _database_settings(alias: str) -> dict[str, Any]:
    databases = settings.DATABASES
    try:
        return databases[alias]  # type: ignore[no-any-return]
    except KeyError:
        raise ImproperlyConfigured(
            f"The database alias {alias!r} is not configured. "
            f"Configured aliases: {', '.join(sorted(databases))}."
        ) from None


class ConnectionHandler:
    """``connections[alias]``: one sync wrapper per thread and alias, opened lazily."""

    def __init__(self) -> None:
        self._local = threading.local()
        self._all: weakref.WeakSet[Any] = weakref.WeakSet()
        self._lock = threading.Lock()
        self._generation = 0
        settings.on_change(self._reset)

    def __getitem__(self, alias: str) -> Any:
        conns = getattr(self._local, "conns", None)
        if conns is None or self._local.generation != self._generation:
            conns = self._local.conns = {}
            self._local.generation = self._generation
        try:
            return conns[alias]
        except KeyError:
            pass
        conf = _database_settings(alias)
        wrapper = load_backend(conf["ENGINE"])(conf, alias)
        conns[alias] = wrapper
        with self._lock:
            self._all.add(wrapper)
        return wrapper

    def __contains__(self, alias: str) -> bool:
        return alias in settings.DATABASES

    def __iter__(self) -> Any:
        return iter(settings.DATABASES)

    def all(self) -> list[Any]:
        """This thread's wrappers for every configured alias."""
        return [self[alias] for alias in settings.DATABASES]

    def close_all(self) -> None:
        """Close every connection this handler opened, in every thread."""
        with self._lock:
            wrappers = list(self._all)
        for wrapper in wrappers:
            wrapper.close()

    def _reset(self) -> None:
        self.close_all()
        with self._lock:
            self._generation += 1
            self._all = weakref.WeakSet()


class AsyncConnectionHandler:
    """``async_connections[alias]``: one async wrapper per alias and event loop.

    A wrapper serves every task of its loop; it hands each statement (or each
    ``aatomic`` block) its own driver connection, so tasks never interleave on one.
    """

    def __init__(self) -> None:
        self._by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, Any]] = (
            weakref.WeakKeyDictionary()
        )
        self._stale: list[Any] = []
        settings.on_change(self._reset)

    def __getitem__(self, alias: str) -> Any:
        loop = asyncio.get_running_loop()
        conns = self._by_loop.get(loop)
        if conns is None:
            conns = self._by_loop[loop] = {}
        try:
            return conns[alias]
        except KeyError:
            pass
        conf = _database_settings(alias)
        wrapper = load_backend(conf["ENGINE"], is_async=True)(conf, alias)
        conns[alias] = wrapper
        return wrapper

    def __contains__(self, alias: str) -> bool:
        return alias in settings.DATABASES

    async def aclose_all(self) -> None:
        """Close the pools of this event loop's wrappers (and any left by a reconfigure)."""
        loop = asyncio.get_running_loop()
        wrappers = list((self._by_loop.pop(loop, None) or {}).values())
        stale, self._stale = self._stale, []
        for wrapper in wrappers + stale:
            await wrapper.close()

    def _reset(self) -> None:
        # Async pools can only be closed from their loop: keep them for aclose_all().
        for conns in list(self._by_loop.values()):
            self._stale.extend(conns.values())
        self._by_loop = weakref.WeakKeyDictionary()
