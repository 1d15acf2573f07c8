"""The async PostgreSQL wrapper (psycopg 3 ``AsyncConnection``).

Connections come from a pool per alias and event loop that honours the core's pool
contract (``acquire()`` / ``release(raw, discard)`` / ``close()``), so the core's task
binding (``aatomic`` holds one connection per task) works unchanged:

* with ``OPTIONS["pool"]``: :class:`PsycopgAsyncPool`, around
  ``psycopg_pool.AsyncConnectionPool`` (``min_size``, ``max_size``, ``timeout``,
  ``max_idle``; ``CONN_MAX_AGE`` becomes ``max_lifetime``);
* without: :class:`SimpleAsyncPool`, the core's small pool (``max_size`` 4).

Both test a connection before handing it out (a socket poll, no round trip) and never hand
out one that was closed or broken; a checkout that times out raises
:class:`dorm.exceptions.PoolTimeout` naming the alias and the pool size.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import AsyncIterator
from typing import Any

import psycopg
import psycopg_pool
from psycopg.pq import TransactionStatus

from dorm import exceptions
from dorm.db.backends.base import BaseAsyncDatabaseWrapper
from dorm.db.backends.base.base import AsyncPool
from dorm_postgres.base import PostgresInfo, connect_failed
from dorm_postgres.driver import AsyncCursor, acheck_connection, alooks_dead
from dorm_postgres.settings import session_statements

__all__ = ["AsyncDatabaseWrapper", "PsycopgAsyncPool", "SimpleAsyncPool"]

_IDLE = TransactionStatus.IDLE
_cursor_names = itertools.count(1)


def _unusable(raw: Any) -> bool:
    """Closed, broken, or left inside a transaction: never hand it out again as is."""
    return bool(raw.closed) or raw.pgconn.transaction_status != _IDLE


class SimpleAsyncPool(AsyncPool):
    """The core's pool, plus liveness checks, ``CONN_MAX_AGE`` and broken-connection discard."""

    wrapper: AsyncDatabaseWrapper

    def __init__(self, wrapper: AsyncDatabaseWrapper, max_size: int, timeout: float) -> None:
        super().__init__(wrapper, max_size, timeout)
        self._born: dict[int, float] = {}

    async def acquire(self) -> Any:
        max_age = self.wrapper.pg.max_age
        while True:
            raw = await super().acquire()
            born = self._born.setdefault(id(raw), time.monotonic())
            expired = bool(max_age) and time.monotonic() - born > max_age  # type: ignore[operator]
            if not expired and not await alooks_dead(raw):
                return raw
            # Dead or too old: drop it (freeing its slot) and take another.
            self._size -= 1
            self._born.pop(id(raw), None)
            await self.wrapper.aclose_raw(raw)

    def release(self, raw: Any, discard: bool = False) -> None:
        discard = discard or _unusable(raw)
        if discard or self._closed:
            self._born.pop(id(raw), None)
        super().release(raw, discard)


