"""Fixtures of the ORM acceptance tests.

* ``orm`` — the ``db`` fixture of ``tests/conftest.py`` (which picks the database: a fresh
  SQLite file by default, PostgreSQL through ``DORM_TEST_DATABASE_ENGINE``) with the tables of
  :mod:`orm_models` created through the schema editor (and dropped afterwards on a server).
* ``run`` — parametrized over ``sync`` and ``async``, so each test body is written once::

      n = await run(qs.count)               # qs.count() / await qs.acount()
      obj = await run(Author.objects.get, name="x")
      await run(obj.save)                    # obj.save() / await obj.asave()
      rows = await run.list(qs)              # list(qs) / [o async for o in qs]
      async with run.atomic():               # atomic() / aatomic()
          ...

  The async variant calls the ``a``-prefixed twin of the method and awaits it; the sync variant
  calls the method itself (sync DB code inside an async test is fine: sync connections are
  per thread).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import orm_models
from orm_models import create_tables, drop_tables

from dorm import transaction
from dorm.db import connections
from dorm.testing import CaptureQueries


class Runner:
    """Runs an ORM call the sync way or the async way (see the module docstring)."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.is_async = mode == "async"

    def __repr__(self) -> str:
        return self.mode

    async def __call__(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if not self.is_async:
            return method(*args, **kwargs)
        owner = method.__self__  # type: ignore[attr-defined]
        twin = getattr(owner, "a" + method.__name__)
        return await twin(*args, **kwargs)

    async def call(self, obj: Any, name: str, *args: Any, **kwargs: Any) -> Any:
        """``obj.<name>(...)`` or ``await obj.a<name>(...)``."""
        if not self.is_async:
            return getattr(obj, name)(*args, **kwargs)
        return await getattr(obj, "a" + name)(*args, **kwargs)

    async def list(self, iterable: Any) -> list[Any]:
        """Evaluate a QuerySet / RawQuerySet: ``list(qs)`` or ``[o async for o in qs]``."""
        if not self.is_async:
            return list(iterable)
        return [obj async for obj in iterable]

    async def iterator(self, qs: Any, chunk_size: int | None = None) -> list[Any]:
        if not self.is_async:
            return list(qs.iterator(chunk_size=chunk_size))
        return [obj async for obj in qs.aiterator(chunk_size=chunk_size)]

    def atomic(
        self, using: str | None = None, savepoint: bool = True, durable: bool = False
    ) -> Any:
        """``atomic(...)`` (wrapped to be usable with ``async with``) or ``aatomic(...)``."""
        if self.is_async:
            return transaction.aatomic(using=using, savepoint=savepoint, durable=durable)
        return _as_async_cm(transaction.atomic(using=using, savepoint=savepoint, durable=durable))


@contextlib.asynccontextmanager
async def _as_async_cm(cm: Any) -> AsyncIterator[Any]:
    with cm as value:
        yield value


@pytest.fixture(params=["sync", "async"])
def run(request: pytest.FixtureRequest) -> Runner:
    return Runner(request.param)


@pytest.fixture
async def orm(db: Any) -> AsyncIterator[Any]:
    """The configured test database with every test model's table created."""
    if not db.is_sqlite:
        drop_tables(orm_models.MODELS)  # leftovers of an interrupted run on a shared server
    create_tables(orm_models.MODELS)
    try:
        yield db
    finally:
        if not db.is_sqlite:
            drop_tables(orm_models.MODELS)


@pytest.fixture
def queries() -> Any:
    """``with queries() as log: ...``: ``log.queries`` is every statement the block ran on
    ``default`` (sync and async; transaction control excluded)."""
    return CaptureQueries


@pytest.fixture
def vendor(orm: Any) -> str:
    return str(connections["default"].vendor)
