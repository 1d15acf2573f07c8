"""Transactions at the raw-SQL level: ``atomic`` / ``aatomic``, savepoints, ``on_commit``."""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

import pytest

from dorm import transaction
from dorm.db import async_connections, connections
from dorm.exceptions import IntegrityError, TransactionManagementError
from dorm.transaction import aatomic, aon_commit, atomic, on_commit

COLUMNS = "n integer NOT NULL UNIQUE"


class Boom(Exception):
    pass


@pytest.fixture
def item(db: Any) -> None:
    db.create_table("item", COLUMNS)


def insert(n: int) -> None:
    connections["default"].execute("INSERT INTO item (n) VALUES (%s)", [n])


def rows() -> list[int]:
    return [n for (n,) in connections["default"].fetchall("SELECT n FROM item ORDER BY n")]


async def ainsert(n: int) -> None:
    await async_connections["default"].execute("INSERT INTO item (n) VALUES (%s)", [n])


async def arows() -> list[int]:
    result = await async_connections["default"].fetchall("SELECT n FROM item ORDER BY n")
    return [n for (n,) in result]


# atomic (sync) ----------------------------------------------------------------------------


def test_atomic_commits(item: None) -> None:
    assert transaction.get_autocommit()
    with atomic():
        assert not transaction.get_autocommit()
        assert not connections["default"].get_autocommit()
        insert(1)
        insert(2)
    assert transaction.get_autocommit()
    assert rows() == [1, 2]


def test_atomic_rolls_back_on_exception(item: None) -> None:
    with pytest.raises(Boom), atomic():
        insert(1)
        raise Boom
    assert rows() == []
    assert transaction.get_autocommit()


def test_uncommitted_rows_are_invisible_to_other_threads(item: None) -> None:
    seen: list[Any] = []

    def look() -> None:
        seen.append((transaction.get_autocommit(), rows()))

    with atomic():
        insert(1)
        thread = threading.Thread(target=look)
        thread.start()
        thread.join()
    assert seen == [(True, [])]
    assert rows() == [1]


def test_nested_blocks_are_savepoints(item: None) -> None:
    with atomic():
        insert(1)
        with atomic():
            insert(2)
        with pytest.raises(Boom), atomic():
            insert(3)
            raise Boom
        with atomic():
            insert(4)
            with pytest.raises(Boom), atomic():
                insert(5)
                raise Boom
        assert rows() == [1, 2, 4]
    assert rows() == [1, 2, 4]


def test_savepoint_recovers_from_a_database_error(item: None) -> None:
    with atomic():
        insert(1)
        with pytest.raises(IntegrityError), atomic():
            insert(1)
        insert(2)
    assert rows() == [1, 2]


def test_inner_block_without_savepoint_dooms_the_transaction(item: None) -> None:
    with atomic():
        insert(1)
        with pytest.raises(Boom), atomic(savepoint=False):
            insert(2)
            raise Boom
        assert transaction.get_rollback()
        with pytest.raises(TransactionManagementError, match="until the end of the 'atomic'"):
            insert(3)
    assert rows() == []


def test_durable_block_cannot_be_nested(item: None) -> None:
    with atomic(durable=True):
        insert(1)
    with atomic():
        insert(2)
        with pytest.raises(RuntimeError, match="durable"), atomic(durable=True):
            pass
        insert(3)
    assert rows() == [1, 2, 3]


def test_atomic_as_decorator(item: None) -> None:
    @atomic
    def plain(n: int) -> None:
        insert(n)
        if n < 0:
            raise Boom

    @atomic(using="default")
    def with_args(n: int) -> str:
        insert(n)
        return "ok"

    plain(1)
    with pytest.raises(Boom):
        plain(-1)
    assert with_args(2) == "ok"
    assert rows() == [1, 2]


def test_set_rollback(item: None) -> None:
    with atomic():
        insert(1)
        assert not transaction.get_rollback()
        transaction.set_rollback(True)
        assert transaction.get_rollback()
    assert rows() == []

    with atomic():
        insert(2)
        transaction.set_rollback(True)
        transaction.set_rollback(False)
    assert rows() == [2]

    with atomic():
        insert(3)
        with atomic():
            insert(4)
            transaction.set_rollback(True)  # rolls back the savepoint only
    assert rows() == [2, 3]

    with pytest.raises(TransactionManagementError, match="outside of an 'atomic' block"):
        transaction.set_rollback(True)


def test_on_commit_runs_after_commit(item: None) -> None:
    calls: list[Any] = []
    with atomic():
        insert(1)
        on_commit(lambda: calls.append(("first", rows())))
        with atomic():
            on_commit(lambda: calls.append("second"))
        assert calls == []
    assert calls == [("first", [1]), "second"]


def test_on_commit_outside_a_transaction_runs_now(db: Any) -> None:
    calls: list[str] = []
    on_commit(lambda: calls.append("now"))
    assert calls == ["now"]


def test_on_commit_dropped_on_rollback(item: None) -> None:
    calls: list[str] = []
    with pytest.raises(Boom), atomic():
        on_commit(lambda: calls.append("rolled back"))
        raise Boom
    with atomic():
        on_commit(lambda: calls.append("set_rollback"))
        transaction.set_rollback(True)
    assert calls == []


