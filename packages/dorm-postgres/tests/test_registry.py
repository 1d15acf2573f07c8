"""The ``postgresql`` engine is found through the entry points, like any backend."""

from __future__ import annotations

import asyncio
from typing import Any

import dorm_postgres
from dorm.db import async_connections
from dorm.db.registry import installed_engines, load_backend


def test_registered_in_both_groups() -> None:
    assert "postgresql" in installed_engines("djanorm.backends")
    assert "postgresql" in installed_engines("djanorm.async_backends")
    assert load_backend("postgresql") is dorm_postgres.DatabaseWrapper
    assert load_backend("postgresql", is_async=True) is dorm_postgres.AsyncDatabaseWrapper


def test_wrappers(pg: Any) -> None:
    assert pg.vendor == "postgresql" and pg.display_name == "PostgreSQL"
    assert isinstance(pg, dorm_postgres.DatabaseWrapper)
    assert pg.connection is None  # nothing opened until a statement runs
    features = pg.features
    assert features.can_return_rows_from_bulk_insert and features.can_rollback_ddl
    assert features.has_select_for_update_skip_locked and features.has_select_for_no_key_update
    assert features.supports_distinct_on_fields and features.supports_server_side_cursors
    assert features.has_native_json_field and features.has_native_uuid_field


def test_async_wrapper_pools(pg: Any, nowhere: dict[str, Any]) -> None:
    import dorm
    from dorm_postgres.async_base import PsycopgAsyncPool, SimpleAsyncPool

    async def pools() -> tuple[Any, Any]:
        simple = async_connections["default"].pool
        dorm.configure(DATABASES={"default": {**nowhere, "OPTIONS": {"pool": {"max_size": 7}}}})
        pooled = async_connections["default"].pool
        return simple, pooled

    simple, pooled = asyncio.run(pools())
    assert isinstance(simple, SimpleAsyncPool) and simple.max_size == 4
    assert isinstance(pooled, PsycopgAsyncPool) and pooled.max_size == 7
    assert pooled.driver_pool is None  # opened on first use
