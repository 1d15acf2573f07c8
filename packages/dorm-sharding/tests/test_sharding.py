from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest

import dorm
from dorm import transaction
from dorm.contrib.sharding import (
    HashShardRouter,
    ShardKeyRequired,
    afor_each_shard,
    for_each_shard,
    get_shard_key,
    jump_hash,
    reshard,
    shard_for,
    with_shard_key,
)
from dorm.db import close_all, router

from .conftest import NUM_SHARDS, configure
from .shard_models import Customer, Note, Order

# shard_for -------------------------------------------------------------------------------


def test_shard_for_is_deterministic_and_typed() -> None:
    assert shard_for("tenant-1", 4) == shard_for("tenant-1", 4)
    assert 0 <= shard_for(123, 7) < 7
    # Keys of different types never collide by accident of encoding.
    values = {shard_for(k, 1_000_003) for k in (1, "1", b"1", uuid.UUID(int=1))}
    assert len(values) == 4
    assert shard_for(5, 4, salt=b"a") != shard_for(5, 4, salt=b"b") or shard_for(
        6, 4, salt=b"a"
    ) != shard_for(6, 4, salt=b"b")
    with pytest.raises(TypeError, match="Unsupported shard key type float"):
        shard_for(1.5, 4)
    with pytest.raises(TypeError, match="bool"):
        shard_for(True, 4)
    with pytest.raises(ValueError, match="num_shards"):
        shard_for(1, 0)
    with pytest.raises(ValueError, match="strategy"):
        shard_for(1, 4, strategy="ring")


def test_shard_for_is_stable_across_processes() -> None:
    """Python's hash() is randomised per process; shard_for must not be."""
    keys = ["tenant-7", 42, "ключ", str(uuid.UUID(int=99))]
    code = (
        "from dorm.contrib.sharding import shard_for\n"
        f"print([shard_for(k, 4) for k in {keys!r}], [shard_for(k, 9, strategy='jump') for k "
        f"in {keys!r}])"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONHASHSEED": seed},
        ).stdout
        for seed in ("1", "2")
    }
    assert len(outputs) == 1
    expected = (
        f"{[shard_for(k, 4) for k in keys]} {[shard_for(k, 9, strategy='jump') for k in keys]}"
    )
    assert outputs.pop().strip() == expected


def test_jump_hash_moves_about_one_over_n_plus_one() -> None:
    keys = range(20_000)
    moved = sum(shard_for(k, 4, strategy="jump") != shard_for(k, 5, strategy="jump") for k in keys)
    assert 0.17 < moved / 20_000 < 0.23
    # Keys only ever move to the new shard.
    assert all(
        shard_for(k, 5, strategy="jump") in (shard_for(k, 4, strategy="jump"), 4) for k in keys
    )
    assert jump_hash(0, 1) == 0
    with pytest.raises(ValueError):
        jump_hash(1, 0)


# with_shard_key ----------------------------------------------------------------------------


def test_shard_key_context() -> None:
    with pytest.raises(ShardKeyRequired):
        get_shard_key()
    assert get_shard_key(None) is None
    with with_shard_key(1):
        assert get_shard_key() == 1
        with with_shard_key("x"):
            assert get_shard_key() == "x"
        assert get_shard_key() == 1
    assert get_shard_key(None) is None
    with pytest.raises(TypeError), with_shard_key(2.5):
        pass


def test_shard_key_is_per_thread() -> None:
    seen: dict[int, object] = {}
    barrier = threading.Barrier(4)

    def work(i: int) -> None:
        with with_shard_key(i):
            barrier.wait()
            seen[i] = get_shard_key()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen == {0: 0, 1: 1, 2: 2, 3: 3}


async def test_shard_key_is_per_task_and_inherited() -> None:
    async def child() -> object:
        await asyncio.sleep(0)
        return get_shard_key(None)

    async def task(i: int) -> tuple[object, object]:
        with with_shard_key(i):
            await asyncio.sleep(0)
            inherited = await asyncio.create_task(child())
            return get_shard_key(), inherited

    results = await asyncio.gather(*(task(i) for i in range(20)))
    assert results == [(i, i) for i in range(20)]
    assert get_shard_key(None) is None


# The router --------------------------------------------------------------------------------


def test_seed_example_routes_each_tenant_to_one_shard(shards: HashShardRouter) -> None:
    for tenant in range(200):
        with with_shard_key(tenant):
            Order.objects.create(tenant_id=tenant, total=tenant)
    counts = for_each_shard(lambda alias: Order.objects.using(alias).count(), num_shards=NUM_SHARDS)
    assert sum(counts.values()) == 200
    assert all(n > 0 for n in counts.values()), counts  # all four shards used
    for alias in counts:
        for tenant in Order.objects.using(alias).values_list("tenant_id", flat=True):
            assert shards.alias_for_key(tenant) == alias
    # Reads with the key find the row; the other shards do not have it.
    with with_shard_key(17):
        assert Order.objects.get(tenant_id=17).total == 17
    assert Note.objects.create(text="global")._state.db == "default"


def test_missing_key_is_an_error_naming_the_model(shards: HashShardRouter) -> None:
    with pytest.raises(ShardKeyRequired, match=r"sharded\.Order"):
        Order.objects.create(tenant_id=1)
    with pytest.raises(ShardKeyRequired, match=r"sharded\.Order"):
        Order.objects.count()
    assert dorm.db.connections["default"].fetchone('SELECT COUNT(*) FROM "sharded_order"') == (0,)


