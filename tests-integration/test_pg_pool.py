"""Connections and pools on PostgreSQL: dead connections, concurrency, checkout timeouts.

Every scenario runs without a pool (sync: one connection per thread; async: the small
built-in pool) and with ``OPTIONS["pool"]`` (psycopg_pool, sync and async).
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import psycopg
import pytest
from helpers import terminate
from pg_models import Kind

from dorm import exceptions, transaction
from dorm.db import async_connections, connections

POOLED = {"pool": {"min_size": 2, "max_size": 2, "timeout": 10}}
PID = "SELECT pg_backend_pid()"


@pytest.fixture(params=["per-thread", "pooled"])
def mode(request: pytest.FixtureRequest, configure_pg: Any) -> str:
    configure_pg(**(POOLED if request.param == "pooled" else {}))
    return str(request.param)


# A connection killed on the server (pg_terminate_backend) -----------------------------------


def test_sync_killed_connection_is_replaced_outside_a_transaction(
    mode: str, admin: psycopg.Connection[Any]
) -> None:
    conn = connections["default"]
    (pid,) = conn.fetchone(PID)
    terminate(admin, pid)
    # The next statement succeeds, on a new connection.
    (new_pid,) = conn.fetchone(PID)
    assert new_pid != pid
    # And the dead one is never handed out again.
    seen = {conn.fetchone(PID)[0] for _ in range(20)}
    assert pid not in seen
    if mode == "pooled":
        assert conn.pool.get_stats()["pool_size"] <= 2


def test_sync_killed_connection_inside_a_transaction(
    mode: str, admin: psycopg.Connection[Any]
) -> None:
    conn = connections["default"]
    with pytest.raises(exceptions.OperationalError) as info, transaction.atomic():
        (pid,) = conn.fetchone(PID)
        terminate(admin, pid)
        conn.fetchone("SELECT 1")
    assert info.value.connection_lost  # type: ignore[attr-defined]
    assert "was lost" in str(info.value) and "'default'" in str(info.value)
    assert isinstance(info.value.__cause__, psycopg.OperationalError)
    # No silent reconnection inside the block: every statement of it fails the same way.
    with pytest.raises(exceptions.OperationalError), transaction.atomic():
        (pid2,) = conn.fetchone(PID)
        terminate(admin, pid2)
        with pytest.raises(exceptions.OperationalError):
            conn.fetchone("SELECT 1")
        conn.fetchone("SELECT 2")
    # After the block: a fresh connection, and the dead ones never come back.
    seen = {conn.fetchone(PID)[0] for _ in range(20)}
    assert not {pid, pid2} & seen
    with transaction.atomic():
        assert conn.fetchone("SELECT 1") == (1,)


async def test_async_killed_connection_is_replaced_outside_a_transaction(
    mode: str, admin: psycopg.Connection[Any]
) -> None:
    aconn = async_connections["default"]
    pids = {(await aconn.fetchone(PID))[0] for _ in range(5)}
    for pid in pids:  # every idle connection of the pool dies
        terminate(admin, pid)
    (new_pid,) = await aconn.fetchone(PID)
    assert new_pid not in pids
    seen = {(await aconn.fetchone(PID))[0] for _ in range(20)}
    seen |= {row[0] for row in await asyncio.gather(*(aconn.fetchone(PID) for _ in range(10)))}
    assert not pids & seen


async def test_async_killed_connection_inside_a_transaction(
    mode: str, admin: psycopg.Connection[Any]
) -> None:
    aconn = async_connections["default"]
    with pytest.raises(exceptions.OperationalError) as info:
        async with transaction.aatomic():
            (pid,) = await aconn.fetchone(PID)
            terminate(admin, pid)
            await aconn.fetchone("SELECT 1")
    assert info.value.connection_lost  # type: ignore[attr-defined]
    assert "was lost" in str(info.value)
    seen = {(await aconn.fetchone(PID))[0] for _ in range(10)}
    assert pid not in seen
    async with transaction.aatomic():
        assert (await aconn.fetchone(PID))[0] != pid


# Concurrency ------------------------------------------------------------------------------------


async def test_200_concurrent_tasks_on_a_pool_of_10(configure_pg: Any, tables: Any) -> None:
    configure_pg(pool={"min_size": 1, "max_size": 10, "timeout": 60})
    tables(Kind)
    aconn = async_connections["default"]

    async def task(i: int) -> int:
        if i % 2:
            async with transaction.aatomic():
                await Kind.objects.acreate(name=f"k{i}")
                (pid,) = await aconn.fetchone("SELECT pg_backend_pid() FROM pg_sleep(0.005)")
        else:
            await Kind.objects.acreate(name=f"k{i}")
            (pid,) = await aconn.fetchone("SELECT pg_backend_pid() FROM pg_sleep(0.005)")
        assert await Kind.objects.filter(name=f"k{i}").aexists()
        return int(pid)

    pids = await asyncio.gather(*(task(i) for i in range(200)))
    assert len(pids) == 200
    assert len(set(pids)) <= 10
    assert await Kind.objects.acount() == 200


def test_threads_share_a_sync_pool(configure_pg: Any, tables: Any) -> None:
    configure_pg(pool={"min_size": 1, "max_size": 3, "timeout": 60})
    tables(Kind)
    pids: list[int] = []
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            for i in range(5):
                with transaction.atomic():
                    Kind.objects.create(name=f"t{n}-{i}")
                pids.append(connections["default"].fetchone(PID)[0])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert Kind.objects.count() == 60
    assert len(set(pids)) <= 3


def test_sync_pool_returns_connections_between_statements(configure_pg: Any) -> None:
    configure_pg(pool={"min_size": 1, "max_size": 1, "timeout": 5})
    conn = connections["default"]
    conn.fetchone("SELECT 1")
    assert conn.connection is None  # given back at once outside a transaction
    with transaction.atomic():
        conn.fetchone("SELECT 1")
        assert conn.connection is not None  # kept for the transaction
    assert conn.connection is None


# Checkout timeouts ------------------------------------------------------------------------------


def test_sync_pool_timeout_names_the_alias_and_size(configure_pg: Any) -> None:
    configure_pg(pool={"min_size": 1, "max_size": 1, "timeout": 0.3})
    held = threading.Event()
    release = threading.Event()

    def holder() -> None:
        with transaction.atomic():
            connections["default"].fetchone("SELECT 1")
            held.set()
            release.wait(10)

    thread = threading.Thread(target=holder)
    thread.start()
    try:
        assert held.wait(10)
        started = time.monotonic()
        with pytest.raises(exceptions.PoolTimeout) as info:
            connections["default"].fetchone("SELECT 1")
        assert time.monotonic() - started < 5
    finally:
        release.set()
        thread.join()
    message = str(info.value)
    assert "'default'" in message and "max_size=1" in message and "0.3" in message
    assert isinstance(info.value, exceptions.OperationalError)
    assert connections["default"].fetchone("SELECT 1") == (1,)  # free again


async def test_async_pool_timeout_names_the_alias_and_size(configure_pg: Any) -> None:
    configure_pg(pool={"min_size": 1, "max_size": 1, "timeout": 0.3})
    aconn = async_connections["default"]
    held, release = asyncio.Event(), asyncio.Event()

    async def holder() -> None:
        async with transaction.aatomic():
            await aconn.fetchone("SELECT 1")
            held.set()
            await release.wait()

    task = asyncio.create_task(holder())
    await held.wait()
    with pytest.raises(exceptions.PoolTimeout) as info:
        await aconn.fetchone("SELECT 1")
    release.set()
    await task
    message = str(info.value)
    assert "'default'" in message and "max_size=1" in message
    assert await aconn.fetchone("SELECT 1") == (1,)


async def test_unreachable_server_is_reported_as_such(configure_pg: Any) -> None:
    import dorm

    dorm.configure(
        DATABASES={
            "default": {
                "ENGINE": "postgresql",
                "NAME": "nowhere",
                "HOST": "127.0.0.1",
                "PORT": 1,
                "OPTIONS": {"connect_timeout": 2},
            }
        }
    )
    with pytest.raises(exceptions.OperationalError, match="Could not connect to PostgreSQL"):
        connections["default"].fetchone("SELECT 1")
    with pytest.raises(exceptions.OperationalError, match="Could not connect to PostgreSQL"):
        await async_connections["default"].fetchone("SELECT 1")


async def test_conn_max_age_replaces_old_connections(configure_pg: Any, postgres: Any) -> None:
    import dorm

    dorm.configure(
        DATABASES={
            "default": {
                "ENGINE": "postgresql",
                "CONN_MAX_AGE": 0.3,
                "OPTIONS": {"conninfo": postgres.dsn},
            }
        }
    )
    conn, aconn = connections["default"], async_connections["default"]
    (pid,) = conn.fetchone(PID)
    (apid,) = await aconn.fetchone(PID)
    assert conn.fetchone(PID) == (pid,) and await aconn.fetchone(PID) == (apid,)  # reused
    with transaction.atomic():
        await asyncio.sleep(0.4)
        assert conn.fetchone(PID) == (pid,)  # never replaced inside a transaction
    await asyncio.sleep(0.4)
    assert conn.fetchone(PID) != (pid,)
    assert await aconn.fetchone(PID) != (apid,)
