"""The SQLite backend: PRAGMAs and OPTIONS, ``:memory:`` sharing, SQLite's error mapping."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from typing import Any

import pytest

import dorm
import dorm_sqlite
from dorm.db import async_connections, connections
from dorm.db.backends.base import format_to_qmark
from dorm.exceptions import (
    ImproperlyConfigured,
    IntegrityError,
    OperationalError,
    ProgrammingError,
)
from dorm.transaction import aatomic, atomic

PRAGMAS = ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")


def sync_pragmas() -> dict[str, Any]:
    conn = connections["default"]
    return {name: conn.fetchone(f"PRAGMA {name}")[0] for name in PRAGMAS}


async def async_pragmas() -> dict[str, Any]:
    conn = async_connections["default"]
    return {name: (await conn.fetchone(f"PRAGMA {name}"))[0] for name in PRAGMAS}


def test_registered_classes() -> None:
    assert dorm_sqlite.DatabaseWrapper.vendor == "sqlite"
    assert dorm_sqlite.AsyncDatabaseWrapper.vendor == "sqlite"
    assert dorm_sqlite.DatabaseWrapper.display_name == "SQLite"
    assert dorm_sqlite.AsyncDatabaseWrapper.is_async


# PRAGMAs and OPTIONS --------------------------------------------------------------------

DEFAULT_PRAGMAS = {"journal_mode": "wal", "synchronous": 1, "foreign_keys": 1, "busy_timeout": 5000}


async def test_default_pragmas(sqlite_file: dict[str, Any]) -> None:
    assert sync_pragmas() == DEFAULT_PRAGMAS
    assert await async_pragmas() == DEFAULT_PRAGMAS


async def test_pragmas_are_overridable(configure_sqlite: Any) -> None:
    configure_sqlite(
        journal_mode="delete", synchronous="FULL", foreign_keys=False, busy_timeout=250
    )
    expected = {"journal_mode": "delete", "synchronous": 2, "foreign_keys": 0, "busy_timeout": 250}
    assert sync_pragmas() == expected
    assert await async_pragmas() == expected


async def test_init_command(configure_sqlite: Any) -> None:
    configure_sqlite(init_command="PRAGMA cache_size = -4000; PRAGMA temp_store = MEMORY")
    assert connections["default"].fetchone("PRAGMA cache_size") == (-4000,)
    assert connections["default"].fetchone("PRAGMA temp_store") == (2,)
    assert await async_connections["default"].fetchone("PRAGMA cache_size") == (-4000,)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"journal": "wal"}, "Unknown SQLite OPTIONS ['journal']; valid: journal_mode"),
        ({"transaction_mode": "eager"}, "OPTIONS['transaction_mode'] must be one of"),
        ({"journal_mode": "fast"}, "OPTIONS['journal_mode'] must be one of"),
        ({"synchronous": "sometimes"}, "OPTIONS['synchronous'] must be one of"),
    ],
)
async def test_bad_options(configure_sqlite: Any, options: dict[str, Any], message: str) -> None:
    configure_sqlite(**options)
    with pytest.raises(ImproperlyConfigured, match=message.replace("[", r"\[")):
        connections["default"].execute("SELECT 1")
    with pytest.raises(ImproperlyConfigured, match=message.replace("[", r"\[")):
        await async_connections["default"].execute("SELECT 1")


@pytest.mark.parametrize("mode", ["DEFERRED", "IMMEDIATE", "EXCLUSIVE"])
async def test_transaction_mode(configure_sqlite: Any, mode: str) -> None:
    options = {} if mode == "IMMEDIATE" else {"transaction_mode": mode.lower()}
    configure_sqlite(**options)
    seen: list[str] = []

    def record(execute: Any, sql: str, params: Any, many: bool, ctx: Any) -> Any:
        seen.append(sql)
        return execute(sql, params, many, ctx)

    async def arecord(execute: Any, sql: str, params: Any, many: bool, ctx: Any) -> Any:
        seen.append(sql)
        return await execute(sql, params, many, ctx)

    with dorm.db.register_execute_wrapper(sync=record, async_=arecord):
        with atomic():
            pass
        async with aatomic():
            pass
    assert seen == [f"BEGIN {mode}", "COMMIT"] * 2


def test_busy_timeout_waits_for_the_write_lock(configure_sqlite: Any) -> None:
    configure_sqlite(busy_timeout=5000)
    connections["default"].execute("CREATE TABLE t (n integer)")
    locked = threading.Event()

    def hold_lock() -> None:
        with atomic():  # BEGIN IMMEDIATE: takes the write lock
            connections["default"].execute("INSERT INTO t (n) VALUES (1)")
            locked.set()
            time.sleep(0.3)

    holder = threading.Thread(target=hold_lock)
    holder.start()
    locked.wait()
    started = time.monotonic()
    connections["default"].execute("INSERT INTO t (n) VALUES (2)")  # waits, then succeeds
    holder.join()
    assert time.monotonic() - started > 0.1
    assert connections["default"].fetchall("SELECT n FROM t ORDER BY n") == [(1,), (2,)]


def test_short_busy_timeout_gives_operational_error(configure_sqlite: Any) -> None:
    configure_sqlite(busy_timeout=20)
    connections["default"].execute("CREATE TABLE t (n integer)")
    locked, release = threading.Event(), threading.Event()

    def hold_lock() -> None:
        with atomic():
            connections["default"].execute("INSERT INTO t (n) VALUES (1)")
            locked.set()
            release.wait(5)

    holder = threading.Thread(target=hold_lock)
    holder.start()
    locked.wait()
    try:
        with pytest.raises(OperationalError, match="locked") as info:
            connections["default"].execute("INSERT INTO t (n) VALUES (2)")
        assert isinstance(info.value.__cause__, sqlite3.OperationalError)
    finally:
        release.set()
        holder.join()


# :memory: -------------------------------------------------------------------------------


async def test_memory_database_is_shared_by_threads_and_async(configure_sqlite: Any) -> None:
    configure_sqlite(":memory:")
    connections["default"].execute("CREATE TABLE t (who varchar(10))")
    connections["default"].execute("INSERT INTO t (who) VALUES (%s)", ["main"])

    def other_thread() -> None:
        connections["default"].execute("INSERT INTO t (who) VALUES (%s)", ["thread"])

    thread = threading.Thread(target=other_thread)
    thread.start()
    thread.join()
    aconn = async_connections["default"]
    await aconn.execute("INSERT INTO t (who) VALUES (%s)", ["async"])

    expected = [("async",), ("main",), ("thread",)]
    assert await aconn.fetchall("SELECT who FROM t ORDER BY who") == expected
    assert connections["default"].fetchall("SELECT who FROM t ORDER BY who") == expected


async def test_memory_database_uses_one_async_connection(configure_sqlite: Any) -> None:
    configure_sqlite(":memory:")
    aconn = async_connections["default"]
    assert aconn.pool.max_size == 1
    await aconn.execute("CREATE TABLE t (n integer)")

    async def insert(n: int) -> None:
        async with aatomic():
            await aconn.execute("INSERT INTO t (n) VALUES (%s)", [n])
            await asyncio.sleep(0)

    # Tasks queue for the one connection instead of failing on shared-cache table locks.
    await asyncio.gather(*(insert(n) for n in range(20)))
    assert await aconn.fetchone("SELECT COUNT(*) FROM t") == (20,)


async def test_memory_database_survives_closing_connections(configure_sqlite: Any) -> None:
    configure_sqlite(":memory:")
    connections["default"].execute("CREATE TABLE t (n integer)")
    connections["default"].execute("INSERT INTO t (n) VALUES (1)")
    dorm.db.close_all()
    await dorm.db.aclose_all()
    assert connections["default"].fetchall("SELECT n FROM t") == [(1,)]


def test_each_configuration_and_alias_gets_its_own_memory_database(configure_sqlite: Any) -> None:
    configure_sqlite(":memory:")
    connections["default"].execute("CREATE TABLE t (n integer)")
    memory = {"ENGINE": "sqlite", "NAME": ":memory:"}
    dorm.configure(DATABASES={"default": memory, "other": memory})
    tables = "SELECT name FROM sqlite_master WHERE type = 'table'"
    assert connections["default"].fetchall(tables) == []  # a new configuration: a new database
    connections["default"].execute("CREATE TABLE only_default (n integer)")
    assert connections["other"].fetchall(tables) == []
    dorm.db.close_all()


def test_memory_database_skips_file_pragmas(configure_sqlite: Any) -> None:
    configure_sqlite(":memory:")
    pragmas = sync_pragmas()
    assert pragmas["journal_mode"] == "memory"
    assert pragmas["foreign_keys"] == 1


# SQL and values -------------------------------------------------------------------------


def test_placeholders() -> None:
    assert format_to_qmark("SELECT %s, %s") == "SELECT ?, ?"
    assert format_to_qmark("SELECT '100%%', %s") == "SELECT '100%', ?"


async def test_percent_literals_and_placeholders(sqlite_file: dict[str, Any]) -> None:
    sql = "SELECT '100%%', %s"
    assert connections["default"].fetchone(sql, ["x"]) == ("100%", "x")
    assert await async_connections["default"].fetchone(sql, ["x"]) == ("100%", "x")


async def test_lastrowid_and_execute_insert(sqlite_file: dict[str, Any]) -> None:
    conn = connections["default"]
    conn.execute("CREATE TABLE t (id integer PRIMARY KEY AUTOINCREMENT, name text)")
    assert conn.execute("INSERT INTO t (name) VALUES (%s)", ["a"]).lastrowid == 1
    assert conn.execute_insert("INSERT INTO t (name) VALUES (%s)", ["b"], False) == 2
    aconn = async_connections["default"]
    assert (await aconn.execute("INSERT INTO t (name) VALUES (%s)", ["c"])).lastrowid == 3
    assert await aconn.execute_insert("INSERT INTO t (name) VALUES (%s)", ["d"], False) == 4
    if conn.features.can_return_columns_from_insert:
        sql = "INSERT INTO t (name) VALUES (%s) RETURNING id, name"
        assert conn.execute_insert(sql, ["e"], True) == (5, "e")
        assert await aconn.execute_insert(sql, ["f"], True) == (6, "f")


async def test_regexp_function(sqlite_file: dict[str, Any]) -> None:
    sql = "SELECT %s REGEXP %s"  # value REGEXP pattern
    assert connections["default"].fetchone(sql, ["xabbbcx", "ab+c"]) == (1,)
    assert await async_connections["default"].fetchone(sql, ["abc", "^z"]) == (0,)


# Error mapping --------------------------------------------------------------------------


def sqlite_error_cases() -> list[tuple[str, list[Any], type[Exception], type[Exception]]]:
    return [
        ("INSERT INTO t (n) VALUES (%s)", [1], IntegrityError, sqlite3.IntegrityError),
        ("INSERT INTO t (n) VALUES (%s)", [None], IntegrityError, sqlite3.IntegrityError),
        ("INSERT INTO child (t_n) VALUES (%s)", [99], IntegrityError, sqlite3.IntegrityError),
        ("SELECT * FROM missing", [], OperationalError, sqlite3.OperationalError),
        ("SELEKT 1", [], OperationalError, sqlite3.OperationalError),
        ("SELECT %s", [1, 2], ProgrammingError, sqlite3.ProgrammingError),
    ]


@pytest.fixture
def error_tables(sqlite_file: dict[str, Any]) -> None:
    conn = connections["default"]
    conn.execute("CREATE TABLE t (n integer NOT NULL UNIQUE)")
    conn.execute("CREATE TABLE child (t_n integer REFERENCES t (n))")
    conn.execute("INSERT INTO t (n) VALUES (1)")


@pytest.mark.parametrize(("sql", "params", "dorm_error", "driver_error"), sqlite_error_cases())
async def test_error_mapping(
    error_tables: None,
    sql: str,
    params: list[Any],
    dorm_error: type[Exception],
    driver_error: type[Exception],
) -> None:
    with pytest.raises(dorm_error) as info:
        connections["default"].execute(sql, params)
    assert type(info.value.__cause__) is driver_error
    with pytest.raises(dorm_error) as info:
        await async_connections["default"].execute(sql, params)
    assert type(info.value.__cause__) is driver_error


def test_closed_driver_connection_is_replaced(sqlite_file: dict[str, Any]) -> None:
    conn = connections["default"]
    conn.execute("SELECT 1")
    conn.connection.close()  # e.g. closed behind dorm's back
    with pytest.raises(ProgrammingError, match="closed database"):
        conn.execute("SELECT 1")
    assert conn.connection is None  # dropped, not reused
    assert conn.fetchone("SELECT 2") == (2,)
