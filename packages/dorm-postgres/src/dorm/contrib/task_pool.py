"""Task-affinity pool: pin one pooled connection to the current asyncio task for a block.

::

    from dorm.contrib.task_pool import assert_no_concurrent_gather, pinned_connection

    async def handler():
        async with pinned_connection():
            authors = await Author.objects.acount()          # one connection ...
            await Author.objects.acreate(name="x", age=1)    # ... the same one
            async with aatomic():                            # reuses it too
                ...

Outside a pinned block every async statement borrows a pool connection for its own
duration, so consecutive statements of one task may run on different connections (and
server sessions). Inside ``pinned_connection()`` every statement the current task issues
on that alias — ORM queries, raw SQL, ``aatomic()`` blocks — runs on one connection, checked
out when the block starts and given back when it ends: session state (``SET``, temporary
tables, advisory locks, ``pg_backend_pid()``) holds across the block. Statements run in
autocommit between transactions, as usual. Blocks nest (the inner one reuses the pin).
Streaming reads outside a transaction — ``aiterator()`` on a server-side cursor,
``acopy_to()`` — still read through a connection of their own, as outside a block, so that
the statements issued inside their loop keep running (and autocommitting) on the pin;
inside ``aatomic()`` they use the pinned connection like everything else.

Tasks started inside the block (``asyncio.gather()``, ``create_task()``, a ``TaskGroup``)
do not share the pin: they run concurrently, and two tasks on one connection would
interleave their statements and transactions. Each of them checks out its own connection,
as outside a block. Code that must run on the pinned connection can say so with
:func:`assert_no_concurrent_gather`: in the pinning task it passes; in a task started inside
the block — a sibling of other ``gather()``-ed tasks — it raises :class:`PinSharingError`.

This is a binding without a transaction: the core's ``bind()`` / ``unbind()``, which
``aatomic()`` uses too. On a backend without a connection pool (SQLite) the block does
nothing but emit a ``RuntimeWarning`` saying so.
"""

from __future__ import annotations

import asyncio
import warnings
import weakref
from contextvars import ContextVar, Token
from typing import Any

from dorm.conf import DEFAULT_DB_ALIAS
from dorm.db import async_connections
from dorm.exceptions import ProgrammingError

__all__ = ["Pin", "PinSharingError", "assert_no_concurrent_gather", "pinned_connection"]


class PinSharingError(ProgrammingError):
    """A task started inside a pinned block relied on the pin (which it does not share)."""


class Pin:
    """An active ``pinned_connection()`` block: its alias, task and driver connection."""

    __slots__ = ("__weakref__", "_binding", "active", "alias", "sharers", "task")

    def __init__(self, alias: str, task: asyncio.Task[Any] | None, binding: Any) -> None:
        self.alias = alias
        self.task = task
        self._binding = binding
        self.active = True
        #: Tasks started inside the block that called assert_no_concurrent_gather().
        self.sharers: weakref.WeakSet[asyncio.Task[Any]] = weakref.WeakSet()

    @property
    def connection(self) -> Any:
        """The pinned driver connection (a psycopg ``AsyncConnection``)."""
        return self._binding.raw

    def __repr__(self) -> str:
        name = self.task.get_name() if self.task is not None else None
        return f"<Pin alias={self.alias!r} task={name!r} active={self.active}>"


# The pins of the current context. Tasks started inside a block inherit a copy of the
# context, hence the pins, while the core's binding ignores them: that is how
# assert_no_concurrent_gather() recognizes such a task.
_pins: ContextVar[tuple[Pin, ...]] = ContextVar("dorm_task_pool_pins", default=())


class pinned_connection:
    """``async with pinned_connection(using=None) as pin``: see the module docstring."""

    def __init__(self, using: str | None = None) -> None:
        self.using = using or DEFAULT_DB_ALIAS
        self._state: list[tuple[Any, Any, Pin, Token[tuple[Pin, ...]]] | None] = []

    async def __aenter__(self) -> Pin | None:
        conn = async_connections[self.using]
        if not conn.features.has_connection_pool:
            warnings.warn(
                f"pinned_connection(): alias {self.using!r} uses the "
                f"{getattr(conn, 'display_name', conn.vendor)} backend, which has no "
                "connection pool; the block does nothing (statements use that backend's usual "
                "connections).",
                RuntimeWarning,
                stacklevel=2,
            )
            self._state.append(None)
            return None
        binding = await conn.bind()
        pin = Pin(self.using, asyncio.current_task(), binding)
        token = _pins.set((*_pins.get(), pin))
        self._state.append((conn, binding, pin, token))
        return pin

    async def __aexit__(self, *exc: object) -> None:
        state = self._state.pop()
        if state is None:
            return
        conn, binding, pin, token = state
        pin.active = False
        _pins.reset(token)
        raw = binding.raw
        discard = bool(raw.closed) or _in_transaction(raw)
        conn.unbind(binding, discard=discard)

    def __enter__(self) -> None:
        raise TypeError(
            "pinned_connection() pins a connection to an asyncio task: use `async with`."
        )

    def __exit__(self, *exc: object) -> None:  # pragma: no cover - __enter__ always raises
        return None


def _in_transaction(raw: Any) -> bool:
    """Whether ``raw`` was left mid-transaction (it must not go back to the pool so)."""
    pgconn = getattr(raw, "pgconn", None)
    status = getattr(pgconn, "transaction_status", None)
    return status is not None and int(status) != 0  # 0 = IDLE


def assert_no_concurrent_gather(using: str | None = None) -> None:
    """Raise :class:`PinSharingError` when called from a task that inherited a pin.

    Inside ``pinned_connection()`` the pinning task passes; a task started inside the block
    (``asyncio.gather()``, ``create_task()``, a ``TaskGroup``) runs concurrently with its
    siblings and never uses the pin, so relying on it there is an error. Outside any pinned
    block (or for another alias when ``using`` is given) it does nothing.
    """
    task = asyncio.current_task()
    for pin in _pins.get():
        if not pin.active or (using is not None and pin.alias != using):
            continue
        if pin.task is task:
            continue
        if task is not None:
            pin.sharers.add(task)
        others = sorted(t.get_name() for t in pin.sharers if t is not task and not t.done())
        here = task.get_name() if task is not None else "?"
        owner = pin.task.get_name() if pin.task is not None else "?"
        siblings = f" and its sibling task(s) {', '.join(map(repr, others))}" if others else ""
        raise PinSharingError(
            f"Task {here!r} runs inside pinned_connection(using={pin.alias!r}) of task "
            f"{owner!r} but was started inside the block (asyncio.gather(), create_task(), "
            f"a TaskGroup), concurrently with that task{siblings}. A pinned connection "
            "belongs to the task that opened the block and is never shared between tasks "
            "that run at the same time: this task's statements use a connection of their own, "
            "not the pinned one. Await the work one step after another in the pinning task, "
            "or open pinned_connection() inside each task."
        )
