"""dorm.contrib.listen_notify on a real PostgreSQL: LISTEN / NOTIFY, sync and async.

The seed's example end to end, the dedicated connection, transactional delivery (never
from a rolled-back block), channel-name safety, the payload limit, and reconnection.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
from helpers import Runner, terminate

import dorm
from dorm import exceptions, transaction
from dorm.conf import settings
from dorm.contrib.listen_notify import (
    MAX_PAYLOAD_BYTES,
    Notification,
    anotify,
    listen,
    notify,
)
from dorm.db import async_connections, connections
from dorm.testing import CaptureQueries


@pytest.fixture(params=["sync", "async"])
def run(request: pytest.FixtureRequest) -> Runner:
    return Runner(request.param)


@pytest.fixture
def pg(configure_pg: Any) -> Any:
    configure_pg()
    return connections["default"]


async def send(run: Runner, channel: str, payload: str | None = "") -> None:
    if run.is_async:
        await anotify(channel, payload)
    else:
        notify(channel, payload)


async def wait_until_listening(admin: psycopg.Connection[Any], sql: str) -> int:
    """The pid of the session whose last statement was ``sql`` (a LISTEN), once there is one."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        row = admin.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND query = %s AND state = 'idle'",
            [sql],
        ).fetchone()
        if row is not None:
            return int(row[0])
        await asyncio.sleep(0.01)
    raise AssertionError(f"nobody ran {sql!r}")


# The seed's example ------------------------------------------------------------------------


async def test_the_seed_example(
    pg: Any, admin: psycopg.Connection[Any], capsys: pytest.CaptureFixture[str]
) -> None:
    # As written in the seed:
    async def consumer():  # type: ignore[no-untyped-def]
        async with listen("orders") as channel:
            async for n in channel:
                print(f"{n.channel}: {n.payload} (pid={n.pid})")
                if n.payload == "stop":
                    break

    task = asyncio.create_task(consumer())
    await wait_until_listening(admin, 'LISTEN "orders"')

    await anotify("orders", '{"id": 42}')

    await anotify("orders", "stop")
    await asyncio.wait_for(task, 10)
    sender = (await async_connections["default"].fetchone("SELECT pg_backend_pid()"))[0]
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(" (pid=")[0] for line in lines] == ['orders: {"id": 42}', "orders: stop"]
    pids = {int(line.split("(pid=")[1].rstrip(")")) for line in lines}
    assert pids <= {sender} | {p for (p,) in admin.execute("SELECT pid FROM pg_stat_activity")}


async def test_listen_holds_a_dedicated_connection_closed_on_exit(
    configure_pg: Any, admin: psycopg.Connection[Any], run: Runner
) -> None:
    configure_pg(pool={"min_size": 1, "max_size": 2})
    if run.is_async:
        async with listen("jobs", "orders") as channel:
            pid = channel.pid
            # The pool still serves both of its connections meanwhile.
            aconn = async_connections["default"]
            seen = await asyncio.gather(
                *(aconn.fetchone("SELECT pg_backend_pid(), pg_sleep(0.05)") for _ in range(4))
            )
            assert pid not in {row[0] for row in seen}
            listening = admin.execute(
                "SELECT query FROM pg_stat_activity WHERE pid = %s", [pid]
            ).fetchone()
            assert listening == ('LISTEN "orders"',)
    else:
        with listen("jobs", "orders") as channel:
            pid = channel.pid
            assert connections["default"].fetchone("SELECT pg_backend_pid()")[0] != pid
    assert pid is not None
    deadline = time.monotonic() + 5
    while admin.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", [pid]).fetchone():
        assert time.monotonic() < deadline, "the listening connection was not closed"
        time.sleep(0.01)
    assert channel.pid is None
    with pytest.raises(RuntimeError, match="has ended"):
        if run.is_async:
            await channel.get(timeout=0)
        else:
            channel.get(timeout=0)


# Delivery -----------------------------------------------------------------------------------


