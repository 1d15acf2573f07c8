"""Acceptance: ``atomic`` / ``aatomic`` around ORM calls — commit, rollback, nested
savepoints, ``savepoint=False``, ``durable``, ``on_commit``, ``set_rollback`` and
``get_autocommit``. Each test runs with ``atomic`` + sync ORM calls and with ``aatomic`` +
async ORM calls (``run``)."""

from __future__ import annotations

from typing import Any

import pytest
from orm_models import Author, Counter

from dorm import transaction
from dorm.exceptions import IntegrityError, TransactionManagementError

pytestmark = pytest.mark.usefixtures("orm")


class Boom(Exception):
    pass


async def names(run: Any) -> list[str]:
    return sorted(await run.list(Author.objects.values_list("name", flat=True)))


async def test_commit_on_success(run: Any) -> None:
    async with run.atomic():
        await run(Author.objects.create, name="a")
        obj = await run(Author.objects.create, name="b")
        obj.age = 3
        await run(obj.save)
    assert await names(run) == ["a", "b"]
    assert (await run(Author.objects.get, name="b")).age == 3


async def test_a_failure_leaves_nothing_half_written(run: Any) -> None:
    await run(Author.objects.create, name="before")
    with pytest.raises(Boom):
        async with run.atomic():
            await run(Author.objects.create, name="x")
            await run(Author.objects.bulk_create, [Author(name="y"), Author(name="z")])
            await run(Author.objects.filter(name="before").update, age=99)
            await run(Author.objects.filter(name="before").delete)
            raise Boom
    assert await names(run) == ["before"]
    assert (await run(Author.objects.get, name="before")).age is None


async def test_integrity_error_rolls_back_the_block(run: Any) -> None:
    await run(Counter.objects.create, name="taken")
    with pytest.raises(IntegrityError):
        async with run.atomic():
            await run(Counter.objects.create, name="fresh")
            await run(Counter.objects.create, name="taken")
    assert sorted(await run.list(Counter.objects.values_list("name", flat=True))) == ["taken"]


async def test_nested_savepoint_rolls_back_only_the_inner_block(run: Any) -> None:
    async with run.atomic():
        await run(Author.objects.create, name="outer")
        with pytest.raises(Boom):
            async with run.atomic():
                await run(Author.objects.create, name="inner")
                raise Boom
        async with run.atomic():
            await run(Author.objects.create, name="inner-ok")
        assert await names(run) == ["inner-ok", "outer"]
    assert await names(run) == ["inner-ok", "outer"]


async def test_deeply_nested_savepoints(run: Any) -> None:
    async with run.atomic():
        await run(Author.objects.create, name="l1")
        async with run.atomic():
            await run(Author.objects.create, name="l2")
            with pytest.raises(Boom):
                async with run.atomic():
                    await run(Author.objects.create, name="l3")
                    async with run.atomic():
                        await run(Author.objects.create, name="l4")
                    raise Boom
            async with run.atomic():
                await run(Author.objects.create, name="l3b")
    assert await names(run) == ["l1", "l2", "l3b"]


async def test_caught_integrity_error_inside_a_savepoint(run: Any) -> None:
    await run(Counter.objects.create, name="taken")
    async with run.atomic():
        try:
            async with run.atomic():
                await run(Counter.objects.create, name="taken")
        except IntegrityError:
            pass
        await run(Counter.objects.create, name="after")  # the transaction is still usable
    assert await run(Counter.objects.count) == 2


async def test_savepoint_false_dooms_the_outer_transaction(run: Any) -> None:
    async with run.atomic():
        await run(Author.objects.create, name="outer")
        with pytest.raises(Boom):
            async with run.atomic(savepoint=False):
                await run(Author.objects.create, name="inner")
                raise Boom
        assert transaction.get_rollback() is True
        with pytest.raises(TransactionManagementError):
            await run(Author.objects.count)
    assert await names(run) == []


