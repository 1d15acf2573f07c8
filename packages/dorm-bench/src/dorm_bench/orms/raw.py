"""The physical limit: the bare drivers doing the same work, returning tuples.

sqlite3 (sync) and aiosqlite (async) with the same PRAGMAs as every ORM; psycopg 3 (sync
and async) on PostgreSQL. No ORM layer: one prepared-once SQL string per scenario, rows as
the driver returns them.
"""

from __future__ import annotations

from typing import Any

from dorm_bench.core import PG_SETTING_NAMES, SQLITE_PRAGMA_NAMES, SQLITE_PRAGMAS, TABLE, Work
from dorm_bench.orms import AsyncRunner, SyncRunner, describe_sqlite_value

Q_INSERT = f'INSERT INTO "{TABLE}" ("name", "value", "active") VALUES (?, ?, ?)'
Q_GET = f'SELECT "id", "name", "value", "active" FROM "{TABLE}" WHERE "id" = ?'
Q_COUNT = f'SELECT COUNT(*) FROM "{TABLE}" WHERE "active" = ?'
Q_LIST = f'SELECT "id", "name", "value", "active" FROM "{TABLE}" ORDER BY "id" ASC LIMIT ?'

_SQLITE_ONLY = {"copy": "PostgreSQL only", "copy_bulk_create": "PostgreSQL only"}


def _pg(sql: str) -> str:
    return sql.replace("?", "%s")


class RawSQLite(SyncRunner):
    """``sqlite3`` in autocommit mode (each INSERT commits), tuples out."""

    name = "raw"
    not_supported = _SQLITE_ONLY

    @property
    def label(self) -> str:
        import sqlite3

        return f"raw sqlite3 (SQLite {sqlite3.sqlite_version})"

    def open(self, target: Any) -> None:
        self.conn = target.connect_raw()

    def close(self) -> None:
        self.conn.close()

    def settings(self) -> dict[str, str]:
        return {
            name: describe_sqlite_value(name, self.conn.execute(f"PRAGMA {name}").fetchone()[0])
            for name in SQLITE_PRAGMA_NAMES
        }

    def insert_one(self, work: Work) -> None:
        execute = self.conn.execute
        for row in work.rows:
            execute(Q_INSERT, row).lastrowid  # noqa: B018

    def bulk_insert(self, work: Work) -> None:
        conn = self.conn
        conn.execute("BEGIN")
        conn.executemany(Q_INSERT, work.rows)
        conn.execute("COMMIT")

    def get_by_pk(self, work: Work) -> None:
        execute = self.conn.execute
        for pk in work.pks:
            execute(Q_GET, (pk,)).fetchone()

    def filter_count(self, work: Work) -> None:
        execute = self.conn.execute
        for _ in range(work.n):
            execute(Q_COUNT, (True,)).fetchone()[0]

    def list_first_n(self, work: Work) -> None:
        execute = self.conn.execute
        for _ in range(work.times):
            execute(Q_LIST, (work.limit,)).fetchall()


class RawAioSQLite(AsyncRunner):
    """``aiosqlite`` (sqlite3 in a worker thread) with the same PRAGMAs."""

    name = "raw"
    not_supported = _SQLITE_ONLY

    @property
    def label(self) -> str:
        from dorm_bench.orms import version_of

        return f"raw aiosqlite {version_of('aiosqlite')}"

    async def open(self, target: Any) -> None:
        import aiosqlite

        self.conn = await aiosqlite.connect(str(target.path), isolation_level=None)
        for name, value in SQLITE_PRAGMAS.items():
            await self.conn.execute(f"PRAGMA {name} = {value}")

    async def close(self) -> None:
        await self.conn.close()

    async def settings(self) -> dict[str, str]:
        out = {}
        for name in SQLITE_PRAGMA_NAMES:
            rows = await self.conn.execute_fetchall(f"PRAGMA {name}")
            out[name] = describe_sqlite_value(name, next(iter(rows))[0])
        return out

    async def insert_one(self, work: Work) -> None:
        conn = self.conn
        for row in work.rows:
            await conn.execute_insert(Q_INSERT, row)

    async def bulk_insert(self, work: Work) -> None:
        conn = self.conn
        await conn.execute("BEGIN")
        await conn.executemany(Q_INSERT, work.rows)
        await conn.execute("COMMIT")

    async def get_by_pk(self, work: Work) -> None:
        conn = self.conn
        for pk in work.pks:
            rows = list(await conn.execute_fetchall(Q_GET, (pk,)))
            rows[0]

    async def filter_count(self, work: Work) -> None:
        conn = self.conn
        for _ in range(work.n):
            rows = list(await conn.execute_fetchall(Q_COUNT, (True,)))
            rows[0][0]

    async def list_first_n(self, work: Work) -> None:
        conn = self.conn
        for _ in range(work.times):
            await conn.execute_fetchall(Q_LIST, (work.limit,))