class PsycopgAsyncPool:
    """The core's pool contract over ``psycopg_pool.AsyncConnectionPool``.

    ``release()`` is synchronous in the contract while ``putconn()`` is a coroutine: the
    return runs as a task (awaited by ``close()``), and ``acquire()`` first lets pending
    returns land so a task issuing statements one after another reuses one connection.
    """

    def __init__(self, wrapper: AsyncDatabaseWrapper) -> None:
        self.wrapper = wrapper
        conf = dict(wrapper.pg.pool or {})
        self.conf = conf
        self.max_size: int = conf["max_size"]
        self.timeout: float = conf["timeout"]
        self._pool: psycopg_pool.AsyncConnectionPool[Any] | None = None
        self._lock = asyncio.Lock()
        self._returns: set[asyncio.Task[Any]] = set()
        self._closed = False

    async def _get_pool(self) -> psycopg_pool.AsyncConnectionPool[Any]:
        if self._pool is not None:
            return self._pool
        async with self._lock:
            if self._pool is None:
                if self._closed:
                    raise exceptions.InterfaceError(
                        f"The async pool of alias {self.wrapper.alias!r} is closed."
                    )
                pg = self.wrapper.pg

                async def configure(conn: psycopg.AsyncConnection[Any]) -> None:
                    conn.prepared_max = pg.prepared_max
                    for sql, params in session_statements(pg, conn):
                        await conn.execute(sql, params)

                pool: psycopg_pool.AsyncConnectionPool[Any] = psycopg_pool.AsyncConnectionPool(
                    pg.conninfo,
                    kwargs=pg.connect_kwargs(AsyncCursor),
                    configure=configure,
                    check=acheck_connection,
                    name=f"dorm:{pg.alias}:async",
                    open=False,
                    **self.conf,
                )
                await pool.open(wait=False)
                self._pool = pool
        return self._pool

    @property
    def driver_pool(self) -> psycopg_pool.AsyncConnectionPool[Any] | None:
        """The underlying ``AsyncConnectionPool`` (``None`` until first used)."""
        return self._pool

    async def acquire(self) -> Any:
        if self._returns:
            await asyncio.sleep(0)  # let connections being returned reach the pool first
        pool = await self._get_pool()
        started = time.monotonic()
        try:
            return await pool.getconn()
        except psycopg_pool.PoolTimeout:
            stats = pool.get_stats()
            if stats.get("pool_size", 0) < self.max_size:
                failure = await _aconnect_error(self.wrapper)
                if failure is not None:
                    raise connect_failed(self.wrapper.pg, failure) from failure
            raise self.wrapper._pool_timeout(time.monotonic() - started, stats) from None

    def release(self, raw: Any, discard: bool = False) -> None:
        if (discard or raw.closed) and not raw.closed:
            # Close it now (synchronously) so the pool sees it broken and replaces it.
            with contextlib.suppress(Exception):
                raw.pgconn.finish()
        pool = self._pool
        if pool is None:  # pragma: no cover - nothing can be out before the pool exists
            return
        task = asyncio.get_running_loop().create_task(self._putconn(pool, raw))
        self._returns.add(task)
        task.add_done_callback(self._returns.discard)

    @staticmethod
    async def _putconn(pool: psycopg_pool.AsyncConnectionPool[Any], raw: Any) -> None:
        with contextlib.suppress(Exception):
            await pool.putconn(raw)

    async def close(self) -> None:
        self._closed = True
        while self._returns:
            await asyncio.gather(*list(self._returns), return_exceptions=True)
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close(timeout=5.0)


async def _aconnect_error(wrapper: AsyncDatabaseWrapper) -> BaseException | None:
    try:
        conn = await psycopg.AsyncConnection.connect(
            wrapper.pg.conninfo, connect_timeout=5, **wrapper.pg.connect_kwargs(AsyncCursor)
        )
    except Exception as exc:
        return exc
    await conn.close()
    return None


class _Stream:
    """``_raw_run`` mode asking for a server-side cursor (on ``raw`` when it is given)."""

    __slots__ = ("chunk_size", "raw")

    def __init__(self, raw: Any, chunk_size: int) -> None:
        self.raw = raw
        self.chunk_size = chunk_size