def test_instances_and_related_managers_stay_on_their_shard(shards: HashShardRouter) -> None:
    with with_shard_key(5):
        customer = Customer.objects.create(tenant_id=5, name="c")
        Order.objects.create(tenant_id=5, customer=customer, total=3)
    alias = shards.alias_for_key(5)
    assert customer._state.db == alias
    # Outside the block the instance's own alias is used (no key needed).
    assert customer.order_set.count() == 1
    customer.name = "renamed"
    customer.save()
    loaded = Customer.objects.using(alias).get(pk=customer.pk)
    assert loaded.name == "renamed"
    order = Order.objects.using(alias).get()
    assert order.customer == customer


def test_allow_relation_refuses_cross_shard(shards: HashShardRouter) -> None:
    keys = {}
    for key in range(50):
        keys.setdefault(shards.alias_for_key(key), key)
        if len(keys) == 2:
            break
    (_a_alias, a_key), (b_alias, b_key) = keys.items()
    with with_shard_key(a_key):
        customer = Customer.objects.create(tenant_id=a_key, name="a")
    order = Order(tenant_id=b_key)
    order._state.db = b_alias
    with pytest.raises(ValueError, match="router prevents"):
        order.customer = customer
    assert router.allow_relation(customer, customer) is True


def test_allow_migrate_sends_sharded_tables_to_shards(shards: HashShardRouter) -> None:
    assert shards.allow_migrate("shard_0", "sharded", model_name="order") is True
    assert shards.allow_migrate("default", "sharded", model_name="order") is False
    assert shards.allow_migrate("default", "sharded", model_name="note") is None
    assert router.allow_migrate_model("shard_2", Customer) is True
    assert router.allow_migrate_model("default", Customer) is False
    assert router.allow_migrate_model("default", Note) is True


def test_router_validates_its_configuration() -> None:
    with pytest.raises(dorm.ImproperlyConfigured, match="num_shards"):
        HashShardRouter(0, {Order})
    with pytest.raises(dorm.ImproperlyConfigured, match="strategy"):
        HashShardRouter(2, {Order}, strategy="ring")
    with pytest.raises(dorm.ImproperlyConfigured, match="alias_format"):
        HashShardRouter(2, {Order}, alias_format="shard")
    assert HashShardRouter(2, {"sharded.Order"}).is_sharded(Order)


def test_transactions_on_a_shard(shards: HashShardRouter) -> None:
    alias = shards.alias_for_key(9)
    with with_shard_key(9):
        try:
            with transaction.atomic(using=alias):
                Order.objects.create(tenant_id=9)
                raise RuntimeError
        except RuntimeError:
            pass
        assert Order.objects.count() == 0


# Running on every shard ----------------------------------------------------------------------


async def test_afor_each_shard_runs_concurrently(ashards: HashShardRouter) -> None:
    for tenant in range(40):
        with with_shard_key(tenant):
            await Order.objects.acreate(tenant_id=tenant)
    running = 0
    overlap = 0

    async def count(alias: str) -> int:
        nonlocal running, overlap
        running += 1
        overlap = max(overlap, running)
        n = await Order.objects.using(alias).acount()
        await asyncio.sleep(0)
        running -= 1
        return n

    counts = await afor_each_shard(count, num_shards=NUM_SHARDS)
    assert sum(counts.values()) == 40
    assert list(counts) == [f"shard_{i}" for i in range(NUM_SHARDS)]
    assert overlap > 1  # several shards were in flight at once


async def test_concurrent_tasks_write_to_their_own_shard(ashards: HashShardRouter) -> None:
    async def write(tenant: int) -> None:
        with with_shard_key(tenant):
            await asyncio.sleep(0)
            await Order.objects.acreate(tenant_id=tenant, total=tenant)

    await asyncio.gather(*(write(t) for t in range(100)))
    total = 0
    for i in range(NUM_SHARDS):
        alias = f"shard_{i}"
        tenants = [o.tenant_id async for o in Order.objects.using(alias).all()]
        assert all(ashards.alias_for_key(t) == alias for t in tenants)
        total += len(tenants)
    assert total == 100


# Resharding ----------------------------------------------------------------------------------


def _all_rows(num_shards: int) -> list[tuple[str, int, int]]:
    rows = []
    for i in range(num_shards):
        alias = f"shard_{i}"
        rows += [
            (alias, pk, t) for pk, t in Order.objects.using(alias).values_list("pk", "tenant_id")
        ]
    return rows


def test_reshard_four_to_five_with_jump(tmp_path: Path) -> None:
    configure(tmp_path, num_shards=5, router=HashShardRouter(4, {Order, Customer}, strategy="jump"))
    for pk, tenant in enumerate(range(500), start=1):
        with with_shard_key(tenant):
            Order.objects.create(id=pk, tenant_id=tenant)
    before = _all_rows(5)
    assert len(before) == 500 and not any(alias == "shard_4" for alias, _, _ in before)

    class Interrupt(Exception):
        pass

    calls = 0

    def progress(report: object) -> None:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise Interrupt

    with pytest.raises(Interrupt):
        reshard(Order, "tenant_id", 4, 5, strategy="jump", batch_size=50, progress=progress)
    report = reshard(Order, "tenant_id", 4, 5, strategy="jump", batch_size=50)
    after = _all_rows(5)
    assert sorted(pk for _, pk, _ in after) == list(range(1, 501))  # nothing lost or duplicated
    for alias, _, tenant in after:
        assert alias == f"shard_{shard_for(tenant, 5, strategy='jump')}"
    moved_total = sum(
        1
        for _, _, t in after
        if shard_for(t, 4, strategy="jump") != shard_for(t, 5, strategy="jump")
    )
    assert 0.12 < moved_total / 500 < 0.28  # about 1/5
    assert report.moved <= moved_total and report.scanned >= 500 - moved_total
    # A third run has nothing left to move.
    assert reshard(Order, "tenant_id", 4, 5, strategy="jump", batch_size=50).moved == 0
    close_all()