def test_on_commit_dropped_with_its_savepoint(item: None) -> None:
    calls: list[str] = []
    with atomic():
        on_commit(lambda: calls.append("outer"))
        with pytest.raises(Boom), atomic():
            on_commit(lambda: calls.append("failed savepoint"))
            with atomic():
                on_commit(lambda: calls.append("inside failed savepoint"))
            raise Boom
        with atomic():
            on_commit(lambda: calls.append("kept savepoint"))
    assert calls == ["outer", "kept savepoint"]


def test_on_commit_robust_and_failing_callbacks(
    item: None, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[str] = []

    def fail() -> None:
        raise Boom

    with caplog.at_level(logging.ERROR, logger="dorm.transaction"), atomic():
        insert(1)
        on_commit(fail, robust=True)
        on_commit(lambda: calls.append("after robust"))
    assert calls == ["after robust"]
    assert "on_commit callback" in caplog.text

    with pytest.raises(Boom), atomic():
        insert(2)
        on_commit(fail)
    assert rows() == [1, 2]  # committed before the callback failed


# aatomic (async) --------------------------------------------------------------------------


async def test_aatomic_commits(item: None) -> None:
    assert transaction.get_autocommit()
    async with aatomic():
        assert not transaction.get_autocommit()
        assert not async_connections["default"].get_autocommit()
        await ainsert(1)
        await ainsert(2)
    assert transaction.get_autocommit()
    assert await arows() == [1, 2]


async def test_aatomic_rolls_back_on_exception(item: None) -> None:
    with pytest.raises(Boom):
        async with aatomic():
            await ainsert(1)
            raise Boom
    assert await arows() == []


async def test_aatomic_nested_savepoints(item: None) -> None:
    async with aatomic():
        await ainsert(1)
        async with aatomic():
            await ainsert(2)
        with pytest.raises(Boom):
            async with aatomic():
                await ainsert(3)
                raise Boom
        with pytest.raises(IntegrityError):
            async with aatomic():
                await ainsert(1)
        async with aatomic():
            await ainsert(4)
            transaction.set_rollback(True)
        assert await arows() == [1, 2]
    assert await arows() == [1, 2]


async def test_aatomic_durable(item: None) -> None:
    async with aatomic(durable=True):
        await ainsert(1)
    async with aatomic():
        with pytest.raises(RuntimeError, match="durable"):
            async with aatomic(durable=True):
                pass
        await ainsert(2)
    assert await arows() == [1, 2]


async def test_aatomic_set_rollback_and_doomed_transaction(item: None) -> None:
    async with aatomic():
        await ainsert(1)
        transaction.set_rollback(True)
        assert transaction.get_rollback()
    async with aatomic():
        await ainsert(2)
        with pytest.raises(Boom):
            async with aatomic(savepoint=False):
                raise Boom
        with pytest.raises(TransactionManagementError):
            await ainsert(3)
    assert await arows() == []


async def test_aatomic_as_decorator(item: None) -> None:
    @aatomic
    async def add(n: int) -> int:
        await ainsert(n)
        if n < 0:
            raise Boom
        return n

    assert await add(1) == 1
    with pytest.raises(Boom):
        await add(-1)
    assert await aatomic(using="default")(add)(2) == 2
    assert await arows() == [1, 2]

    with pytest.raises(TypeError, match="coroutine functions"):
        aatomic()(lambda: None)


async def test_aatomic_binds_the_task_only(item: None) -> None:
    async def child_view() -> bool:
        return transaction.get_autocommit()

    async with aatomic():
        await ainsert(1)
        # A child task borrows its own connection: it is not inside the transaction.
        assert await asyncio.create_task(child_view()) is True
        assert transaction.get_autocommit() is False


async def test_concurrent_aatomic_blocks_are_independent(item: None) -> None:
    async def work(n: int) -> None:
        async with aatomic():
            await ainsert(n)
            await asyncio.sleep(0)
            if n % 2:
                transaction.set_rollback(True)

    await asyncio.gather(*(work(n) for n in range(10)))
    assert await arows() == [0, 2, 4, 6, 8]


async def test_async_on_commit(item: None) -> None:
    calls: list[Any] = []

    async def acallback() -> None:
        await asyncio.sleep(0)
        calls.append("async")

    async with aatomic():
        await ainsert(1)
        on_commit(lambda: calls.append("sync"))
        on_commit(acallback)
        await aon_commit(lambda: calls.append("aon_commit"))
        with pytest.raises(Boom):
            async with aatomic():
                on_commit(lambda: calls.append("dropped with savepoint"))
                raise Boom
        assert calls == []
    assert calls == ["sync", "async", "aon_commit"]

    with pytest.raises(Boom):
        async with aatomic():
            on_commit(lambda: calls.append("dropped with rollback"))
            raise Boom
    assert calls == ["sync", "async", "aon_commit"]


async def test_aon_commit_outside_a_transaction_runs_now(db: Any) -> None:
    calls: list[str] = []

    async def acallback() -> None:
        calls.append("awaited")

    await aon_commit(acallback)
    await aon_commit(lambda: calls.append("sync"))
    assert calls == ["awaited", "sync"]
    with pytest.raises(TransactionManagementError, match="use aon_commit"):
        on_commit(acallback)
