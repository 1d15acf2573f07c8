"""dorm, sync and async (its native ``a*`` methods), on SQLite and PostgreSQL."""

from __future__ import annotations

import importlib
from typing import Any

import dorm
from dorm_bench.core import PG_SETTING_NAMES, SQLITE_PRAGMA_NAMES, TABLE, Work
from dorm_bench.orms import AsyncRunner, SyncRunner, describe_sqlite_value


class Item(dorm.Model):
    name = dorm.CharField(max_length=100)
    value = dorm.IntegerField()
    active = dorm.BooleanField(default=True)

    class Meta:
        app_label = "dorm_bench"
        db_table = TABLE


def _bulk_copy() -> Any:
    """``dorm.contrib.bulk_copy`` (shipped by dorm-postgres), or ``None`` when missing."""
    try:
        return importlib.import_module("dorm.contrib.bulk_copy")
    except ImportError:
        return None


def _configure(target: Any) -> None:
    database: dict[str, Any]
    if target.vendor == "sqlite":
        # No OPTIONS: dorm's defaults are the benchmark's PRAGMAs (WAL, synchronous=NORMAL).
        database = {"ENGINE": "sqlite", "NAME": str(target.path)}
    else:
        database = {"ENGINE": "postgresql", "NAME": "", "OPTIONS": {"conninfo": target.dsn}}
    dorm.configure(DATABASES={"default": database})


def _settings_sql(vendor: str) -> list[tuple[str, str]]:
    if vendor == "sqlite":
        return [(name, f"PRAGMA {name}") for name in SQLITE_PRAGMA_NAMES]
    return [(name, f"SHOW {name}") for name in PG_SETTING_NAMES]


def _describe(vendor: str, name: str, value: Any) -> str:
    return describe_sqlite_value(name, value) if vendor == "sqlite" else str(value)


class _DormBase:
    name = "dorm"
    dist = "dorm-core"
    backend: str

    def unsupported(self, scenario: str) -> str | None:
        if scenario in ("copy", "copy_bulk_create") and self.backend != "postgresql":
            return "PostgreSQL only"
        if scenario == "copy" and _bulk_copy() is None:
            return "not installed"  # dorm.contrib.bulk_copy ships with dorm-postgres
        return None

    def _prepare(self, work: Work) -> None:
        if work.scenario in ("bulk_insert", "copy", "copy_bulk_create"):
            work.prepared = [Item(name=n, value=v, active=a) for n, v, a in work.rows]


class DormRunner(_DormBase, SyncRunner):
    def open(self, target: Any) -> None:
        from dorm.db import connections

        self.vendor = target.vendor
        _configure(target)
        connections["default"].ensure_connection()

    def close(self) -> None:
        from dorm.db import close_all

        close_all()

    def prepare(self, work: Work) -> None:
        self._prepare(work)

    def settings(self) -> dict[str, str]:
        from dorm.db import connections

        conn = connections["default"]
        return {
            name: _describe(self.vendor, name, conn.fetchone(sql)[0])  # type: ignore[index]
            for name, sql in _settings_sql(self.vendor)
        }

    def insert_one(self, work: Work) -> None:
        for name, value, active in work.rows:
            Item.objects.create(name=name, value=value, active=active)

    def bulk_insert(self, work: Work) -> None:
        Item.objects.bulk_create(work.prepared)

    copy_bulk_create = bulk_insert

    def get_by_pk(self, work: Work) -> None:
        for pk in work.pks:
            Item.objects.get(pk=pk)

    def filter_count(self, work: Work) -> None:
        for _ in range(work.n):
            Item.objects.filter(active=True).count()

    def list_first_n(self, work: Work) -> None:
        for _ in range(work.times):
            list(Item.objects.order_by("id")[: work.limit])

    def copy(self, work: Work) -> None:
        _bulk_copy().bulk_copy_from(Item, work.prepared)


class AsyncDormRunner(_DormBase, AsyncRunner):
    async def open(self, target: Any) -> None:
        self.vendor = target.vendor
        _configure(target)

    async def close(self) -> None:
        from dorm.db import aclose_all

        await aclose_all()

    async def prepare(self, work: Work) -> None:
        self._prepare(work)

    async def settings(self) -> dict[str, str]:
        from dorm.db import async_connections

        conn = async_connections["default"]
        out = {}
        for name, sql in _settings_sql(self.vendor):
            row = await conn.fetchone(sql)
            out[name] = _describe(self.vendor, name, row[0])  # type: ignore[index]
        return out

    async def insert_one(self, work: Work) -> None:
        for name, value, active in work.rows:
            await Item.objects.acreate(name=name, value=value, active=active)

    async def bulk_insert(self, work: Work) -> None:
        await Item.objects.abulk_create(work.prepared)

    copy_bulk_create = bulk_insert

    async def get_by_pk(self, work: Work) -> None:
        for pk in work.pks:
            await Item.objects.aget(pk=pk)

    async def filter_count(self, work: Work) -> None:
        for _ in range(work.n):
            await Item.objects.filter(active=True).acount()

    async def list_first_n(self, work: Work) -> None:
        for _ in range(work.times):
            [x async for x in Item.objects.order_by("id")[: work.limit]]

    async def copy(self, work: Work) -> None:
        await _bulk_copy().abulk_copy_from(Item, work.prepared)
