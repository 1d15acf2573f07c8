"""Acceptance: ``Manager.raw()`` maps raw SQL rows onto model instances, iterable with
``for`` and ``async for`` (``run.list``)."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from orm_models import AllTypes, Author, Product

from dorm.exceptions import FieldDoesNotExist, FieldError


@pytest.fixture
async def people(orm: Any) -> None:
    for name, age in [("Alice", 30), ("Bob", 40), ("Carol", None)]:
        Author.objects.create(name=name, age=age, email=f"{name.lower()}@example.com")


@pytest.mark.usefixtures("people")
async def test_raw_returns_model_instances(run: Any) -> None:
    qs = Author.objects.raw("SELECT * FROM testapp_author ORDER BY name")
    objs = await run.list(qs)
    assert [o.name for o in objs] == ["Alice", "Bob", "Carol"]
    assert all(isinstance(o, Author) for o in objs)
    assert objs[0].age == 30 and objs[0].active is True  # converted (bool on SQLite)
    assert objs[0]._state.db == "default" and objs[0]._state.adding is False
    # A raw queryset can be iterated again (it runs the query again).
    assert len(await run.list(qs)) == 3


@pytest.mark.usefixtures("people")
async def test_raw_with_params(run: Any) -> None:
    qs = Author.objects.raw(
        "SELECT * FROM testapp_author WHERE age > %s OR name = %s ORDER BY id", [35, "Alice"]
    )
    assert [o.name for o in await run.list(qs)] == ["Alice", "Bob"]
    # Values are bound, never interpolated.
    evil = Author.objects.raw("SELECT * FROM testapp_author WHERE name = %s", ["x' OR '1'='1"])
    assert await run.list(evil) == []


@pytest.mark.usefixtures("people")
async def test_raw_subset_of_columns_defers_the_rest(run: Any, queries: Any) -> None:
    qs = Author.objects.raw("SELECT id, name FROM testapp_author WHERE name = %s", ["Bob"])
    (bob,) = await run.list(qs)
    assert bob.get_deferred_fields() == {"age", "email", "rating", "active", "bio"}
    with queries() as log:
        assert bob.age == 40
    assert len(log) == 1


@pytest.mark.usefixtures("people")
async def test_raw_extra_columns_become_attributes(run: Any) -> None:
    qs = Author.objects.raw(
        "SELECT id, name, age * 2 AS double_age FROM testapp_author WHERE age IS NOT NULL "
        "ORDER BY id"
    )
    assert [(o.name, o.double_age) for o in await run.list(qs)] == [("Alice", 60), ("Bob", 80)]


@pytest.mark.usefixtures("people")
async def test_raw_translations(run: Any) -> None:
    qs = Author.objects.raw(
        "SELECT id AS ident, name AS label FROM testapp_author ORDER BY id",
        translations={"ident": "id", "label": "name"},
    )
    objs = await run.list(qs)
    assert [(o.pk, o.name) for o in objs] == [(1, "Alice"), (2, "Bob"), (3, "Carol")]


@pytest.mark.usefixtures("people")
async def test_raw_must_include_the_primary_key(run: Any) -> None:
    qs = Author.objects.raw("SELECT name FROM testapp_author")
    with pytest.raises(FieldDoesNotExist, match="primary key"):
        await run.list(qs)
    assert issubclass(FieldDoesNotExist, FieldError)


async def test_raw_db_column_and_converters(orm: Any, run: Any) -> None:
    await run(Product.objects.create, sku="RAW1", price="9.99")
    (p,) = await run.list(Product.objects.raw("SELECT * FROM shop_products"))
    assert p.sku == "RAW1" and str(p.price) == "9.99"
    moment = datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
    await run(AllTypes.objects.create, moment=moment, data={"a": 1}, flag=True)
    (row,) = await run.list(AllTypes.objects.raw("SELECT * FROM testapp_alltypes"))
    assert (row.moment, row.data, row.flag) == (moment, {"a": 1}, True)


@pytest.mark.usefixtures("people")
def test_raw_queryset_helpers() -> None:
    qs = Author.objects.raw("SELECT id, name FROM testapp_author ORDER BY id")
    assert qs[1].name == "Bob"
    assert qs.columns == ["id", "name"]
    assert qs.db == "default"
    assert repr(qs) == "<RawQuerySet: SELECT id, name FROM testapp_author ORDER BY id>"
    assert Author.objects.raw("SELECT * FROM testapp_author", using="default").db == "default"
