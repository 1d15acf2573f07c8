"""The async SQLite wrapper, on ``aiosqlite``.

Connections are opened by the same code as the sync wrapper (run in aiosqlite's worker
thread), so PRAGMAs and functions cannot drift between the two.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator
from typing import Any

import aiosqlite

from dorm.db.backends.base import BaseAsyncDatabaseWrapper
from dorm_sqlite.base import SQLiteInfo, _sql_for_driver, is_memory, open_connection, sqlite_options


class AsyncDatabaseWrapper(SQLiteInfo, BaseAsyncDatabaseWrapper):
    """Async SQLite access for one alias and event loop (a small pool of aiosqlite connections).

    A ``:memory:`` database uses a pool of one connection: SQLite's shared cache locks whole
    tables, so a second in-memory connection would fail instead of waiting.
    """

    def create_pool(self, max_size: int, timeout: float) -> Any:
        if is_memory(self.settings_dict):
            max_size = 1
        return super().create_pool(max_size, timeout)

    async def aget_new_connection(self) -> aiosqlite.Connection:
        # Bad OPTIONS fail here, before a worker thread exists.
        sqlite_options(self.settings_dict)
        conn = aiosqlite.Connection(functools.partial(open_connection, self.settings_dict), 64)
        # aiosqlite's worker thread is not a daemon: a connection nobody closed would keep
        # the interpreter from exiting. Ours are closed by aclose_all(); this is the backstop.
        thread = getattr(conn, "_thread", None)
        if thread is not None:
            thread.daemon = True
        try:
            with self.errors:
                return await conn
        except BaseException:
            # A failed open stops the worker thread; let it finish while this loop still
            # runs, or it reports to a closed loop later.
            if thread is not None and thread.is_alive():
                await asyncio.to_thread(thread.join, 5)
            raise

    async def _raw_run(self, raw: Any, sql: str, params: Any, many: bool, mode: str) -> Any:
        sql = _sql_for_driver(sql)
        params = params or ()
        if many:
            cursor = await raw.executemany(sql, params)
            return cursor.rowcount
        if mode == "all":
            return list(await raw.execute_fetchall(sql, params))
        if mode == "one":
            rows = await raw.execute_fetchall(sql, params)
            return rows[0] if rows else None
        if mode == "insert":
            row = await raw.execute_insert(sql, params)
            return row[0] if row else None
        if mode == "rowcount":
            return await raw._execute(_rowcount, raw, sql, params)
        if mode == "result":
            return await raw._execute(_result, raw, sql, params)
        return await raw.execute(sql, params)  # "cursor": the caller fetches and closes


# Run in aiosqlite's thread through ``Connection._execute``, as aiosqlite's own helpers
# (``execute_fetchall``, ``execute_insert``) do: one hand-off per statement instead of two
# (execute, then close the cursor); a BEGIN or COMMIT is one.


def _rowcount(raw: aiosqlite.Connection, sql: str, params: Any) -> int:
    cursor = raw._conn.execute(sql, params)
    try:
        return int(cursor.rowcount)
    finally:
        cursor.close()


def _result(raw: aiosqlite.Connection, sql: str, params: Any) -> tuple[Any, ...]:
    cursor = raw._conn.execute(sql, params)
    try:
        rows = cursor.fetchall() if cursor.description else []
        return list(rows), cursor.rowcount, cursor.lastrowid, cursor.description
    finally:
        cursor.close()

    async def _raw_stream(
        self, raw: Any, sql: str, params: Any, chunk_size: int
    ) -> AsyncIterator[tuple[Any, ...]]:
        # Through _execute (on the connection iterate() bound) so execution hooks see it.
        cursor = await self._execute(sql, params, mode="cursor")
        try:
            while True:
                with self.errors:
                    rows = await cursor.fetchmany(chunk_size)
                if not rows:
                    return
                for row in rows:
                    yield row
        finally:
            await cursor.close()
