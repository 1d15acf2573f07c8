"""Acceptance: ``bulk_create`` (batch_size, ignore_conflicts, update_conflicts) and
``bulk_update``, sync and async, with Django's results and statement counts."""

from __future__ import annotations

import datetime
import decimal
import uuid
from typing import Any

import pytest
from orm_models import AllTypes, Author, Counter, Note, Product

from dorm import F
from dorm.db import connections
from dorm.exceptions import IntegrityError

pytestmark = pytest.mark.usefixtures("orm")


def inserts(log: Any) -> list[str]:
    return [q for q in log.queries if q.lstrip().upper().startswith("INSERT")]


def updates(log: Any) -> list[str]:
    return [q for q in log.queries if q.lstrip().upper().startswith("UPDATE")]


# bulk_create --------------------------------------------------------------------------------


async def test_bulk_create_inserts_and_sets_primary_keys(run: Any, queries: Any) -> None:
    objs = [Author(name=f"a{i}", age=i) for i in range(10)]
    with queries() as log:
        result = await run(Author.objects.bulk_create, objs)
    assert result is objs or result == objs
    assert len(inserts(log)) == 1
    assert await run(Author.objects.count) == 10
    if connections["default"].features.can_return_rows_from_bulk_insert:
        assert [o.pk for o in objs] == list(range(1, 11))
        fetched = await run(Author.objects.get, pk=objs[3].pk)
        assert fetched.name == "a3"
    assert all(o._state.adding is False and o._state.db == "default" for o in objs)
    assert sorted(await run.list(Author.objects.values_list("age", flat=True))) == list(range(10))


async def test_bulk_create_batch_size(run: Any, queries: Any) -> None:
    objs = [Author(name=f"b{i}") for i in range(7)]
    with queries() as log:
        await run(Author.objects.bulk_create, objs, batch_size=3)
    assert len(inserts(log)) == 3  # 3 + 3 + 1
    assert await run(Author.objects.count) == 7
    with pytest.raises(ValueError):
        await run(Author.objects.bulk_create, [Author(name="x")], batch_size=0)


async def test_bulk_create_nothing_runs_no_query(run: Any, queries: Any) -> None:
    with queries() as log:
        assert await run(Author.objects.bulk_create, []) == []
    assert len(log) == 0


async def test_bulk_create_is_atomic(run: Any) -> None:
    objs = [Author(name=f"c{i}", email=f"c{i}@example.com") for i in range(5)]
    objs.append(Author(name="dup", email="c0@example.com"))
    with pytest.raises(IntegrityError):
        await run(Author.objects.bulk_create, objs, batch_size=2)
    assert await run(Author.objects.count) == 0  # the earlier batches were rolled back


async def test_bulk_create_applies_defaults_and_auto_now(run: Any) -> None:
    before = datetime.datetime.now(datetime.UTC)
    await run(Note.objects.bulk_create, [Note(text="x"), Note(text="y")])
    notes = await run.list(Note.objects.all())
    assert all(n.created >= before and n.updated >= before for n in notes)
    await run(
        Product.objects.bulk_create,
        [Product(sku="P1", price=1), Product(sku="P2", price=2, stock=1)],
    )
    stocks = await run.list(Product.objects.order_by("sku").values_list("stock", "region"))
    assert stocks == [(7, "eu"), (1, "eu")]  # db_default and default


async def test_bulk_create_with_explicit_primary_keys(run: Any) -> None:
    await run(Author.objects.bulk_create, [Author(id=100, name="x"), Author(name="y")])
    assert await run(Author.objects.filter(pk=100).count) == 1
    assert await run(Author.objects.count) == 2


async def test_bulk_create_ignore_conflicts(run: Any) -> None:
    await run(Counter.objects.create, name="a", value=1)
    objs = [Counter(name="a", value=5), Counter(name="b", value=2)]
    await run(Counter.objects.bulk_create, objs, ignore_conflicts=True)
    rows = await run.list(Counter.objects.order_by("name").values_list("name", "value"))
    assert rows == [("a", 1), ("b", 2)]  # the conflicting row was skipped, not updated


async def test_bulk_create_update_conflicts(run: Any) -> None:
    await run(Counter.objects.create, name="a", value=1)
    objs = [Counter(name="a", value=5), Counter(name="b", value=2)]
    await run(
        Counter.objects.bulk_create,
        objs,
        update_conflicts=True,
        unique_fields=["name"],
        update_fields=["value"],
    )
    rows = await run.list(Counter.objects.order_by("name").values_list("name", "value"))
    assert rows == [("a", 5), ("b", 2)]
    assert await run(Counter.objects.count) == 2


