"""Acceptance: ORM writes inside ``atomic`` from 8 threads and inside ``aatomic`` from 50
asyncio tasks, with nested savepoints, lose no row and invent none.

Each worker runs transactions that create rows through the models, increment a shared
counter with ``F()``, and ``update_or_create`` its own row. Some savepoints and some whole
transactions fail on purpose; the final tables must hold exactly what committed.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import pytest
from orm_models import Counter, Ledger

from dorm import F
from dorm.transaction import aatomic, atomic

THREADS = 8
TX_PER_THREAD = 30
TASKS = 50
TX_PER_TASK = 6


class Boom(Exception):
    pass


def savepoint_fails(seq: int) -> bool:
    return seq % 3 == 0


def transaction_fails(seq: int) -> bool:
    return seq % 5 == 4


def expected_rows(workers: int, per_worker: int) -> list[tuple[int, int, str]]:
    rows = []
    for worker in range(workers):
        for seq in range(per_worker):
            if transaction_fails(seq):
                continue
            rows.append((worker, seq, "tx"))
            if not savepoint_fails(seq):
                rows.append((worker, seq, "sp"))
            rows.append((worker, seq, "inner"))
    return sorted(rows)


def committed(per_worker: int) -> int:
    return sum(1 for seq in range(per_worker) if not transaction_fails(seq))


def last_committed(per_worker: int) -> int:
    return max(seq for seq in range(per_worker) if not transaction_fails(seq))


def run_threads(target: Callable[[int], None], count: int) -> None:
    barrier = threading.Barrier(count)
    errors: list[BaseException] = []

    def body(worker: int) -> None:
        try:
            barrier.wait()
            target(worker)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=body, args=(w,)) for w in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a worker thread hung"
    if errors:
        raise errors[0]


def table_state() -> tuple[list[tuple[int, int, str]], int, dict[str, int]]:
    rows = sorted(Ledger.objects.values_list("worker", "seq", "kind"))
    total = Counter.objects.get(name="total").value
    per_worker = dict(Counter.objects.exclude(name="total").values_list("name", "value"))
    return rows, total, per_worker


def test_atomic_in_threads_with_nested_savepoints(orm: Any) -> None:
    Counter.objects.create(name="total", value=0)

    def worker(w: int) -> None:
        for seq in range(TX_PER_THREAD):
            try:
                with atomic():
                    Ledger.objects.create(worker=w, seq=seq, kind="tx")
                    try:
                        with atomic():
                            Ledger(worker=w, seq=seq, kind="sp").save()
                            if savepoint_fails(seq):
                                raise Boom
                    except Boom:
                        pass
                    with atomic():
                        Ledger.objects.bulk_create([Ledger(worker=w, seq=seq, kind="inner")])
                    Counter.objects.filter(name="total").update(value=F("value") + 1)
                    Counter.objects.update_or_create(name=f"w{w}", defaults={"value": seq})
                    if transaction_fails(seq):
                        raise Boom
            except Boom:
                pass

    run_threads(worker, THREADS)
    rows, total, per_worker = table_state()
    assert rows == expected_rows(THREADS, TX_PER_THREAD)
    assert total == THREADS * committed(TX_PER_THREAD)
    assert per_worker == {f"w{w}": last_committed(TX_PER_THREAD) for w in range(THREADS)}


async def test_aatomic_in_tasks_with_nested_savepoints(orm: Any) -> None:
    await Counter.objects.acreate(name="total", value=0)

    async def worker(w: int) -> None:
        for seq in range(TX_PER_TASK):
            try:
                async with aatomic():
                    await Ledger.objects.acreate(worker=w, seq=seq, kind="tx")
                    try:
                        async with aatomic():
                            await Ledger(worker=w, seq=seq, kind="sp").asave()
                            await asyncio.sleep(0)  # let other tasks interleave
                            if savepoint_fails(seq):
                                raise Boom
                    except Boom:
                        pass
                    async with aatomic():
                        await Ledger.objects.abulk_create([Ledger(worker=w, seq=seq, kind="inner")])
                    await Counter.objects.filter(name="total").aupdate(value=F("value") + 1)
                    await Counter.objects.aupdate_or_create(name=f"w{w}", defaults={"value": seq})
                    if transaction_fails(seq):
                        raise Boom
            except Boom:
                pass

    await asyncio.wait_for(asyncio.gather(*(worker(w) for w in range(TASKS))), timeout=120)
    rows = sorted(
        [r async for r in Ledger.objects.values_list("worker", "seq", "kind")]  # type: ignore[misc]
    )
    assert rows == expected_rows(TASKS, TX_PER_TASK)
    assert (await Counter.objects.aget(name="total")).value == TASKS * committed(TX_PER_TASK)
    per_worker = {c.name: c.value async for c in Counter.objects.exclude(name="total")}
    assert per_worker == {f"w{w}": last_committed(TX_PER_TASK) for w in range(TASKS)}


@pytest.mark.parametrize("mode", ["threads", "tasks"])
async def test_concurrent_get_or_create_makes_one_row(orm: Any, mode: str) -> None:
    results: list[bool] = []
    if mode == "threads":

        def worker(w: int) -> None:
            _, created = Counter.objects.get_or_create(name="shared", defaults={"value": w})
            results.append(created)

        run_threads(worker, THREADS)
    else:

        async def task(w: int) -> None:
            _, created = await Counter.objects.aget_or_create(name="shared", defaults={"value": w})
            results.append(created)

        await asyncio.gather(*(task(w) for w in range(TASKS)))
    assert results.count(True) == 1
    assert await Counter.objects.filter(name="shared").acount() == 1
