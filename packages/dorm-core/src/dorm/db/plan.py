"""Run ORM operations written once as generators, on a sync or an async connection.

An operation that needs several round trips (``save``, ``get_or_create``, ``bulk_create``)
is a generator that yields requests and receives their results::

    rows = yield ("fetchall", sql, params)

:func:`run_sync` answers them on ``connections[alias]``, :func:`run_async` on
``async_connections[alias]``; the logic itself never knows which.

Requests: ``("fetchall"|"fetchone"|"rowcount", sql, params)``, ``("insert", sql, params,
returning)``, ``("many", sql, param_list)``, ``("atomic", generator_function)`` (run the
nested operation inside ``atomic``/``aatomic`` on the same alias).
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

from dorm.db import async_connections, connections

Plan = Generator[tuple[Any, ...], Any, Any]


#: Plan request kind -> the connection method answering it (same name sync and async).
_REQUESTS = {
    "fetchall": "fetchall",
    "fetchone": "fetchone",
    "rowcount": "execute_rowcount",
    "insert": "execute_insert",
    "many": "executemany",
}


def _method(conn: Any, request: tuple[Any, ...]) -> Any:
    try:
        return getattr(conn, _REQUESTS[request[0]])
    except KeyError:  # pragma: no cover - programming error
        raise ValueError(f"Unknown plan request {request[0]!r}") from None


def _atomic_args(request: tuple[Any, ...]) -> tuple[Callable[[Any], Plan], bool]:
    return request[1], request[2] if len(request) > 2 else True


def run_sync(alias: str, make: Callable[[Any], Plan]) -> Any:
    """Run a plan on ``connections[alias]``; returns the plan's return value."""
    from dorm.transaction import atomic

    conn = connections[alias]
    gen = make(conn)
    try:
        request = next(gen)
        while True:
            try:
                if request[0] == "atomic":
                    nested, savepoint = _atomic_args(request)
                    with atomic(using=alias, savepoint=savepoint):
                        result = run_sync(alias, nested)
                else:
                    result = _method(conn, request)(*request[1:])
            except Exception as exc:
                request = gen.throw(exc)
                continue
            request = gen.send(result)
    except StopIteration as stop:
        return stop.value


async def run_async(alias: str, make: Callable[[Any], Plan]) -> Any:
    """Run a plan on ``async_connections[alias]``; returns the plan's return value."""
    from dorm.transaction import aatomic

    conn = async_connections[alias]
    gen = make(conn)
    try:
        request = next(gen)
        while True:
            try:
                if request[0] == "atomic":
                    nested, savepoint = _atomic_args(request)
                    async with aatomic(using=alias, savepoint=savepoint):
                        result = await run_async(alias, nested)
                else:
                    result = await _method(conn, request)(*request[1:])
            except Exception as exc:
                request = gen.throw(exc)
                continue
            request = gen.send(result)
    except StopIteration as stop:
        return stop.value


def in_atomic(step: Callable[..., Plan], *args: Any) -> Callable[[Any], Plan]:
    """A plan running ``step(conn, *args)`` inside ``atomic``/``aatomic`` on the runner's alias."""

    def plan(conn: Any) -> Plan:
        return (yield ("atomic", lambda c: step(c, *args), True))

    return plan
