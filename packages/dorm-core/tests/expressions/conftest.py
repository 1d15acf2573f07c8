"""Fixtures of the expression tests.

* ``expr`` — the ``db`` fixture of ``tests/conftest.py`` (SQLite by default, PostgreSQL through
  ``DORM_TEST_DATABASE_ENGINE``) with the tables of :mod:`expr_models` created through the
  schema editor (M2M through tables come with the model that declares the field).
* ``run`` — the sync/async parametrization of ``tests/orm/conftest.py`` (its ``Runner`` is
  reused, not copied): each test body is written once and runs both ways.
* ``vendor`` — ``connection.vendor`` of ``default``, for the few results that differ by
  database as documented by Django (e.g. ``Greatest`` with a NULL argument).
* ``books`` — the data of Django's aggregation guide, condensed (see :func:`books`).
"""

from __future__ import annotations

import datetime
import importlib.util
import sys
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import expr_models as m  # noqa: E402

from dorm.db import connections  # noqa: E402


def _load_orm_conftest() -> Any:
    """``tests/orm/conftest.py`` as a module (shared with the relation tests' conftest)."""
    name = "_dorm_orm_conftest"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, HERE.parent / "orm" / "conftest.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


Runner = _load_orm_conftest().Runner


@pytest.fixture(params=["sync", "async"])
def run(request: pytest.FixtureRequest) -> Any:
    return Runner(request.param)


def _drop(models: list[Any]) -> None:
    conn = connections["default"]
    qn = conn.ops.quote_name
    for model in reversed(models):
        for field in model._meta.local_many_to_many:
            through = field.remote_field.through
            if through._meta.auto_created:
                conn.execute(f"DROP TABLE IF EXISTS {qn(through._meta.db_table)}")
        conn.execute(f"DROP TABLE IF EXISTS {qn(model._meta.db_table)}")


@pytest.fixture
async def expr(db: Any) -> AsyncIterator[Any]:
    """The configured test database with every expression test model's table created."""
    if not db.is_sqlite:
        _drop(m.MODELS)  # leftovers of an interrupted run on a shared server
    with connections["default"].schema_editor() as editor:
        for model in m.MODELS:
            editor.create_model(model)
    try:
        yield db
    finally:
        if not db.is_sqlite:
            _drop(m.MODELS)


@pytest.fixture
def vendor(expr: Any) -> str:
    return str(connections["default"].vendor)


@pytest.fixture
def books(expr: Any) -> dict[str, Any]:
    """Three publishers, five authors, four books, two stores (ratings: Ann 4, Bob 3, Cid 5,
    Dee 2, Eve NULL; ages 30, 40, 35, 30, 60)::

    Apress (3 awards)   "Python Basics"  300p 4.0 29.69  2019-01-15  Ann, Bob
                        "Django Deep"    500p 4.5 59.99  2020-06-01  Ann
    Sams (1 award)      "SQL Guide"      200p 3.0 19.99  2018-03-10  Cid
                        "Async IO"       450p 5.0 45.00  2021-11-20  Bob, Cid, Dee
    Empty (0 awards)    (no books)
    Eve (age 60, no rating) wrote nothing.

    Store "Central" sells every book; "Corner" sells "Python Basics" and "SQL Guide".
    """
    apress = m.Publisher.objects.create(name="Apress", num_awards=3)
    sams = m.Publisher.objects.create(name="Sams", num_awards=1)
    empty = m.Publisher.objects.create(name="Empty", num_awards=0)
    ann = m.Author.objects.create(name="Ann", age=30, rating=4.0)
    bob = m.Author.objects.create(name="Bob", age=40, rating=3.0)
    cid = m.Author.objects.create(name="Cid", age=35, rating=5.0)
    dee = m.Author.objects.create(name="Dee", age=30, rating=2.0)
    eve = m.Author.objects.create(name="Eve", age=60, rating=None)
    day = datetime.date
    basics = m.Book.objects.create(
        name="Python Basics",
        pages=300,
        rating=4.0,
        price=Decimal("29.69"),
        pubdate=day(2019, 1, 15),
        publisher=apress,
    )
    deep = m.Book.objects.create(
        name="Django Deep",
        pages=500,
        rating=4.5,
        price=Decimal("59.99"),
        pubdate=day(2020, 6, 1),
        publisher=apress,
    )
    sql = m.Book.objects.create(
        name="SQL Guide",
        pages=200,
        rating=3.0,
        price=Decimal("19.99"),
        pubdate=day(2018, 3, 10),
        publisher=sams,
    )
    aio = m.Book.objects.create(
        name="Async IO",
        pages=450,
        rating=5.0,
        price=Decimal("45.00"),
        pubdate=day(2021, 11, 20),
        publisher=sams,
    )
    basics.authors.add(ann, bob)
    deep.authors.add(ann)
    sql.authors.add(cid)
    aio.authors.add(bob, cid, dee)
    central = m.Store.objects.create(name="Central")
    corner = m.Store.objects.create(name="Corner")
    central.books.add(basics, deep, sql, aio)
    corner.books.add(basics, sql)
    return {
        "apress": apress,
        "sams": sams,
        "empty": empty,
        "ann": ann,
        "bob": bob,
        "cid": cid,
        "dee": dee,
        "eve": eve,
        "basics": basics,
        "deep": deep,
        "sql": sql,
        "aio": aio,
        "central": central,
        "corner": corner,
    }