async def test_notifications_are_transactional(pg: Any, run: Runner) -> None:
    async with listen("events") as channel:
        with pytest.raises(RuntimeError):
            async with run.atomic():
                await send(run, "events", "rolled back")
                raise RuntimeError("roll back")

        async with run.atomic():
            await send(run, "events", "committed")
            with pytest.raises(TimeoutError):  # not before the commit
                await channel.get(timeout=0.3)
        await send(run, "events", "autocommit")

        # A rolled-back savepoint drops its notifications too.
        async with run.atomic():
            with pytest.raises(RuntimeError):
                async with run.atomic():
                    await send(run, "events", "savepoint rolled back")
                    raise RuntimeError
            await send(run, "events", "kept")

        got = [(await channel.get(timeout=5)).payload for _ in range(3)]
        assert got == ["committed", "autocommit", "kept"]
        with pytest.raises(TimeoutError):
            await channel.get(timeout=0.3)  # "rolled back" never arrives


def test_sync_listen(pg: Any) -> None:
    with listen("a", "b") as channel:
        notify("a", "1")
        notify("b", "2")
        notify("c", "not listened to")
        notify("a")
        received = []
        for n in channel:
            received.append(n)
            if len(received) == 3:
                break
        assert [(n.channel, n.payload) for n in received] == [("a", "1"), ("b", "2"), ("a", "")]
        assert all(isinstance(n, Notification) and n.pid > 0 for n in received)
        # Leaving the loop early leaves the channel usable.
        notify("b", "again")
        assert channel.get(timeout=5) == ("b", "again", received[0].pid)
        with pytest.raises(TimeoutError):
            channel.get(timeout=0.2)


async def test_notifications_wait_while_the_loop_body_runs(pg: Any, run: Runner) -> None:
    async with listen("q") as channel:
        for i in range(3):
            await send(run, "q", str(i))
        received = []
        async for n in channel:
            received.append(n.payload)
            if len(received) == 1:
                await send(run, "q", "3")  # arrives while we are not waiting
                await asyncio.sleep(0.1)
            if len(received) == 4:
                break
        assert received == ["0", "1", "2", "3"]


# Channel names and payloads -----------------------------------------------------------------


HOSTILE = [
    'x"; DROP TABLE victim; --',
    "orders; DROP TABLE victim",
    '"victim"',
    "a'b",
    'q""q',
    "Orders",
    "orders",
    "ünïcödé",
]


async def test_a_channel_name_cannot_run_sql(
    pg: Any, run: Runner, admin: psycopg.Connection[Any]
) -> None:
    admin.execute("DROP TABLE IF EXISTS victim")
    admin.execute("CREATE TABLE victim (n integer)")
    try:
        async with listen(*HOSTILE) as channel:
            for name in HOSTILE:
                await send(run, name, name)
            got = [await channel.get(timeout=5) for _ in HOSTILE]
        # Each name is exactly one channel (case-sensitive), nothing else ran.
        assert [(n.channel, n.payload) for n in got] == [(name, name) for name in HOSTILE]
        assert admin.execute("SELECT count(*) FROM victim").fetchone() == (0,)
        with listen('x"; DROP TABLE victim; --') as sync_channel:
            notify('x"; DROP TABLE victim; --', "sync")
            assert sync_channel.get(timeout=5).payload == "sync"
        assert admin.execute("SELECT to_regclass('victim') IS NOT NULL").fetchone() == (True,)
    finally:
        admin.execute("DROP TABLE IF EXISTS victim")


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("", ValueError),
        ("x" * 64, ValueError),
        ("é" * 32, ValueError),
        ("a\x00b", ValueError),
        (5, TypeError),
        (None, TypeError),
    ],
)
async def test_invalid_channel_names(pg: Any, run: Runner, name: Any, error: type) -> None:
    with CaptureQueries() as captured:
        with pytest.raises(error):
            await send(run, name, "x")
        with pytest.raises(error):
            listen("ok", name)
    assert captured.queries == []
    assert len(("x" * 63).encode()) == 63
    async with listen("x" * 63) as channel:  # the longest name PostgreSQL takes
        await send(run, "x" * 63, "long")
        assert (await channel.get(timeout=5)).payload == "long"


