"""Acceptance: one alias shared by many threads / tasks loses no row and invents none.

Threads each get their own connection from ``connections[alias]``; tasks share one async
wrapper per event loop, which never lets two tasks interleave on one driver connection.
Some blocks fail on purpose; the final table must hold exactly the rows that committed.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import pytest

from dorm.db import async_connections, connections
from dorm.exceptions import IntegrityError
from dorm.transaction import aatomic, atomic

COLUMNS = "worker integer NOT NULL, seq integer NOT NULL, kind varchar(10) NOT NULL, " + (
    "UNIQUE (worker, seq, kind)"
)
INSERT = "INSERT INTO entry (worker, seq, kind) VALUES (%s, %s, %s)"
Row = tuple[int, int, str]

THREADS = 8
STATEMENTS_PER_THREAD = 200
TX_PER_THREAD = 30
TASKS = 50
STATEMENTS_PER_TASK = 20
TX_PER_TASK = 6


class Boom(Exception):
    pass


@pytest.fixture
def entry(db: Any) -> None:
    db.create_table("entry", COLUMNS)


def table_rows() -> list[Row]:
    return connections["default"].fetchall(  # type: ignore[no-any-return]
        "SELECT worker, seq, kind FROM entry ORDER BY worker, seq, kind"
    )


def run_threads(target: Callable[[int], None], count: int) -> None:
    """Start ``count`` threads together; re-raise the first error any of them hit."""
    barrier = threading.Barrier(count)
    errors: list[BaseException] = []

    def run(worker: int) -> None:
        try:
            barrier.wait()
            target(worker)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(w,)) for w in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


# The plan of the transactional workload, shared by the thread and task versions: it says
# which blocks fail, so the exact surviving rows are known in advance.


def outer_fails(seq: int) -> bool:
    return seq % 5 == 4


def inner_fails(seq: int) -> bool:
    return seq % 3 == 0


def expected_tx_rows(workers: int, blocks: int) -> list[Row]:
    rows: list[Row] = []
    for worker in range(workers):
        for seq in range(blocks):
            if outer_fails(seq):
                continue
            rows.append((worker, seq, "outer"))
            if not inner_fails(seq):
                rows.append((worker, seq, "inner"))
                rows.append((worker, seq, "innermost"))
            rows.append((worker, seq, "after"))
    return sorted(rows)


# Threads --------------------------------------------------------------------------------


def test_threads_insert_on_one_alias(entry: None) -> None:
    def work(worker: int) -> None:
        conn = connections["default"]
        for seq in range(STATEMENTS_PER_THREAD):
            conn.execute(INSERT, [worker, seq, "plain"])

    run_threads(work, THREADS)

    expected = [(w, s, "plain") for w in range(THREADS) for s in range(STATEMENTS_PER_THREAD)]
    assert table_rows() == expected


def test_threads_atomic_blocks_with_savepoints(entry: None) -> None:
    def work(worker: int) -> None:
        conn = connections["default"]
        for seq in range(TX_PER_THREAD):
            try:
                with atomic():
                    conn.execute(INSERT, [worker, seq, "outer"])
                    try:
                        with atomic():
                            conn.execute(INSERT, [worker, seq, "inner"])
                            with atomic():
                                conn.execute(INSERT, [worker, seq, "innermost"])
                            if inner_fails(seq):
                                raise Boom
                    except Boom:
                        pass
                    # A database error inside a savepoint leaves the transaction usable.
                    with pytest.raises(IntegrityError), atomic():
                        conn.execute(INSERT, [worker, seq, "outer"])
                    conn.execute(INSERT, [worker, seq, "after"])
                    if outer_fails(seq):
                        raise Boom
            except Boom:
                pass

    run_threads(work, THREADS)

    assert table_rows() == expected_tx_rows(THREADS, TX_PER_THREAD)


# Tasks ----------------------------------------------------------------------------------


async def test_tasks_insert_on_one_alias(entry: None) -> None:
    conn = async_connections["default"]
    start = asyncio.Event()

    async def work(worker: int) -> None:
        await start.wait()
        if worker % 5 == 0:
            async with aatomic():
                for seq in range(STATEMENTS_PER_TASK):
                    await conn.execute(INSERT, [worker, seq, "plain"])
                    await asyncio.sleep(0)
        else:
            for seq in range(STATEMENTS_PER_TASK):
                await conn.execute(INSERT, [worker, seq, "plain"])

    tasks = [asyncio.create_task(work(w)) for w in range(TASKS)]
    await asyncio.sleep(0)
    start.set()
    await asyncio.gather(*tasks)

    assert async_connections["default"] is conn
    expected = [(w, s, "plain") for w in range(TASKS) for s in range(STATEMENTS_PER_TASK)]
    assert table_rows() == expected


async def test_tasks_aatomic_blocks_with_savepoints(entry: None) -> None:
    conn = async_connections["default"]

    async def work(worker: int) -> None:
        for seq in range(TX_PER_TASK):
            try:
                async with aatomic():
                    await conn.execute(INSERT, [worker, seq, "outer"])
                    try:
                        async with aatomic():
                            await conn.execute(INSERT, [worker, seq, "inner"])
                            await asyncio.sleep(0)  # let other tasks run mid-transaction
                            async with aatomic():
                                await conn.execute(INSERT, [worker, seq, "innermost"])
                            if inner_fails(seq):
                                raise Boom
                    except Boom:
                        pass
                    with pytest.raises(IntegrityError):
                        async with aatomic():
                            await conn.execute(INSERT, [worker, seq, "outer"])
                    await conn.execute(INSERT, [worker, seq, "after"])
                    if outer_fails(seq):
                        raise Boom
            except Boom:
                pass

    await asyncio.gather(*(work(w) for w in range(TASKS)))

    assert table_rows() == expected_tx_rows(TASKS, TX_PER_TASK)
