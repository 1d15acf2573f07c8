"""Fixtures of the relation tests.

* ``rel`` — the ``db`` fixture of ``tests/conftest.py`` (SQLite by default, PostgreSQL through
  ``DORM_TEST_DATABASE_ENGINE``) with the tables of :mod:`rel_models` created through the
  schema editor (M2M through tables come with the model that declares the field).
* ``run`` — the sync/async parametrization of ``tests/orm/conftest.py`` (its ``Runner`` is
  reused, not copied): each test body is written once and runs both ways.
* ``count_queries`` — ``async with count_queries(n): ...`` asserts the number of statements
  with :class:`dorm.testing.assert_num_queries`.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import rel_models  # noqa: E402

from dorm.db import connections  # noqa: E402


def _load_orm_conftest() -> Any:
    """``tests/orm/conftest.py`` as a module (under its own name, to share its Runner)."""
    name = "_dorm_orm_conftest"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, HERE.parent / "orm" / "conftest.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


_orm = _load_orm_conftest()
Runner = _orm.Runner


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
async def rel(db: Any) -> AsyncIterator[Any]:
    """The configured test database with every relation test model's table created."""
    if not db.is_sqlite:
        _drop(rel_models.MODELS)  # leftovers of an interrupted run on a shared server
    with connections["default"].schema_editor() as editor:
        for model in rel_models.MODELS:
            editor.create_model(model)
    try:
        yield db
    finally:
        if not db.is_sqlite:
            _drop(rel_models.MODELS)
