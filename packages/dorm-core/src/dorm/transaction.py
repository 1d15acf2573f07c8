"""Transactions: ``atomic`` / ``aatomic`` blocks, savepoints and ``on_commit`` callbacks.

Nested blocks become savepoints. The nesting rules live in
:class:`~dorm.db.backends.base.transaction_state.TransactionState`; this module only
drives the sync or async connection through them.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, overload

from dorm.conf import DEFAULT_DB_ALIAS
from dorm.db import async_connections, connections
from dorm.exceptions import TransactionManagementError

__all__ = [
    "Atomic",
    "aatomic",
    "atomic",
    "aon_commit",
    "get_autocommit",
    "get_rollback",
    "on_commit",
    "set_rollback",
]

logger = logging.getLogger("dorm.transaction")

F = TypeVar("F", bound=Callable[..., Any])


class Atomic(contextlib.ContextDecorator):
    """A sync ``atomic`` block (context manager or decorator)."""

    def __init__(self, using: str | None, savepoint: bool, durable: bool) -> None:
        self.using = using or DEFAULT_DB_ALIAS
        self.savepoint = savepoint
        self.durable = durable

    def __enter__(self) -> None:
        conn = connections[self.using]
        action = conn.tx.enter(self.savepoint, self.durable)
        if action is not None:
            try:
                conn.apply(action)
            except BaseException:
                conn.tx.frames.pop()
                raise

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        conn = connections[self.using]
        tx = conn.tx
        outermost = len(tx.frames) == 1
        actions = tx.exit(exc_type is not None)
        try:
            for action in actions:
                conn.apply(action)
        except BaseException:
            if outermost and actions and actions[0][0] == "commit":
                with contextlib.suppress(Exception):
                    conn.apply(("rollback",))
                tx.take_callbacks()
            elif not outermost:
                tx.needs_rollback = True
            raise
        if outermost:
            callbacks = tx.take_callbacks()
            if actions[0][0] == "commit":
                _run_callbacks(callbacks)


def _run_callbacks(callbacks: list[tuple[set[str], Callable[[], Any], bool]]) -> None:
    for _sids, func, robust in callbacks:
        if robust:
            try:
                func()
            except Exception:
                logger.exception("on_commit callback %r failed", func)
        else:
            func()


class AsyncAtomic:
    """An async ``aatomic`` block (``async with`` or decorator of coroutine functions)."""

    def __init__(self, using: str | None, savepoint: bool, durable: bool) -> None:
        self.using = using or DEFAULT_DB_ALIAS
        self.savepoint = savepoint
        self.durable = durable
        self._bindings: list[Any] = []

    async def __aenter__(self) -> None:
        conn = async_connections[self.using]
        binding = await conn.bind(acquire=False)
        self._bindings.append(binding)
        try:
            action = binding.tx.enter(self.savepoint, self.durable)
            if action is not None:
                try:
                    await conn.apply(action)
                except BaseException:
                    binding.tx.frames.pop()
                    raise
        except BaseException:
            self._bindings.pop()
            conn.unbind(binding, discard=True)
            raise

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        conn = async_connections[self.using]
        binding = self._bindings.pop()
        tx = binding.tx
        outermost = len(tx.frames) == 1
        actions = tx.exit(exc_type is not None)
        discard = False
        try:
            for action in actions:
                await conn.apply(action)
        except BaseException as failure:
            discard = conn.is_disconnect(failure)
            if outermost and actions and actions[0][0] == "commit":
                with contextlib.suppress(Exception):
                    await conn.apply(("rollback",))
                tx.take_callbacks()
            elif not outermost:
                tx.needs_rollback = True
            raise
        finally:
            callbacks = tx.take_callbacks() if outermost else []
            conn.unbind(binding, discard=discard)
        if outermost and actions[0][0] == "commit":
            for _sids, func, robust in callbacks:
                try:
                    result = func()
                    if inspect.isawaitable(result):
                        await result
                except Exception:
                    if not robust:
                        raise
                    logger.exception("on_commit callback %r failed", func)

    def __call__(self, func: F) -> F:
        if not inspect.iscoroutinefunction(func):
            raise TypeError("aatomic() decorates coroutine functions; use atomic() for sync code.")

        @functools.wraps(func)
        async def inner(*args: Any, **kwargs: Any) -> Any:
            async with AsyncAtomic(self.using, self.savepoint, self.durable):
                return await func(*args, **kwargs)

        return inner  # type: ignore[return-value]


@overload
def atomic(using: F) -> F: ...
@overload
def atomic(using: str | None = None, savepoint: bool = True, durable: bool = False) -> Atomic: ...
def atomic(using: Any = None, savepoint: bool = True, durable: bool = False) -> Any:
    """Run a block in a transaction; nested blocks create savepoints.

    Usable as ``with atomic():``, ``@atomic`` and ``@atomic(using="other")``.
    """
    if callable(using):
        return Atomic(DEFAULT_DB_ALIAS, savepoint, durable)(using)
    return Atomic(using, savepoint, durable)


@overload
def aatomic(using: F) -> F: ...
@overload
def aatomic(
    using: str | None = None, savepoint: bool = True, durable: bool = False
) -> AsyncAtomic: ...
def aatomic(using: Any = None, savepoint: bool = True, durable: bool = False) -> Any:
    """Async twin of :func:`atomic`: ``async with aatomic():`` or ``@aatomic``.

    The block binds one connection to the current task; tasks it spawns use their own.
    """
    if callable(using):
        return AsyncAtomic(DEFAULT_DB_ALIAS, savepoint, durable)(using)
    return AsyncAtomic(using, savepoint, durable)


def _current_tx(using: str | None) -> Any:
    """The transaction state of the caller: the task's binding in async code, else the thread's."""
    alias = using or DEFAULT_DB_ALIAS
    try:
        import asyncio

        asyncio.get_running_loop()
    except RuntimeError:
        return connections[alias].tx
    aconn = async_connections[alias]
    if aconn.current_binding() is not None:
        return aconn.tx
    return connections[alias].tx


def get_autocommit(using: str | None = None) -> bool:
    """``False`` inside an ``atomic`` block, ``True`` otherwise."""
    return not _current_tx(using).in_atomic_block


def get_rollback(using: str | None = None) -> bool:
    """Whether the innermost ``atomic`` block is marked to roll back."""
    return bool(_current_tx(using).needs_rollback)


def set_rollback(rollback: bool, using: str | None = None) -> None:
    """Mark the innermost ``atomic`` block to roll back (or clear that mark)."""
    tx = _current_tx(using)
    if not tx.in_atomic_block:
        raise TransactionManagementError(
            "The rollback flag doesn't work outside of an 'atomic' block."
        )
    tx.needs_rollback = rollback


def on_commit(func: Callable[[], Any], using: str | None = None, robust: bool = False) -> None:
    """Run ``func`` after the current transaction commits (immediately outside one).

    In async code inside ``aatomic``, ``func`` may return an awaitable; it is awaited.
    Callbacks registered in a rolled-back savepoint or transaction never run.
    """
    tx = _current_tx(using)
    if tx.in_atomic_block:
        tx.add_on_commit(func, robust)
        return
    try:
        result = func()
    except Exception:
        if not robust:
            raise
        logger.exception("on_commit callback %r failed", func)
        return
    if inspect.isawaitable(result):
        if inspect.iscoroutine(result):
            result.close()  # never awaited: close it rather than leak a warning
        raise TransactionManagementError(
            "on_commit() outside a transaction got an async callback; use aon_commit()."
        )


async def aon_commit(
    func: Callable[[], Any | Awaitable[Any]], using: str | None = None, robust: bool = False
) -> None:
    """Async :func:`on_commit`: outside a transaction the callback runs (and is awaited) now."""
    tx = _current_tx(using)
    if tx.in_atomic_block:
        tx.add_on_commit(func, robust)
        return
    try:
        result = func()
        if inspect.isawaitable(result):
            await result
    except Exception:
        if not robust:
            raise
        logger.exception("on_commit callback %r failed", func)
