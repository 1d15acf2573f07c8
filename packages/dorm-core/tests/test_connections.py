"""``connections`` / ``async_connections`` and the raw-SQL API, sync and async."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from dorm.db import aclose_all, async_connections, close_all, connections

ITEM_COLUMNS = "n integer NOT NULL, tag varchar(20)"
ROWS = [(1, "one"), (2, "two"), (3, "three")]


@pytest.fixture
def item(db: Any) -> str:
    """An ``item`` table holding ROWS."""
    db.create_table("item", ITEM_COLUMNS)
    connections["default"].executemany("INSERT INTO item (n, tag) VALUES (%s, %s)", ROWS)
    return "item"


# Handlers ---------------------------------------------------------------------------------


def test_one_sync_connection_per_thread(db: Any) -> None:
    mine = connections["default"]
    assert connections["default"] is mine
    assert "default" in connections
    assert list(connections) == ["default"]
    assert connections.all() == [mine]

    theirs: list[Any] = []
    thread = threading.Thread(target=lambda: theirs.append(connections["default"]))
    thread.start()
    thread.join()
    assert theirs[0] is not mine
    assert theirs[0].alias == mine.alias == "default"


def test_close_and_reopen(db: Any) -> None:
    conn = connections["default"]
    conn.execute("SELECT 1")
    assert conn.connection is not None
    close_all()
    assert conn.connection is None
    assert conn.fetchone("SELECT 1") == (1,)  # reopens lazily
    conn.close()
    assert conn.connection is None


async def test_one_async_wrapper_per_event_loop(db: Any) -> None:
    mine = async_connections["default"]
    assert async_connections["default"] is mine
    assert "default" in async_connections

    async def in_task() -> Any:
        return async_connections["default"]

    assert await asyncio.create_task(in_task()) is mine

    async def in_other_loop() -> tuple[Any, Any]:
        conn = async_connections["default"]
        row = await conn.fetchone("SELECT 1")
        await aclose_all()
        return conn, row

    result: list[Any] = []
    thread = threading.Thread(target=lambda: result.append(asyncio.run(in_other_loop())))
    thread.start()
    thread.join()
    other, row = result[0]
    assert other is not mine
    assert row == (1,)


async def test_aclose_all_retires_the_loops_wrappers(db: Any) -> None:
    first = async_connections["default"]
    assert await first.fetchone("SELECT 1") == (1,)
    await aclose_all()
    second = async_connections["default"]
    assert second is not first
    assert await second.fetchone("SELECT 2") == (2,)


def test_async_connections_need_a_running_loop(db: Any) -> None:
    with pytest.raises(RuntimeError):
        async_connections["default"]


# Sync raw-SQL API ---------------------------------------------------------------------


def test_execute_returns_a_cursor(item: str) -> None:
    conn = connections["default"]
    cursor = conn.execute("SELECT n, tag FROM item WHERE n >= %s ORDER BY n", [2])
    assert [d[0] for d in cursor.description] == ["n", "tag"]
    assert cursor.fetchone() == (2, "two")
    assert cursor.fetchall() == [(3, "three")]
    assert cursor.fetchone() is None

    cursor = conn.execute("SELECT n FROM item ORDER BY n")
    assert cursor.fetchmany(2) == [(1,), (2,)]
    assert cursor.fetchmany(2) == [(3,)]

    assert list(conn.execute("SELECT tag FROM item ORDER BY n")) == [("one",), ("two",), ("three",)]
    cursor.close()


def test_execute_reports_rowcount(item: str) -> None:
    conn = connections["default"]
    cursor = conn.execute("UPDATE item SET tag = %s WHERE n > %s", ["big", 1])
    assert cursor.rowcount == 2
    assert conn.execute_rowcount("DELETE FROM item WHERE tag = %s", ["big"]) == 2


def test_fetchone_and_fetchall(item: str) -> None:
    conn = connections["default"]
    assert conn.fetchone("SELECT tag FROM item WHERE n = %s", [3]) == ("three",)
    assert conn.fetchone("SELECT tag FROM item WHERE n = %s", [42]) is None
    assert conn.fetchall("SELECT n, tag FROM item ORDER BY n") == ROWS
    assert conn.fetchall("SELECT n FROM item WHERE n > %s", [99]) == []


def test_executemany(db: Any) -> None:
    db.create_table("item", ITEM_COLUMNS)
    conn = connections["default"]
    count = conn.executemany(
        "INSERT INTO item (n, tag) VALUES (%s, %s)", [(i, f"t{i}") for i in range(10)]
    )
    assert count == 10
    assert conn.fetchone("SELECT COUNT(*) FROM item") == (10,)


def test_iterate_streams_in_chunks(db: Any) -> None:
    db.create_table("item", ITEM_COLUMNS)
    conn = connections["default"]
    conn.executemany("INSERT INTO item (n, tag) VALUES (%s, %s)", [(i, "x") for i in range(25)])
    rows = conn.iterate("SELECT n FROM item ORDER BY n", chunk_size=7)
    assert [n for (n,) in rows] == list(range(25))


def test_values_always_travel_as_parameters(db: Any) -> None:
    db.create_table("item", ITEM_COLUMNS)
    conn = connections["default"]
    nasty = "x'); DROP TABLE item; --"
    conn.execute("INSERT INTO item (n, tag) VALUES (%s, %s)", [1, nasty[:20]])
    assert conn.fetchall("SELECT tag FROM item") == [(nasty[:20],)]


# Async raw-SQL API --------------------------------------------------------------------


async def test_async_execute_result(item: str) -> None:
    conn = async_connections["default"]
    result = await conn.execute("SELECT n, tag FROM item WHERE n >= %s ORDER BY n", [2])
    assert [d[0] for d in result.description] == ["n", "tag"]
    assert await result.fetchone() == (2, "two")
    assert await result.fetchall() == [(3, "three")]
    assert await result.fetchone() is None

    result = await conn.execute("SELECT n FROM item ORDER BY n")
    assert await result.fetchmany(2) == [(1,), (2,)]
    assert [row async for row in result] == [(3,)]

    result = await conn.execute("SELECT tag FROM item ORDER BY n")
    assert [tag async for (tag,) in result] == ["one", "two", "three"]


async def test_async_execute_reports_rowcount(item: str) -> None:
    conn = async_connections["default"]
    result = await conn.execute("UPDATE item SET tag = %s WHERE n > %s", ["big", 1])
    assert result.rowcount == 2
    assert await result.fetchall() == []
    assert await conn.execute_rowcount("DELETE FROM item WHERE tag = %s", ["big"]) == 2


async def test_async_fetchone_and_fetchall(item: str) -> None:
    conn = async_connections["default"]
    assert await conn.fetchone("SELECT tag FROM item WHERE n = %s", [3]) == ("three",)
    assert await conn.fetchone("SELECT tag FROM item WHERE n = %s", [42]) is None
    assert await conn.fetchall("SELECT n, tag FROM item ORDER BY n") == ROWS


async def test_async_executemany(db: Any) -> None:
    db.create_table("item", ITEM_COLUMNS)
    conn = async_connections["default"]
    count = await conn.executemany(
        "INSERT INTO item (n, tag) VALUES (%s, %s)", [(i, f"t{i}") for i in range(10)]
    )
    assert count == 10
    assert await conn.fetchone("SELECT COUNT(*) FROM item") == (10,)


async def test_async_iterate(db: Any) -> None:
    db.create_table("item", ITEM_COLUMNS)
    conn = async_connections["default"]
    await conn.executemany(
        "INSERT INTO item (n, tag) VALUES (%s, %s)", [(i, "x") for i in range(25)]
    )
    assert [
        n async for (n,) in conn.iterate("SELECT n FROM item ORDER BY n", chunk_size=7)
    ] == list(range(25))


async def test_sync_and_async_see_the_same_database(db: Any) -> None:
    db.create_table("item", ITEM_COLUMNS)
    connections["default"].execute("INSERT INTO item (n, tag) VALUES (%s, %s)", [1, "sync"])
    aconn = async_connections["default"]
    await aconn.execute("INSERT INTO item (n, tag) VALUES (%s, %s)", [2, "async"])
    assert await aconn.fetchall("SELECT tag FROM item ORDER BY n") == [("sync",), ("async",)]
    assert connections["default"].fetchall("SELECT tag FROM item ORDER BY n") == [
        ("sync",),
        ("async",),
    ]
