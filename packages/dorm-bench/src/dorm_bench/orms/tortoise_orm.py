"""Tortoise ORM (async only): on aiosqlite, or psycopg on PostgreSQL.

Tortoise has no sync API, so in the sync table its async API runs inside one event loop
(the whole scenario is one ``asyncio.run``): the fairest sync figure it can give.
"""

from __future__ import annotations

from typing import Any

from dorm_bench.core import PG_SETTING_NAMES, SQLITE_PRAGMA_NAMES, SQLITE_PRAGMAS, Work
from dorm_bench.orms import AsyncRunner, describe_sqlite_value

MODELS = "dorm_bench.orms.tortoise_models"


def _connection(target: Any) -> dict[str, Any]:
    if target.vendor == "sqlite":
        # Tortoise runs every credential other than file_path as a PRAGMA.
        credentials: dict[str, Any] = {"file_path": str(target.path)}
        credentials.update({k.lower(): v for k, v in SQLITE_PRAGMAS.items()})
        return {"engine": "tortoise.backends.sqlite", "credentials": credentials}
    from psycopg.conninfo import conninfo_to_dict

    info = conninfo_to_dict(target.dsn)
    return {
        "engine": "tortoise.backends.psycopg",
        "credentials": {
            "host": info.get("host") or "127.0.0.1",
            "port": int(info.get("port") or 5432),
            "user": info.get("user") or "postgres",
            "password": info.get("password") or "",
            "database": info.get("dbname") or info.get("user") or "postgres",
        },
    }


class TortoiseRunner(AsyncRunner):
    name = "tortoise"
    dist = "tortoise-orm"

    def unsupported(self, scenario: str) -> str | None:
        if scenario in ("copy", "copy_bulk_create") and self.backend != "postgresql":
            return "PostgreSQL only"
        if scenario == "copy":
            return "no COPY API"
        return None

    async def open(self, target: Any) -> None:
        from tortoise import Tortoise

        from dorm_bench.orms.tortoise_models import Item

        self.vendor = target.vendor
        self.Item = Item
        await Tortoise.init(
            config={
                "connections": {"default": _connection(target)},
                "apps": {"bench": {"models": [MODELS], "default_connection": "default"}},
                "use_tz": True,
            }
        )
        self.conn = Tortoise.get_connection("default")

    async def close(self) -> None:
        from tortoise import Tortoise

        await Tortoise.close_connections()

    async def prepare(self, work: Work) -> None:
        if work.scenario in ("bulk_insert", "copy_bulk_create"):
            Item = self.Item
            work.prepared = [Item(name=n, value=v, active=a) for n, v, a in work.rows]

    async def settings(self) -> dict[str, str]:
        out = {}
        if self.vendor == "sqlite":
            for name in SQLITE_PRAGMA_NAMES:
                rows = await self.conn.execute_query_dict(f"PRAGMA {name}")
                out[name] = describe_sqlite_value(name, next(iter(rows[0].values())))
        else:
            for name in PG_SETTING_NAMES:
                rows = await self.conn.execute_query_dict(f"SHOW {name}")
                out[name] = str(next(iter(rows[0].values())))
        return out

    async def insert_one(self, work: Work) -> None:
        Item = self.Item
        for name, value, active in work.rows:
            await Item.create(name=name, value=value, active=active)

    async def bulk_insert(self, work: Work) -> None:
        await self.Item.bulk_create(work.prepared)

    copy_bulk_create = bulk_insert

    async def get_by_pk(self, work: Work) -> None:
        Item = self.Item
        for pk in work.pks:
            await Item.get(id=pk)

    async def filter_count(self, work: Work) -> None:
        Item = self.Item
        for _ in range(work.n):
            await Item.filter(active=True).count()

    async def list_first_n(self, work: Work) -> None:
        Item = self.Item
        for _ in range(work.times):
            await Item.all().order_by("id").limit(work.limit)
