"""Execution hooks: a wrapper sees every statement an alias runs and can count, alter or raise."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

import dorm
from dorm import transaction
from dorm.db import async_connections, connections, register_execute_wrapper
from dorm.db.hooks import ExecuteContext
from dorm.exceptions import IntegrityError

COLUMNS = "n integer NOT NULL UNIQUE, tag varchar(20)"
INSERT = "INSERT INTO item (n, tag) VALUES (%s, %s)"


class Recorder:
    """A sync wrapper recording what it sees."""

    def __init__(self, name: str = "rec", log: list[str] | None = None) -> None:
        self.name = name
        self.log = log if log is not None else []
        self.calls: list[tuple[str, Any, bool, ExecuteContext]] = []
        self.errors: list[BaseException] = []

    @property
    def sql(self) -> list[str]:
        return [call[0] for call in self.calls]

    def __call__(self, execute: Callable[..., Any], sql: str, params: Any, many: bool, ctx: Any):
        self.calls.append((sql, params, many, ctx))
        self.log.append(self.name)
        try:
            return execute(sql, params, many, ctx)
        except Exception as exc:
            self.errors.append(exc)
            raise


class AsyncRecorder(Recorder):
    """The async twin: awaits ``execute``."""

    async def __call__(  # type: ignore[override]
        self, execute: Callable[..., Awaitable[Any]], sql: str, params: Any, many: bool, ctx: Any
    ):
        self.calls.append((sql, params, many, ctx))
        self.log.append(self.name)
        try:
            return await execute(sql, params, many, ctx)
        except Exception as exc:
            self.errors.append(exc)
            raise


@pytest.fixture
def item(db: Any) -> None:
    db.create_table("item", COLUMNS)


# connection.execute_wrapper (sync) -----------------------------------------------------


def test_sync_wrapper_sees_every_statement(item: None) -> None:
    conn = connections["default"]
    rec = Recorder()
    with conn.execute_wrapper(rec):
        conn.execute(INSERT, [1, "one"])
        conn.executemany(INSERT, [(2, "two"), (3, "three")])
        conn.fetchone("SELECT n FROM item WHERE n = %s", [1])
        conn.fetchall("SELECT n FROM item")
        list(conn.iterate("SELECT n FROM item"))
        conn.execute_rowcount("UPDATE item SET tag = %s", ["x"])
        with transaction.atomic(), transaction.atomic():
            conn.execute(INSERT, [4, "four"])
    conn.execute("SELECT 1")  # outside the block: not seen

    assert rec.sql[:6] == [
        INSERT,
        INSERT,
        "SELECT n FROM item WHERE n = %s",
        "SELECT n FROM item",
        "SELECT n FROM item",
        "UPDATE item SET tag = %s",
    ]
    # Transaction control goes through the hooks too.
    assert rec.sql[6].startswith("BEGIN")
    assert rec.sql[7].startswith("SAVEPOINT")
    assert rec.sql[8] == INSERT
    assert rec.sql[9].startswith("RELEASE")
    assert rec.sql[10] == "COMMIT"
    assert len(rec.calls) == 11
    assert [c[2] for c in rec.calls[:2]] == [False, True]  # the ``many`` flag
    assert rec.calls[1][1] == [(2, "two"), (3, "three")]
    ctx = rec.calls[0][3]
    assert ctx == ExecuteContext("default", conn, False)


def test_sync_wrapper_can_alter_the_statement(item: None) -> None:
    conn = connections["default"]
    conn.execute(INSERT, [1, "one"])

    def shout(execute: Callable[..., Any], sql: str, params: Any, many: bool, ctx: Any) -> Any:
        if sql.startswith("INSERT"):
            params = [params[0], params[1].upper()]
        return execute(sql, params, many, ctx)

    with conn.execute_wrapper(shout):
        conn.execute(INSERT, [2, "two"])
    assert conn.fetchall("SELECT tag FROM item ORDER BY n") == [("one",), ("TWO",)]


def test_sync_wrapper_can_refuse_a_statement(item: None) -> None:
    conn = connections["default"]

    class Refused(Exception):
        pass

    def read_only(execute: Callable[..., Any], sql: str, params: Any, many: bool, ctx: Any) -> Any:
        if not sql.lstrip().upper().startswith("SELECT"):
            raise Refused(sql)
        return execute(sql, params, many, ctx)

    with conn.execute_wrapper(read_only):
        with pytest.raises(Refused):
            conn.execute(INSERT, [1, "one"])
        assert conn.fetchall("SELECT n FROM item") == []
    conn.execute(INSERT, [1, "one"])
    assert conn.fetchall("SELECT n FROM item") == [(1,)]


def test_sync_wrapper_sees_translated_errors(item: None) -> None:
    conn = connections["default"]
    conn.execute(INSERT, [1, "one"])
    rec = Recorder()
    with conn.execute_wrapper(rec), pytest.raises(IntegrityError):
        conn.execute(INSERT, [1, "dup"])
    assert len(rec.errors) == 1 and isinstance(rec.errors[0], IntegrityError)


def test_nested_wrappers_run_outermost_first(item: None) -> None:
    conn = connections["default"]
    log: list[str] = []
    with conn.execute_wrapper(Recorder("outer", log)), conn.execute_wrapper(Recorder("inner", log)):
        conn.execute("SELECT 1")
    assert log == ["outer", "inner"]


def test_sync_wrapper_is_per_thread(item: None) -> None:
    rec = Recorder()

    def other_thread() -> None:
        connections["default"].execute("SELECT 2")

    with connections["default"].execute_wrapper(rec):
        thread = threading.Thread(target=other_thread)
        thread.start()
        thread.join()
        connections["default"].execute("SELECT 1")
    assert rec.sql == ["SELECT 1"]


# execute_wrapper on the async connection --------------------------------------------------


async def test_async_wrapper_sees_every_statement(item: None) -> None:
    conn = async_connections["default"]
    rec = AsyncRecorder()
    async with conn.execute_wrapper(rec):
        await conn.execute(INSERT, [1, "one"])
        await conn.executemany(INSERT, [(2, "two"), (3, "three")])
        await conn.fetchone("SELECT n FROM item WHERE n = %s", [1])
        await conn.fetchall("SELECT n FROM item")
        assert len([row async for row in conn.iterate("SELECT n FROM item")]) == 3
        await conn.execute_rowcount("UPDATE item SET tag = %s", ["x"])
        async with transaction.aatomic(), transaction.aatomic():
            await conn.execute(INSERT, [4, "four"])
    await conn.execute("SELECT 1")

    assert rec.sql[:6] == [
        INSERT,
        INSERT,
        "SELECT n FROM item WHERE n = %s",
        "SELECT n FROM item",
        "SELECT n FROM item",
        "UPDATE item SET tag = %s",
    ]
    assert rec.sql[6].startswith("BEGIN")
    assert rec.sql[7].startswith("SAVEPOINT")
    assert rec.sql[8] == INSERT
    assert rec.sql[9].startswith("RELEASE")
    assert rec.sql[10] == "COMMIT"
    assert len(rec.calls) == 11
    assert [c[2] for c in rec.calls[:2]] == [False, True]
    assert rec.calls[0][3] == ExecuteContext("default", conn, True)


async def test_async_wrapper_as_plain_with_block(item: None) -> None:
    conn = async_connections["default"]
    rec = AsyncRecorder()
    with conn.execute_wrapper(rec):
        await conn.fetchone("SELECT 1")
    await conn.fetchone("SELECT 2")
    assert rec.sql == ["SELECT 1"]


async def test_async_wrapper_can_alter_and_refuse(item: None) -> None:
    conn = async_connections["default"]

    async def shout(execute: Any, sql: str, params: Any, many: bool, ctx: Any) -> Any:
        if sql.startswith("INSERT"):
            if params[0] < 0:
                raise PermissionError("negative")
            params = [params[0], params[1].upper()]
        return await execute(sql, params, many, ctx)

    async with conn.execute_wrapper(shout):
        await conn.execute(INSERT, [1, "one"])
        with pytest.raises(PermissionError):
            await conn.execute(INSERT, [-1, "minus"])
    assert await conn.fetchall("SELECT n, tag FROM item") == [(1, "ONE")]


async def test_async_wrapper_sees_translated_errors(item: None) -> None:
    conn = async_connections["default"]
    await conn.execute(INSERT, [1, "one"])
    rec = AsyncRecorder()
    async with conn.execute_wrapper(rec):
        with pytest.raises(IntegrityError):
            await conn.execute(INSERT, [1, "dup"])
    assert isinstance(rec.errors[0], IntegrityError)


# register_execute_wrapper (process-wide) ------------------------------------------------


async def test_process_wide_wrappers(db: Any) -> None:
    db.create_table("item", COLUMNS)
    dorm.configure(DATABASES={"default": db.settings, "other": db.settings})
    log: list[str] = []
    every, only_other = Recorder("every", log), Recorder("other", log)
    aevery = AsyncRecorder("aevery", log)
    local = Recorder("local", log)

    reg_every = register_execute_wrapper(sync=every, async_=aevery)
    reg_other = register_execute_wrapper(sync=only_other, alias="other")
    try:
        # Every thread, alias filter, and process-wide wrappers outside the local ones.
        with connections["default"].execute_wrapper(local):
            connections["default"].execute("SELECT 1")
        assert log == ["every", "local"]

        thread = threading.Thread(target=lambda: connections["other"].execute("SELECT 2"))
        thread.start()
        thread.join()
        assert log[2:] == ["every", "other"]
        assert every.sql == ["SELECT 1", "SELECT 2"]
        assert [c[3].alias for c in every.calls] == ["default", "other"]
        assert only_other.sql == ["SELECT 2"]

        # Every task; the async side has its own wrappers.
        await asyncio.gather(*(async_connections["default"].fetchone("SELECT 3") for _ in range(5)))
        assert aevery.sql == ["SELECT 3"] * 5
        assert all(c[3].is_async for c in aevery.calls)
        assert every.sql == ["SELECT 1", "SELECT 2"]
    finally:
        reg_every.remove()
        reg_other.remove()

    connections["default"].execute("SELECT 4")
    await async_connections["default"].fetchone("SELECT 4")
    assert len(every.calls) == 2 and len(aevery.calls) == 5 and len(only_other.calls) == 1
    reg_every.remove()  # removing twice is harmless


def test_process_wide_wrapper_as_context_manager(db: Any) -> None:
    rec = Recorder()
    with register_execute_wrapper(sync=rec):
        connections["default"].execute("SELECT 1")
    connections["default"].execute("SELECT 2")
    assert rec.sql == ["SELECT 1"]


def test_process_wide_wrappers_run_in_registration_order(db: Any) -> None:
    log: list[str] = []
    with (
        register_execute_wrapper(sync=Recorder("first", log)),
        register_execute_wrapper(sync=Recorder("second", log)),
    ):
        connections["default"].execute("SELECT 1")
    assert log == ["first", "second"]


def test_process_wide_wrapper_can_count_and_fail_statements(db: Any) -> None:
    db.create_table("item", COLUMNS)
    counts: dict[str, int] = {}

    class Breaker(Exception):
        pass

    def guard(execute: Callable[..., Any], sql: str, params: Any, many: bool, ctx: Any) -> Any:
        verb = sql.split()[0].upper()
        counts[verb] = counts.get(verb, 0) + 1
        if "forbidden" in (params or []):
            raise Breaker("refused")
        return execute(sql, params, many, ctx)

    conn = connections["default"]
    with register_execute_wrapper(sync=guard):
        conn.execute(INSERT, [1, "ok"])
        with pytest.raises(Breaker):
            conn.execute(INSERT, [2, "forbidden"])
        conn.fetchall("SELECT n FROM item")
    assert counts == {"INSERT": 2, "SELECT": 1}
    assert conn.fetchall("SELECT n FROM item") == [(1,)]


def test_register_needs_a_wrapper() -> None:
    with pytest.raises(TypeError, match=r"needs sync=\.\.\., async_=\.\.\. or both"):
        register_execute_wrapper()
