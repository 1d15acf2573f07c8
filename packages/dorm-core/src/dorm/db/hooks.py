"""Execution hooks: wrap every statement an alias runs, sync and async.

A wrapper has Django's ``execute_wrapper`` signature::

    def wrapper(execute, sql, params, many, context):
        return execute(sql, params, many, context)

    async def awrapper(execute, sql, params, many, context):
        return await execute(sql, params, many, context)

Install one for a block with ``connection.execute_wrapper(fn)`` (or ``async with``/``with``
on an async connection), or process-wide for plugins with :func:`register_execute_wrapper`.
Connection failures happen inside ``execute`` too, so a wrapper sees them.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

__all__ = [
    "AsyncExecuteWrapper",
    "ExecuteContext",
    "ExecuteWrapper",
    "Registration",
    "register_execute_wrapper",
]


@dataclass(frozen=True, slots=True)
class ExecuteContext:
    """What a wrapper is told about the statement besides its SQL."""

    alias: str
    connection: Any
    is_async: bool


ExecuteWrapper = Callable[..., Any]
AsyncExecuteWrapper = Callable[..., Awaitable[Any]]

_lock = threading.Lock()
# Tuples, replaced on change, so readers never need the lock and an empty tuple costs nothing.
_sync: tuple[tuple[ExecuteWrapper, str | None], ...] = ()
_async: tuple[tuple[AsyncExecuteWrapper, str | None], ...] = ()


class Registration:
    """Handle of a process-wide wrapper; ``remove()`` it, or use it as a context manager."""

    def __init__(
        self, sync: ExecuteWrapper | None, async_: AsyncExecuteWrapper | None, alias: str | None
    ) -> None:
        self._sync = (sync, alias) if sync is not None else None
        self._async = (async_, alias) if async_ is not None else None

    def remove(self) -> None:
        global _sync, _async
        with _lock:
            if self._sync is not None:
                _sync = tuple(e for e in _sync if e is not self._sync)
            if self._async is not None:
                _async = tuple(e for e in _async if e is not self._async)

    def __enter__(self) -> Registration:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


def register_execute_wrapper(
    *,
    sync: ExecuteWrapper | None = None,
    async_: AsyncExecuteWrapper | None = None,
    alias: str | None = None,
) -> Registration:
    """Wrap every statement run on ``alias`` (every alias when ``None``), in every thread/task.

    ``sync`` wraps the sync connections, ``async_`` the async ones; give one or both.
    Wrappers registered first run outermost.
    """
    if sync is None and async_ is None:
        raise TypeError("register_execute_wrapper() needs sync=..., async_=... or both.")
    reg = Registration(sync, async_, alias)
    global _sync, _async
    with _lock:
        if reg._sync is not None:
            _sync = (*_sync, reg._sync)
        if reg._async is not None:
            _async = (*_async, reg._async)
    return reg


def sync_wrappers(alias: str) -> list[ExecuteWrapper]:
    return [fn for fn, a in _sync if a is None or a == alias]


def async_wrappers(alias: str) -> list[AsyncExecuteWrapper]:
    return [fn for fn, a in _async if a is None or a == alias]


def has_sync() -> bool:
    return bool(_sync)


def has_async() -> bool:
    return bool(_async)