async def test_bulk_create_argument_errors(run: Any) -> None:
    objs = [Counter(name="x")]
    with pytest.raises(ValueError):
        await run(Counter.objects.bulk_create, objs, ignore_conflicts=True, update_conflicts=True)
    with pytest.raises(ValueError, match="updated"):
        await run(Counter.objects.bulk_create, objs, update_conflicts=True, unique_fields=["name"])
    with pytest.raises(ValueError, match="primary key"):
        await run(
            Counter.objects.bulk_create,
            objs,
            update_conflicts=True,
            unique_fields=["name"],
            update_fields=["id"],
        )
    with pytest.raises(TypeError):
        await run(Counter.objects.bulk_create, [Author(name="wrong model")])
    assert await run(Counter.objects.count) == 0


# bulk_update --------------------------------------------------------------------------------


async def test_bulk_update(run: Any, queries: Any) -> None:
    objs = await run(Author.objects.bulk_create, [Author(name=f"u{i}", age=i) for i in range(6)])
    objs = await run.list(Author.objects.order_by("pk"))
    for obj in objs:
        obj.age = obj.age * 10
        obj.name = obj.name.upper()
        obj.rating = None if obj.age % 20 else 1.5
    with queries() as log:
        n = await run(Author.objects.bulk_update, objs, ["age", "name", "rating"])
    assert n == 6
    assert len(updates(log)) == 1
    rows = await run.list(Author.objects.order_by("pk").values_list("name", "age", "rating"))
    assert rows == [
        ("U0", 0, 1.5),
        ("U1", 10, None),
        ("U2", 20, 1.5),
        ("U3", 30, None),
        ("U4", 40, 1.5),
        ("U5", 50, None),
    ]


async def test_bulk_update_batch_size_and_count(run: Any, queries: Any) -> None:
    await run(Author.objects.bulk_create, [Author(name=f"v{i}") for i in range(5)])
    objs = await run.list(Author.objects.all())
    for obj in objs:
        obj.bio = "set"
    with queries() as log:
        n = await run(Author.objects.bulk_update, objs, ["bio"], batch_size=2)
    assert n == 5 and len(updates(log)) == 3
    assert await run(Author.objects.filter(bio="set").count) == 5
    with queries() as log:
        assert await run(Author.objects.bulk_update, [], ["bio"]) == 0
    assert len(log) == 0


async def test_bulk_update_every_field_type(run: Any) -> None:
    a = await run(AllTypes.objects.create)
    b = await run(AllTypes.objects.create, char="keep")
    a.dec, a.day, a.flag, a.data, a.uid = (
        decimal.Decimal("3.14"),
        datetime.date(2024, 1, 2),
        True,
        {"k": [1]},
        uuid.UUID(int=7),
    )
    a.moment = datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
    a.span = datetime.timedelta(minutes=3)
    b.flag = False
    fields = ["dec", "day", "flag", "data", "uid", "moment", "span"]
    assert await run(AllTypes.objects.bulk_update, [a, b], fields) == 2
    fa = await run(AllTypes.objects.get, pk=a.pk)
    assert (fa.dec, fa.day, fa.flag, fa.data, fa.uid, fa.moment, fa.span) == (
        a.dec,
        a.day,
        True,
        {"k": [1]},
        a.uid,
        a.moment,
        a.span,
    )
    fb = await run(AllTypes.objects.get, pk=b.pk)
    assert (fb.flag, fb.dec, fb.char) == (False, None, "keep")


async def test_bulk_update_with_expressions(run: Any) -> None:
    await run(Author.objects.bulk_create, [Author(name="e1", age=1), Author(name="e2", age=2)])
    objs = await run.list(Author.objects.order_by("pk"))
    for obj in objs:
        obj.age = F("age") + 100
    await run(Author.objects.bulk_update, objs, ["age"])
    assert await run.list(Author.objects.order_by("pk").values_list("age", flat=True)) == [101, 102]


async def test_bulk_update_argument_errors(run: Any) -> None:
    obj = await run(Author.objects.create, name="x")
    with pytest.raises(ValueError, match="Field names"):
        await run(Author.objects.bulk_update, [obj], [])
    with pytest.raises(ValueError, match="primary key"):
        await run(Author.objects.bulk_update, [obj], ["id"])
    with pytest.raises(ValueError, match="primary key set"):
        await run(Author.objects.bulk_update, [Author(name="unsaved")], ["name"])
    with pytest.raises(ValueError):
        await run(Author.objects.bulk_update, [obj], ["name"], batch_size=0)
    with pytest.raises(Exception, match="nope"):
        await run(Author.objects.bulk_update, [obj], ["nope"])
