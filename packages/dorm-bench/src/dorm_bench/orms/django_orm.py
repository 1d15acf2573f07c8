"""Django's ORM outside a project: settings configured programmatically, one bench app.

The async runner uses Django's ``a*`` methods (``acreate``, ``aget``, ``acount``, ``async for``),
which run the sync ORM in a worker thread (``sync_to_async``).
"""

from __future__ import annotations

import contextlib
from typing import Any

from dorm_bench.core import PG_SETTING_NAMES, SQLITE_PRAGMA_NAMES, SQLITE_PRAGMAS, Work
from dorm_bench.orms import AsyncRunner, SyncRunner, describe_sqlite_value


def _set_pragmas(sender: Any, connection: Any, **kwargs: Any) -> None:
    """``connection_created`` receiver: the benchmark's PRAGMAs on every SQLite connection."""
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            for name, value in SQLITE_PRAGMAS.items():
                cursor.execute(f"PRAGMA {name} = {value}")


def _database(target: Any) -> dict[str, Any]:
    if target.vendor == "sqlite":
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": str(target.path), "OPTIONS": {}}
    from psycopg.conninfo import conninfo_to_dict

    info = conninfo_to_dict(target.dsn)
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": info.get("dbname") or info.get("user") or "postgres",
        "USER": info.get("user") or "",
        "PASSWORD": info.get("password") or "",
        "HOST": info.get("host") or "",
        "PORT": str(info.get("port") or ""),
        "OPTIONS": {},
    }


def setup_django(target: Any) -> Any:
    """Configure Django for ``target`` (once per process; later calls switch the database)."""
    import django
    from django.conf import settings

    database = _database(target)
    if not settings.configured:
        settings.configure(
            DEBUG=False,  # no query log
            USE_TZ=True,
            DATABASES={"default": database},
            INSTALLED_APPS=["dorm_bench.django_app"],
            DEFAULT_AUTO_FIELD="django.db.models.AutoField",
        )
        django.setup()
        from django.db.backends.signals import connection_created

        connection_created.connect(_set_pragmas, dispatch_uid="dorm_bench_pragmas")
    else:
        from django.db import connections

        connections.close_all()
        connections.settings["default"].update(database)
        with contextlib.suppress(AttributeError):
            del connections["default"]
    from dorm_bench.django_app.models import Item

    return Item


def _read_settings(vendor: str) -> dict[str, str]:
    from django.db import connection

    out = {}
    with connection.cursor() as cursor:
        if vendor == "sqlite":
            for name in SQLITE_PRAGMA_NAMES:
                cursor.execute(f"PRAGMA {name}")
                out[name] = describe_sqlite_value(name, cursor.fetchone()[0])
        else:
            for name in PG_SETTING_NAMES:
                cursor.execute(f"SHOW {name}")
                out[name] = str(cursor.fetchone()[0])
    return out


class _DjangoBase:
    name = "django"
    dist = "django"
    not_supported = {"copy": "no COPY API"}
    backend: str
    Item: Any  # the Django model class, once Django is set up

    def unsupported(self, scenario: str) -> str | None:
        if scenario in ("copy", "copy_bulk_create") and self.backend != "postgresql":
            return "PostgreSQL only"
        return self.not_supported.get(scenario)

    def _prepare(self, work: Work) -> None:
        if work.scenario in ("bulk_insert", "copy_bulk_create"):
            work.prepared = [self.Item(name=n, value=v, active=a) for n, v, a in work.rows]


class DjangoRunner(_DjangoBase, SyncRunner):
    def open(self, target: Any) -> None:
        self.vendor = target.vendor
        self.Item = setup_django(target)
        from django.db import connection

        connection.ensure_connection()

    def close(self) -> None:
        from django.db import connections

        connections.close_all()

    def prepare(self, work: Work) -> None:
        self._prepare(work)

    def settings(self) -> dict[str, str]:
        return _read_settings(self.vendor)

    def insert_one(self, work: Work) -> None:
        Item = self.Item
        for name, value, active in work.rows:
            Item.objects.create(name=name, value=value, active=active)

    def bulk_insert(self, work: Work) -> None:
        self.Item.objects.bulk_create(work.prepared)

    copy_bulk_create = bulk_insert

    def get_by_pk(self, work: Work) -> None:
        Item = self.Item
        for pk in work.pks:
            Item.objects.get(pk=pk)

    def filter_count(self, work: Work) -> None:
        Item = self.Item
        for _ in range(work.n):
            Item.objects.filter(active=True).count()

    def list_first_n(self, work: Work) -> None:
        Item = self.Item
        for _ in range(work.times):
            list(Item.objects.order_by("id")[: work.limit])


class AsyncDjangoRunner(_DjangoBase, AsyncRunner):
    async def open(self, target: Any) -> None:
        from asgiref.sync import sync_to_async

        self.vendor = target.vendor
        self.Item = setup_django(target)
        self.sync_to_async = sync_to_async

    async def close(self) -> None:
        from django.db import connections

        await self.sync_to_async(connections.close_all)()

    async def prepare(self, work: Work) -> None:
        self._prepare(work)

    async def settings(self) -> dict[str, str]:
        return await self.sync_to_async(_read_settings)(self.vendor)

    async def insert_one(self, work: Work) -> None:
        Item = self.Item
        for name, value, active in work.rows:
            await Item.objects.acreate(name=name, value=value, active=active)

    async def bulk_insert(self, work: Work) -> None:
        await self.Item.objects.abulk_create(work.prepared)

    copy_bulk_create = bulk_insert

    async def get_by_pk(self, work: Work) -> None:
        Item = self.Item
        for pk in work.pks:
            await Item.objects.aget(pk=pk)

    async def filter_count(self, work: Work) -> None:
        Item = self.Item
        for _ in range(work.n):
            await Item.objects.filter(active=True).acount()

    async def list_first_n(self, work: Work) -> None:
        Item = self.Item
        for _ in range(work.times):
            [x async for x in Item.objects.order_by("id")[: work.limit]]