async def test_payload_limit(pg: Any, run: Runner) -> None:
    largest = "x" * MAX_PAYLOAD_BYTES
    assert len(largest.encode()) == 7_999
    async with listen("big") as channel:
        await send(run, "big", largest)
        await send(run, "big", "é" * 3_999 + "x")  # 7,999 bytes in UTF-8
        assert (await channel.get(timeout=5)).payload == largest
        assert (await channel.get(timeout=5)).payload == "é" * 3_999 + "x"
        with CaptureQueries() as captured:
            for payload in ("x" * 8_000, "é" * 4_000):
                with pytest.raises(ValueError, match="shorter than 8000 bytes"):
                    await send(run, "big", payload)
            with pytest.raises(TypeError, match="must be a str"):
                await send(run, "big", {"id": 1})  # type: ignore[arg-type]
            with pytest.raises(ValueError, match="NUL"):
                await send(run, "big", "a\x00b")
        assert captured.queries == []  # nothing reached the server
        await send(run, "big", None)
        assert (await channel.get(timeout=5)).payload == ""


# Reconnecting ---------------------------------------------------------------------------------


async def test_reconnect_and_relisten(pg: Any, run: Runner, admin: psycopg.Connection[Any]) -> None:
    calls: list[int] = []

    async def on_reconnect_async() -> None:
        calls.append(1)

    def on_reconnect_sync() -> None:
        calls.append(1)

    options = {"reconnect": True, "reconnect_delay": 0.05}
    if run.is_async:
        async with listen("orders", on_reconnect=on_reconnect_async, **options) as channel:
            first = channel.pid
            assert first is not None
            terminate(admin, first)
            deadline = time.monotonic() + 20
            while True:  # notifications sent while reconnecting are lost: send until heard
                await anotify("orders", "after")
                try:
                    n = await channel.get(timeout=0.2)
                    break
                except TimeoutError:
                    assert time.monotonic() < deadline, "never reconnected"
    else:
        with listen("orders", on_reconnect=on_reconnect_sync, **options) as channel:
            first = channel.pid
            assert first is not None
            terminate(admin, first)
            deadline = time.monotonic() + 20
            while True:
                notify("orders", "after")
                try:
                    n = channel.get(timeout=0.2)
                    break
                except TimeoutError:
                    assert time.monotonic() < deadline, "never reconnected"
    assert n.payload == "after"
    assert channel.reconnects == 1 and calls == [1]
    assert n.pid != first


async def test_without_reconnect_a_lost_connection_raises(
    pg: Any, admin: psycopg.Connection[Any]
) -> None:
    async with listen("orders") as channel:
        assert channel.pid is not None
        terminate(admin, channel.pid)
        with pytest.raises(exceptions.OperationalError) as info:
            await channel.get(timeout=5)
        assert info.value.connection_lost  # type: ignore[attr-defined]


async def test_other_backends_raise_not_supported(
    configure_pg: Any, tmp_path: Path, run: Runner
) -> None:
    configure_pg()
    lite = {"ENGINE": "sqlite", "NAME": str(tmp_path / "lite.sqlite3")}
    dorm.configure(DATABASES={**settings.DATABASES, "lite": lite})
    with pytest.raises(exceptions.NotSupportedError, match="needs PostgreSQL"):
        if run.is_async:
            await anotify("x", "y", using="lite")
        else:
            notify("x", "y", using="lite")
    with pytest.raises(exceptions.NotSupportedError, match="needs PostgreSQL"):
        if run.is_async:
            async with listen("x", using="lite"):
                pass
        else:
            with listen("x", using="lite"):
                pass
    if run.is_async:
        await async_connections["lite"].close()
    assert transaction.get_autocommit()
