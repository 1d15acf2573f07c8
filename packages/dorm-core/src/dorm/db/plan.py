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


def run_sync(alias: str, make: Callable[[Any], Plan]) -> Any:
    conn = connections[alias]
    gen = make(conn)
    try:
        request = next(gen)
        while True:
            kind = request[0]
            try:
                if kind == "fetchall":
                    result = conn.fetchall(request[1], request[2])
                elif kind == "fetchone":
                    result = conn.fetchone(request[1], request[2])
                elif kind == "rowcount":
                    result = conn.execute_rowcount(request[1], request[2])
                elif kind == "insert":
                    result = conn.execute_insert(request[1], request[2], request[3])
                elif kind == "many":
                    result = conn.executemany(request[1], request[2])
                elif kind == "atomic":
                    from dorm.transaction import atomic

                    with atomic(using=alias, savepoint=request[2] if len(request) > 2 else True):
                        result = run_sync(alias, request[1])
                else:  # pragma: no cover - programming error
                    raise ValueError(f"Unknown plan request {kind!r}")
            except Exception as exc:
                request = gen.throw(exc)
                continue
            request = gen.send(result)
    except StopIteration as stop:
        return stop.value


async def run_async(alias: str, make: Callable[[Any], Plan]) -> Any:
    conn = async_connections[alias]
    gen = make(conn)
    try:
        request = next(gen)
        while True:
            kind = request[0]
            try:
                if kind == "fetchall":
                    result = await conn.fetchall(request[1], request[2])
                elif kind == "fetchone":
                    result = await conn.fetchone(request[1], request[2])
                elif kind == "rowcount":
                    result = await conn.execute_rowcount(request[1], request[2])
                elif kind == "insert":
                    result = await conn.execute_insert(request[1], request[2], request[3])
                elif kind == "many":
                    result = await conn.executemany(request[1], request[2])
                elif kind == "atomic":
                    from dorm.transaction import aatomic

                    async with aatomic(
                        using=alias, savepoint=request[2] if len(request) > 2 else True
                    ):
                        result = await run_async(alias, request[1])
                else:  # pragma: no cover
                    raise ValueError(f"Unknown plan request {kind!r}")
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