async def _pg_settings(conn: Any) -> dict[str, str]:
    out = {}
    for name in PG_SETTING_NAMES:
        cur = await conn.execute(f"SHOW {name}")
        out[name] = str((await cur.fetchone())[0])
    return out


class RawPsycopg(SyncRunner):
    """psycopg 3 in autocommit mode; COPY through ``cursor.copy()``."""

    name = "raw"

    @property
    def label(self) -> str:
        from dorm_bench.orms import version_of

        return f"raw psycopg {version_of('psycopg')}"

    def open(self, target: Any) -> None:
        import psycopg

        self.conn = psycopg.connect(target.dsn, autocommit=True)

    def close(self) -> None:
        self.conn.close()

    def settings(self) -> dict[str, str]:
        out = {}
        for name in PG_SETTING_NAMES:
            row = self.conn.execute(f"SHOW {name}").fetchone()
            out[name] = str(row[0]) if row else "?"
        return out

    def insert_one(self, work: Work) -> None:
        execute = self.conn.execute
        sql = _pg(Q_INSERT) + ' RETURNING "id"'
        for row in work.rows:
            execute(sql, row).fetchone()

    def bulk_insert(self, work: Work) -> None:
        with self.conn.transaction(), self.conn.cursor() as cur:
            cur.executemany(_pg(Q_INSERT), work.rows)

    copy_bulk_create = bulk_insert

    def get_by_pk(self, work: Work) -> None:
        execute = self.conn.execute
        sql = _pg(Q_GET)
        for pk in work.pks:
            execute(sql, (pk,)).fetchone()

    def filter_count(self, work: Work) -> None:
        execute = self.conn.execute
        sql = _pg(Q_COUNT)
        for _ in range(work.n):
            execute(sql, (True,)).fetchone()

    def list_first_n(self, work: Work) -> None:
        execute = self.conn.execute
        sql = _pg(Q_LIST)
        for _ in range(work.times):
            execute(sql, (work.limit,)).fetchall()

    def copy(self, work: Work) -> None:
        sql = f'COPY "{TABLE}" ("name", "value", "active") FROM STDIN'
        with self.conn.transaction(), self.conn.cursor() as cur, cur.copy(sql) as copy:
            for row in work.rows:
                copy.write_row(row)


class RawAsyncPsycopg(AsyncRunner):
    """psycopg 3's ``AsyncConnection`` in autocommit mode."""

    name = "raw"

    @property
    def label(self) -> str:
        from dorm_bench.orms import version_of

        return f"raw psycopg {version_of('psycopg')} (async)"

    async def open(self, target: Any) -> None:
        import psycopg

        self.conn = await psycopg.AsyncConnection.connect(target.dsn, autocommit=True)

    async def close(self) -> None:
        await self.conn.close()

    async def settings(self) -> dict[str, str]:
        return await _pg_settings(self.conn)

    async def insert_one(self, work: Work) -> None:
        conn = self.conn
        sql = _pg(Q_INSERT) + ' RETURNING "id"'
        for row in work.rows:
            await (await conn.execute(sql, row)).fetchone()

    async def bulk_insert(self, work: Work) -> None:
        async with self.conn.transaction(), self.conn.cursor() as cur:
            await cur.executemany(_pg(Q_INSERT), work.rows)

    copy_bulk_create = bulk_insert

    async def get_by_pk(self, work: Work) -> None:
        conn = self.conn
        sql = _pg(Q_GET)
        for pk in work.pks:
            await (await conn.execute(sql, (pk,))).fetchone()

    async def filter_count(self, work: Work) -> None:
        conn = self.conn
        sql = _pg(Q_COUNT)
        for _ in range(work.n):
            await (await conn.execute(sql, (True,))).fetchone()

    async def list_first_n(self, work: Work) -> None:
        conn = self.conn
        sql = _pg(Q_LIST)
        for _ in range(work.times):
            await (await conn.execute(sql, (work.limit,))).fetchall()

    async def copy(self, work: Work) -> None:
        sql = f'COPY "{TABLE}" ("name", "value", "active") FROM STDIN'
        async with self.conn.transaction(), self.conn.cursor() as cur, cur.copy(sql) as copy:
            for row in work.rows:
                await copy.write_row(row)
