"""dorm-sharding on real PostgreSQL: ``default`` plus four shard databases (and a fifth for
resharding), created by the suite."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

import dorm
from dorm.contrib.sharding import (
    HashShardRouter,
    ShardKeyRequired,
    afor_each_shard,
    for_each_shard,
    reshard,
    shard_for,
    with_shard_key,
)
from dorm.db import aclose_all, close_all, connections


class Customer(dorm.Model):
    tenant_id = dorm.IntegerField()
    name = dorm.CharField(max_length=50)

    class Meta:
        app_label = "pgshard"


class Order(dorm.Model):
    tenant_id = dorm.IntegerField(db_index=True)
    customer = dorm.ForeignKey(Customer, on_delete=dorm.CASCADE, null=True)
    total = dorm.IntegerField(default=0)

    class Meta:
        app_label = "pgshard"


SHARDS = [f"shard_{i}" for i in range(5)]  # shard_4 only takes part in resharding


@pytest.fixture(scope="module")
def shard_dsns(postgres: Any) -> dict[str, str]:
    return {alias: postgres.create_database("dorm_shard") for alias in ["default", *SHARDS]}


def _configure(dsns: dict[str, str], router: HashShardRouter) -> None:
    dorm.configure(
        DATABASES={
            alias: {"ENGINE": "postgresql", "OPTIONS": {"conninfo": dsn}}
            for alias, dsn in dsns.items()
        },
        DATABASE_ROUTERS=[router],
    )
    for alias in dsns:
        conn = connections[alias]
        conn.execute('DROP TABLE IF EXISTS "pgshard_order", "pgshard_customer"')
        with conn.schema_editor() as editor:
            editor.create_model(Customer)
            editor.create_model(Order)


@pytest.fixture
def shards(shard_dsns: dict[str, str]) -> Iterator[HashShardRouter]:
    router = HashShardRouter(num_shards=4, shard_models={Order, Customer})
    _configure(shard_dsns, router)
    yield router
    close_all()


@pytest.fixture
async def ashards(shard_dsns: dict[str, str]) -> AsyncIterator[HashShardRouter]:
    router = HashShardRouter(num_shards=4, shard_models={Order, Customer})
    _configure(shard_dsns, router)
    yield router
    await aclose_all()
    close_all()


def _shards_in_fresh_process(keys: list[int], seed: str) -> list[int]:
    code = (
        "import json, sys\n"
        "from dorm.contrib.sharding import shard_for\n"
        "print(json.dumps([shard_for(k, 4) for k in json.loads(sys.argv[1])]))\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": seed}
    out = subprocess.run(
        [sys.executable, "-c", code, json.dumps(keys)],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    ).stdout
    return list(json.loads(out))


def test_seed_example_two_hundred_tenants(shards: HashShardRouter) -> None:
    for tenant in range(200):
        with with_shard_key(tenant):
            customer = Customer.objects.create(tenant_id=tenant, name=f"c{tenant}")
            Order.objects.create(tenant_id=tenant, customer=customer, total=tenant)
            Order.objects.create(tenant_id=tenant, customer=customer, total=2 * tenant)

    where: dict[int, set[str]] = {}
    for alias in SHARDS[:4]:
        for tenant in Order.objects.using(alias).values_list("tenant_id", flat=True):
            where.setdefault(tenant, set()).add(alias)
    assert len(where) == 200
    assert all(len(aliases) == 1 for aliases in where.values())  # one shard per tenant
    assert {a for aliases in where.values() for a in aliases} == set(SHARDS[:4])  # all used
    # The same shard, computed in two fresh processes with different hash seeds.
    tenants = sorted(where)
    first = _shards_in_fresh_process(tenants, "1")
    second = _shards_in_fresh_process(tenants, "2")
    assert first == second
    assert [f"shard_{n}" for n in first] == [next(iter(where[t])) for t in tenants]
    # Nothing leaked to default; a missing key is an error naming the model.
    assert connections["default"].fetchone('SELECT COUNT(*) FROM "pgshard_order"') == (0,)
    with pytest.raises(ShardKeyRequired, match=r"pgshard\.Order"):
        Order.objects.filter(tenant_id=1).count()

    counts = for_each_shard(lambda alias: Order.objects.using(alias).count(), num_shards=4)
    assert sum(counts.values()) == 400
    with with_shard_key(42):
        assert Order.objects.filter(tenant_id=42).count() == 2
        customer = Customer.objects.get(tenant_id=42)
    assert customer.order_set.count() == 2  # the instance stays on its shard


async def test_afor_each_shard_overlaps(ashards: HashShardRouter) -> None:
    for tenant in range(40):
        with with_shard_key(tenant):
            await Order.objects.acreate(tenant_id=tenant)
    running = overlap = 0

    async def count(alias: str) -> int:
        nonlocal running, overlap
        running += 1
        overlap = max(overlap, running)
        try:
            await dorm.db.async_connections[alias].fetchone("SELECT pg_sleep(0.05)")
            return await Order.objects.using(alias).acount()
        finally:
            running -= 1

    counts = await afor_each_shard(count, num_shards=4)
    assert sum(counts.values()) == 40
    assert overlap == 4  # every shard was in flight at once


async def test_one_hundred_tasks_each_write_only_to_their_shard(ashards: HashShardRouter) -> None:
    async def write(tenant: int) -> None:
        with with_shard_key(tenant):
            await asyncio.sleep(0)
            await Order.objects.acreate(tenant_id=tenant, total=tenant)

    await asyncio.gather(*(write(t) for t in range(100)))
    total = 0
    for alias in SHARDS[:4]:
        tenants = [o.tenant_id async for o in Order.objects.using(alias).all()]
        assert all(ashards.alias_for_key(t) == alias for t in tenants)
        total += len(tenants)
    assert total == 100


def test_reshard_four_to_five(shard_dsns: dict[str, str]) -> None:
    _configure(shard_dsns, HashShardRouter(4, {Order, Customer}, strategy="jump"))
    for pk in range(1, 1001):
        with with_shard_key(pk):
            Order.objects.create(id=pk, tenant_id=pk)

    class Interrupted(Exception):
        pass

    def stop_after_two(report: Any) -> None:
        if report.moved and report.scanned > 300:
            raise Interrupted

    with pytest.raises(Interrupted):
        reshard(Order, "tenant_id", 4, 5, strategy="jump", batch_size=100, progress=stop_after_two)
    reshard(Order, "tenant_id", 4, 5, strategy="jump", batch_size=100)

    rows = []
    for alias in SHARDS:
        rows += [(alias, t) for t in Order.objects.using(alias).values_list("tenant_id", flat=True)]
    assert sorted(t for _, t in rows) == list(range(1, 1001))  # nothing lost or duplicated
    assert all(alias == f"shard_{shard_for(t, 5, strategy='jump')}" for alias, t in rows)
    moved = sum(
        shard_for(t, 4, strategy="jump") != shard_for(t, 5, strategy="jump") for t in range(1, 1001)
    )
    assert 0.15 < moved / 1000 < 0.25  # about 1/5
    assert Order.objects.using("shard_4").count() == moved
    assert reshard(Order, "tenant_id", 4, 5, strategy="jump").moved == 0
    close_all()
