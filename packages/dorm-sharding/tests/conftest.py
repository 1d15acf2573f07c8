"""Sharding tests: a ``default`` database plus four shard databases (SQLite files here; the
integration suite runs the same scenarios on PostgreSQL)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

import dorm
from dorm.contrib.sharding import HashShardRouter
from dorm.db import aclose_all, close_all, connections

from .shard_models import Customer, Note, Order

NUM_SHARDS = 4
SHARDED = (Customer, Order)


def make_router(**kwargs: Any) -> HashShardRouter:
    return HashShardRouter(num_shards=NUM_SHARDS, shard_models={Order, Customer}, **kwargs)


def configure(tmp_path: Path, num_shards: int = NUM_SHARDS, router: Any = None) -> HashShardRouter:
    router = router or make_router()
    databases = {"default": {"ENGINE": "sqlite", "NAME": str(tmp_path / "default.sqlite3")}}
    for i in range(num_shards):
        databases[f"shard_{i}"] = {"ENGINE": "sqlite", "NAME": str(tmp_path / f"shard_{i}.sqlite3")}
    dorm.configure(DATABASES=databases, DATABASE_ROUTERS=[router])
    for alias in databases:
        with connections[alias].schema_editor() as editor:
            for model in (Customer, Order, Note):
                editor.create_model(model)
    return router


@pytest.fixture
def shards(tmp_path: Path) -> Iterator[HashShardRouter]:
    router = configure(tmp_path)
    yield router
    close_all()


@pytest.fixture
async def ashards(tmp_path: Path) -> AsyncIterator[HashShardRouter]:
    router = configure(tmp_path)
    yield router
    await aclose_all()
    close_all()
