"""dorm.contrib.task_pool on a real PostgreSQL: one connection per task for a block.

Every statement of the pinning task shares one ``pg_backend_pid()`` (ORM queries, raw SQL,
``aatomic()`` inside, nested pins), with psycopg-pool and with the small default pool; tasks
started inside the block get their own connections and ``assert_no_concurrent_gather()``
catches code that relies on sharing the pin; SQLite warns and does nothing.
"""

from __future__ import annotations

import asyncio
import warnings
from pathlib import Path
from typing import Any

import psycopg
import pytest
from pg_models import Kind

import dorm
from dorm import transaction
from dorm.conf import settings
from dorm.contrib.task_pool import (
    Pin,
    PinSharingError,
    assert_no_concurrent_gather,
    pinned_connection,
)
from dorm.db import async_connections


class Author(dorm.Model):
    name = dorm.CharField(max_length=100)
    age = dorm.IntegerField()

    class Meta:
        app_label = "pg_it_pool"
        db_table = "pg_it_pool_author"


POOLS = {
    "psycopg-pool": {"pool": {"min_size": 1, "max_size": 4}},
    "default-pool": {},
}


@pytest.fixture(params=list(POOLS))
def pg(request: pytest.FixtureRequest, configure_pg: Any, tables: Any) -> Any:
    configure_pg(**POOLS[request.param])
    tables(Kind)
    return async_connections


async def backend_pid() -> int:
    row = await async_connections["default"].fetchone("SELECT pg_backend_pid()")
    assert row is not None
    return int(row[0])


async def test_the_seed_example(pg: Any, tables: Any) -> None:
    tables(Author)
    pids: list[int] = []

    # As written in the seed (plus recording the backend of each statement):
    async def handler():  # type: ignore[no-untyped-def]
        async with pinned_connection():
            authors = await Author.objects.acount()
            pids.append(await backend_pid())
            await Author.objects.acreate(name="x", age=1)
            pids.append(await backend_pid())
            return authors

    assert await handler() == 0
    assert await Author.objects.acount() == 1
    assert len(set(pids)) == 1


async def test_every_statement_in_the_block_shares_one_backend(pg: Any) -> None:
    aconn = async_connections["default"]
    async with pinned_connection() as pin:
        assert isinstance(pin, Pin)
        pid = pin.connection.info.backend_pid
        seen = set()
        for i in range(5):
            await Kind.objects.acreate(name=f"k{i}")
            seen.add(await backend_pid())
            assert await Kind.objects.filter(name__startswith="k").acount() == i + 1
            result = await aconn.execute("SELECT pg_backend_pid()")  # raw SQL too
            seen.add((await result.fetchone())[0])  # type: ignore[index]
        [k async for k in Kind.objects.all()]
        async with transaction.aatomic():  # reuses the pin
            await Kind.objects.filter(name="k0").aupdate(count=1)
            seen.add(await backend_pid())
            async with transaction.aatomic():  # a savepoint, same connection
                seen.add(await backend_pid())
        async with pinned_connection():  # nested: the same pin
            seen.add(await backend_pid())
        [k async for k in Kind.objects.aiterator(chunk_size=2)]
        seen.add(await backend_pid())
        # Session state survives between statements: it is one session.
        await aconn.execute("SELECT set_config('application_name', 'pinned', false)")
        assert (await aconn.fetchone("SHOW application_name")) == ("pinned",)
        await aconn.execute("SELECT set_config('application_name', '', false)")
    assert seen == {pid}
    assert await Kind.objects.filter(count=1).acount() == 1


async def test_pins_are_per_task_and_returned_to_the_pool(pg: Any) -> None:
    barrier = asyncio.Barrier(3)

    async def pinned_worker(n: int, together: bool = False) -> set[int]:
        async with pinned_connection():
            seen = set()
            for _ in range(n):
                seen.add(await backend_pid())
                if together:
                    await barrier.wait()  # all three pins are held at once
            return seen

    results = await asyncio.gather(*(pinned_worker(5, True) for _ in range(3)))
    assert all(len(seen) == 1 for seen in results)
    assert len(set().union(*results)) == 3  # three concurrent tasks, three connections
    # Back in the pool: more pinned blocks than the pool's size run one after another.
    for _ in range(10):
        assert len(await pinned_worker(2)) == 1
    # An error inside the block gives the connection back too (not mid-transaction).
    with pytest.raises(ZeroDivisionError):
        async with pinned_connection() as pin:
            await Kind.objects.acreate(name="boom")
            raw = pin.connection
            1 / 0  # noqa: B018
    assert raw.pgconn.transaction_status == psycopg.pq.TransactionStatus.IDLE
    assert await Kind.objects.filter(name="boom").aexists()


async def test_child_tasks_do_not_share_the_pin(pg: Any) -> None:
    async with pinned_connection() as pin:
        assert pin is not None
        pinned = pin.connection.info.backend_pid
        assert_no_concurrent_gather()  # the pinning task: fine

        async def child_query() -> int:
            await asyncio.sleep(0.01)
            row = await async_connections["default"].fetchone(
                "SELECT pg_backend_pid(), pg_sleep(0.05)"
            )
            return int(row[0])  # type: ignore[index]

        # Children run concurrently on connections of their own, never on the pin.
        pids = await asyncio.gather(child_query(), child_query())
        assert pinned not in pids

        async def relies_on_the_pin() -> None:
            assert_no_concurrent_gather()
            await async_connections["default"].fetchone("SELECT 1")

        with pytest.raises(PinSharingError) as info:
            await asyncio.gather(relies_on_the_pin(), relies_on_the_pin())
        message = str(info.value)
        assert "pinned_connection(using='default')" in message
        assert "asyncio.gather()" in message and "never shared" in message

        # The pin itself is untouched.
        assert await backend_pid() == pinned
        assert_no_concurrent_gather(using="other")  # another alias: not pinned here

    async def outside() -> None:
        assert_no_concurrent_gather()

    await asyncio.gather(outside(), outside())  # no pin, nothing to check


async def test_sync_use_is_refused(pg: Any) -> None:
    with pytest.raises(TypeError, match="async with"), pinned_connection():
        pass


async def test_backends_without_a_pool_warn_and_do_nothing(
    configure_pg: Any, tmp_path: Path
) -> None:
    configure_pg()
    lite = {"ENGINE": "sqlite", "NAME": str(tmp_path / "lite.sqlite3")}
    dorm.configure(DATABASES={**settings.DATABASES, "lite": lite})
    with pytest.warns(RuntimeWarning, match="no connection pool; the block does nothing"):
        async with pinned_connection(using="lite") as pin:
            assert pin is None
            assert async_connections["lite"].current_binding() is None
            await async_connections["lite"].fetchall("SELECT 1")
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                assert_no_concurrent_gather(using="lite")
    await async_connections["lite"].close()