async def test_durable(run: Any) -> None:
    async with run.atomic(durable=True):
        await run(Author.objects.create, name="d")
    assert await names(run) == ["d"]
    with pytest.raises(RuntimeError, match="durable"):
        async with run.atomic(), run.atomic(durable=True):
            pass


async def test_using_alias(run: Any) -> None:
    with pytest.raises(Boom):
        async with run.atomic(using="default"):
            await run(Author.objects.using("default").create, name="x")
            raise Boom
    assert await names(run) == []


async def test_get_autocommit(run: Any) -> None:
    assert transaction.get_autocommit() is True
    async with run.atomic():
        assert transaction.get_autocommit() is False
        async with run.atomic():
            assert transaction.get_autocommit() is False
    assert transaction.get_autocommit() is True


async def test_set_rollback(run: Any) -> None:
    async with run.atomic():
        await run(Author.objects.create, name="discarded")
        assert transaction.get_rollback() is False
        transaction.set_rollback(True)
        assert transaction.get_rollback() is True
    assert await names(run) == []
    async with run.atomic():
        await run(Author.objects.create, name="kept")
        async with run.atomic():
            await run(Author.objects.create, name="inner")
            transaction.set_rollback(True)  # only the savepoint
    assert await names(run) == ["kept"]
    with pytest.raises(TransactionManagementError):
        transaction.set_rollback(True)


async def test_on_commit(run: Any) -> None:
    calls: list[str] = []
    async with run.atomic():
        await run(Author.objects.create, name="x")
        transaction.on_commit(lambda: calls.append("outer"))
        async with run.atomic():
            transaction.on_commit(lambda: calls.append("inner"))
        with pytest.raises(Boom):
            async with run.atomic():
                transaction.on_commit(lambda: calls.append("rolled back"))
                raise Boom
        assert calls == []  # nothing before the commit
    assert calls == ["outer", "inner"]
    calls.clear()
    with pytest.raises(Boom):
        async with run.atomic():
            transaction.on_commit(lambda: calls.append("never"))
            raise Boom
    assert calls == []
    transaction.on_commit(lambda: calls.append("now"))  # no transaction: runs immediately
    assert calls == ["now"]


async def test_on_commit_robust(run: Any) -> None:
    calls: list[str] = []

    def fail() -> None:
        raise Boom

    async with run.atomic():
        transaction.on_commit(fail, robust=True)
        transaction.on_commit(lambda: calls.append("after"))
    assert calls == ["after"]


async def test_async_on_commit_callbacks() -> None:
    calls: list[str] = []

    async def callback() -> None:
        calls.append("awaited")

    async with transaction.aatomic():
        await Author.objects.acreate(name="x")
        transaction.on_commit(callback)
        await transaction.aon_commit(lambda: calls.append("plain"))
    assert calls == ["awaited", "plain"]
    await transaction.aon_commit(callback)  # outside a transaction: awaited now
    assert calls == ["awaited", "plain", "awaited"]


def test_atomic_as_decorator() -> None:
    @transaction.atomic
    def make(fail: bool) -> None:
        Author.objects.create(name="dec")
        if fail:
            raise Boom

    make(False)
    with pytest.raises(Boom):
        make(True)
    assert Author.objects.count() == 1

    @transaction.atomic(using="default", savepoint=False)
    def make_more() -> None:
        Author.objects.create(name="dec2")

    make_more()
    assert Author.objects.count() == 2


async def test_aatomic_as_decorator() -> None:
    @transaction.aatomic
    async def make(fail: bool) -> None:
        await Author.objects.acreate(name="dec")
        if fail:
            raise Boom

    await make(False)
    with pytest.raises(Boom):
        await make(True)
    assert await Author.objects.acount() == 1
    with pytest.raises(TypeError):
        transaction.aatomic(lambda: None)  # type: ignore[arg-type]


async def test_get_or_create_inside_a_failed_outer_block(run: Any) -> None:
    with pytest.raises(Boom):
        async with run.atomic():
            _, created = await run(Author.objects.get_or_create, name="g")
            assert created
            await run(Author.objects.update_or_create, name="g", defaults={"age": 5})
            raise Boom
    assert await names(run) == []