class AsyncDatabaseWrapper(PostgresInfo, BaseAsyncDatabaseWrapper):
    """Async PostgreSQL access for one alias and event loop."""

    def create_pool(self, max_size: int, timeout: float) -> Any:
        if self.pg.pool is not None:
            return PsycopgAsyncPool(self)
        return SimpleAsyncPool(self, max_size, timeout)

    async def aget_new_connection(self) -> psycopg.AsyncConnection[Any]:
        try:
            conn = await psycopg.AsyncConnection.connect(
                self.pg.conninfo, **self.pg.connect_kwargs(AsyncCursor)
            )
        except psycopg.OperationalError as exc:
            raise connect_failed(self.pg, exc) from exc
        try:
            conn.prepared_max = self.pg.prepared_max
            for sql, params in session_statements(self.pg, conn):
                await conn.execute(sql, params)
        except BaseException:
            await conn.close()
            raise
        return conn

    async def aclose_raw(self, raw: Any) -> None:
        with contextlib.suppress(Exception):
            await raw.close()

    # Execution ---------------------------------------------------------------------------

    async def _execute_inner(
        self, sql: str, params: Any, many: bool, context: Any, mode: Any = "cursor"
    ) -> Any:
        if type(mode) is _Stream and mode.raw is not None:
            # iterate() outside a transaction: on the connection it took for itself.
            with self.errors:
                return await self._raw_run(mode.raw, sql, params, many, mode)
        return await super()._execute_inner(sql, params, many, context, mode)

    async def _raw_run(self, raw: Any, sql: str, params: Any, many: bool, mode: Any) -> Any:
        if type(mode) is _Stream:
            cursor = raw.cursor(f"dorm_cursor_{next(_cursor_names)}")
            cursor.itersize = mode.chunk_size
            await cursor.execute(sql, params or ())
            return cursor
        cursor = raw.cursor()
        if many:
            await cursor.executemany(sql, params or [])
            return cursor.rowcount
        await cursor.execute(sql, params or ())
        if mode == "all":
            return await cursor.fetchall()
        if mode == "one":
            return await cursor.fetchone()
        if mode == "rowcount":
            return cursor.rowcount
        if mode == "insert":
            return None  # PostgreSQL has no lastrowid; dorm uses RETURNING
        if mode == "cursor":
            return cursor
        rows = await cursor.fetchall() if cursor.description else []
        return rows, cursor.rowcount, None, cursor.description

    # Transactions ------------------------------------------------------------------------

    async def apply(self, action: Any) -> None:
        binding = self.current_binding()
        if binding is not None and binding.raw is not None and binding.raw.closed:
            if action[0] == "rollback":
                return  # the server ended the transaction with the session
            raise self._lost_in_transaction()
        await super().apply(action)

    # Streaming ---------------------------------------------------------------------------

    async def iterate(
        self, sql: str, params: Any = None, chunk_size: int = 2000
    ) -> AsyncIterator[tuple[Any, ...]]:
        """Stream rows through a server-side cursor, ``chunk_size`` rows per round trip.

        Inside ``aatomic`` the cursor lives in the task's transaction; outside one it runs in
        its own read transaction on a connection of its own, so the task's other statements
        while iterating use other connections, as usual.
        """
        if not self.pg.server_side_cursors:
            async for row in super().iterate(sql, params, chunk_size):
                yield row
            return
        binding = self.current_binding()
        if binding is not None and binding.tx.in_atomic_block:
            cursor = await self._execute(sql, params, mode=_Stream(None, chunk_size))  # type: ignore[arg-type]
            try:
                async for row in self._fetch(cursor, chunk_size):
                    yield row
            finally:
                if not binding.raw.closed:
                    with contextlib.suppress(Exception):
                        await cursor.close()
            return

        raw = await self.pool.acquire()
        ok = discard = False
        try:
            with self.errors:
                await raw.execute("BEGIN")
            cursor = await self._execute(sql, params, mode=_Stream(raw, chunk_size))  # type: ignore[arg-type]
            async for row in self._fetch(cursor, chunk_size):
                yield row
            ok = True
        except exceptions.Error as exc:
            discard = self.is_disconnect(exc)
            raise
        finally:
            if not raw.closed:
                try:
                    await raw.execute("COMMIT" if ok else "ROLLBACK")
                except Exception:
                    discard = True
            self.pool.release(raw, discard=discard)

    async def _fetch(self, cursor: Any, chunk_size: int) -> AsyncIterator[tuple[Any, ...]]:
        while True:
            with self.errors:
                rows = await cursor.fetchmany(chunk_size)
            if not rows:
                return
            for row in rows:
                yield row
