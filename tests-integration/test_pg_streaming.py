"""``iterator()`` / ``aiterator()`` on PostgreSQL: server-side cursors, bounded memory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from helpers import Runner
from pg_models import Kind

from dorm import transaction
from dorm.db import async_connections, connections

PROBE = Path(__file__).resolve().parent / "probes" / "stream_rss.py"
BIG_ROWS = 1_000_000


@pytest.fixture(params=["sync", "async"])
def run(request: pytest.FixtureRequest) -> Runner:
    return Runner(request.param)


@pytest.fixture(scope="module")
def big_table(postgres: Any) -> Iterator[str]:
    """A million rows, generated server-side (no client round trips)."""
    name = "pg_it_big"
    with psycopg.connect(postgres.dsn, autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {name}")
        conn.execute(f"CREATE TABLE {name} (id bigint NOT NULL, n integer NOT NULL, label text)")
        conn.execute(
            f"INSERT INTO {name} (id, n, label) "
            f"SELECT g, g % 1000, 'row-' || g FROM generate_series(1, {BIG_ROWS}) AS g"
        )
    yield name
    with psycopg.connect(postgres.dsn, autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {name}")


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["sync", "async"])
def test_iterating_a_million_rows_grows_peak_rss_by_less_than_50_mb(
    postgres: Any, big_table: str, mode: str
) -> None:
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    result = subprocess.run(
        [sys.executable, str(PROBE), postgres.dsn, big_table, mode, "2000"],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout.strip().splitlines()[-1])
    print(f"\n{mode} iterator(chunk_size=2000) over {BIG_ROWS:,} rows: {data}")
    assert data["rows"] == BIG_ROWS
    assert data["checksum"] == sum(g % 1000 for g in range(1, BIG_ROWS + 1))
    assert data["growth_mb"] < 50, data


@pytest.mark.slow
def test_the_memory_bound_is_meaningful(postgres: Any, big_table: str) -> None:
    """Control: without a server-side cursor the same iteration exceeds the bound."""
    result = subprocess.run(
        [sys.executable, str(PROBE), postgres.dsn, big_table, "client", "2000"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout.strip().splitlines()[-1])
    print(f"\nclient-side iteration over {BIG_ROWS:,} rows: {data}")
    assert data["rows"] == BIG_ROWS
    assert data["growth_mb"] > 50, data


# Semantics ------------------------------------------------------------------------------------


@pytest.fixture
def kinds(configure_pg: Any, tables: Any) -> list[Any]:
    configure_pg()
    tables(Kind)
    return Kind.objects.bulk_create([Kind(name=f"k{i:02}", count=i) for i in range(25)])


async def test_iterator_streams_through_a_server_side_cursor(
    kinds: list[Any], run: Runner, admin: psycopg.Connection[Any]
) -> None:
    qs = Kind.objects.order_by("count")
    seen: list[int] = []
    fetches: list[str] = []
    if run.is_async:
        async for obj in qs.aiterator(chunk_size=7):
            seen.append(obj.count)
            if len(seen) == 1:
                fetches = _fetch_statements(admin)
    else:
        for obj in qs.iterator(chunk_size=7):
            seen.append(obj.count)
            if len(seen) == 1:
                fetches = _fetch_statements(admin)
    assert seen == list(range(25))
    assert fetches and fetches[0].startswith("FETCH FORWARD 7 FROM"), fetches
    # Finished: no cursor or transaction is left open on the server.
    assert _idle_in_transaction(admin) == []


def _fetch_statements(admin: psycopg.Connection[Any]) -> list[str]:
    rows = admin.execute(
        "SELECT query FROM pg_stat_activity WHERE datname = current_database() "
        "AND query LIKE 'FETCH FORWARD%' AND pid <> pg_backend_pid()"
    ).fetchall()
    return [q for (q,) in rows]


def _idle_in_transaction(admin: psycopg.Connection[Any]) -> list[Any]:
    return admin.execute(
        "SELECT pid, query FROM pg_stat_activity WHERE datname = current_database() "
        "AND state LIKE 'idle in transaction%' AND pid <> pg_backend_pid()"
    ).fetchall()


async def test_breaking_out_of_an_iteration_frees_the_cursor(
    kinds: list[Any], run: Runner, admin: psycopg.Connection[Any]
) -> None:
    if run.is_async:
        gen = Kind.objects.aiterator(chunk_size=5)
        async for _obj in gen:
            break
        await gen.aclose()
    else:
        gen = Kind.objects.iterator(chunk_size=5)
        for _obj in gen:
            break
        gen.close()
    assert _idle_in_transaction(admin) == []
    assert await run(Kind.objects.count) == 25


async def test_statements_inside_the_loop_outside_a_transaction(
    kinds: list[Any], run: Runner, admin: psycopg.Connection[Any]
) -> None:
    # The iteration runs in its own read transaction: writes made while iterating are
    # committed at once (autocommit), visible to other sessions immediately.
    for obj in (await run.iterator(Kind.objects.order_by("count"), chunk_size=4))[:3]:
        obj.count += 100
        await run(obj.save)
    if run.is_async:
        async for obj in Kind.objects.order_by("count").aiterator(chunk_size=4):
            if obj.count >= 100:
                continue
            await obj.asave(update_fields=["count"])
            (visible,) = admin.execute(
                "SELECT count FROM pg_it_kind WHERE id = %s", [obj.pk]
            ).fetchone()
            assert visible == obj.count
    else:
        for obj in Kind.objects.order_by("count").iterator(chunk_size=4):
            obj.name = obj.name.upper()
            obj.save(update_fields=["name"])
            (visible,) = admin.execute(
                "SELECT name FROM pg_it_kind WHERE id = %s", [obj.pk]
            ).fetchone()
            assert visible == obj.name
    assert await run(Kind.objects.filter(count__gte=100).count) == 3


async def test_iterator_inside_a_transaction_sees_its_writes(kinds: list[Any], run: Runner) -> None:
    async with run.atomic():
        await run(Kind.objects.create, name="uncommitted", count=99)
        names = [k.name for k in await run.iterator(Kind.objects.filter(count__gte=24), 2)]
        assert sorted(names) == ["k24", "uncommitted"]
        # Writes inside the loop share the transaction (and the cursor survives them).
        count = 0
        if run.is_async:
            async for obj in Kind.objects.order_by("count").aiterator(chunk_size=3):
                obj.count += 1000
                await obj.asave()
                count += 1
        else:
            for obj in Kind.objects.order_by("count").iterator(chunk_size=3):
                obj.count += 1000
                obj.save()
                count += 1
        assert count == 26
    assert await run(Kind.objects.filter(count__gte=1000).count) == 26


def test_server_side_cursors_can_be_turned_off(configure_pg: Any, tables: Any) -> None:
    configure_pg(server_side_cursors=False)
    tables(Kind)
    Kind.objects.bulk_create([Kind(name=f"k{i}") for i in range(10)])
    assert len(list(Kind.objects.iterator(chunk_size=3))) == 10
    assert connections["default"].pg.server_side_cursors is False


async def test_raw_iterate_on_both_sides(kinds: list[Any]) -> None:
    sql = "SELECT count FROM pg_it_kind WHERE count < %s ORDER BY count"
    assert [n for (n,) in connections["default"].iterate(sql, [5], chunk_size=2)] == list(range(5))
    rows = [n async for (n,) in async_connections["default"].iterate(sql, [5], chunk_size=2)]
    assert rows == list(range(5))
    with transaction.atomic():
        assert len(list(connections["default"].iterate(sql, [25]))) == 25
