"""One runner per ORM (and per raw driver), sync and async, for SQLite and PostgreSQL.

A runner opens its ORM on a :class:`~dorm_bench.core.SQLiteTarget` or
:class:`~dorm_bench.core.PostgresTarget`, has one method per scenario (the timed code, written
the way a user of that ORM would write it), and reports the connection settings it ran with.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
from typing import Any

#: The ORMs compared, in table order; "raw" (the driver baseline) always runs first.
ORMS = ("dorm", "django", "sqlalchemy", "tortoise")

#: (orm, backend, async) -> "module:Class"
_RUNNERS = {
    ("raw", "sqlite", False): "dorm_bench.orms.raw:RawSQLite",
    ("raw", "sqlite", True): "dorm_bench.orms.raw:RawAioSQLite",
    ("raw", "postgresql", False): "dorm_bench.orms.raw:RawPsycopg",
    ("raw", "postgresql", True): "dorm_bench.orms.raw:RawAsyncPsycopg",
    ("dorm", "sqlite", False): "dorm_bench.orms.dorm_orm:DormRunner",
    ("dorm", "sqlite", True): "dorm_bench.orms.dorm_orm:AsyncDormRunner",
    ("dorm", "postgresql", False): "dorm_bench.orms.dorm_orm:DormRunner",
    ("dorm", "postgresql", True): "dorm_bench.orms.dorm_orm:AsyncDormRunner",
    ("django", "sqlite", False): "dorm_bench.orms.django_orm:DjangoRunner",
    ("django", "sqlite", True): "dorm_bench.orms.django_orm:AsyncDjangoRunner",
    ("django", "postgresql", False): "dorm_bench.orms.django_orm:DjangoRunner",
    ("django", "postgresql", True): "dorm_bench.orms.django_orm:AsyncDjangoRunner",
    ("sqlalchemy", "sqlite", False): "dorm_bench.orms.sqlalchemy_orm:SQLAlchemyRunner",
    ("sqlalchemy", "sqlite", True): "dorm_bench.orms.sqlalchemy_orm:AsyncSQLAlchemyRunner",
    ("sqlalchemy", "postgresql", False): "dorm_bench.orms.sqlalchemy_orm:SQLAlchemyRunner",
    ("sqlalchemy", "postgresql", True): "dorm_bench.orms.sqlalchemy_orm:AsyncSQLAlchemyRunner",
    # Tortoise is async-only: in the sync table its async API runs inside one event loop.
    ("tortoise", "sqlite", False): "dorm_bench.orms.tortoise_orm:TortoiseRunner",
    ("tortoise", "sqlite", True): "dorm_bench.orms.tortoise_orm:TortoiseRunner",
    ("tortoise", "postgresql", False): "dorm_bench.orms.tortoise_orm:TortoiseRunner",
    ("tortoise", "postgresql", True): "dorm_bench.orms.tortoise_orm:TortoiseRunner",
}

#: What each runner needs importable, per backend: (module, distribution to install).
_REQUIRES: dict[tuple[str, str], tuple[tuple[str, str], ...]] = {
    ("raw", "sqlite"): (("aiosqlite", "aiosqlite"),),
    ("raw", "postgresql"): (("psycopg", "psycopg"),),
    ("dorm", "sqlite"): (("dorm", "dorm-core"), ("dorm_sqlite", "dorm-sqlite")),
    ("dorm", "postgresql"): (("dorm", "dorm-core"), ("dorm_postgres", "dorm-postgres")),
    ("django", "sqlite"): (("django", "django"),),
    ("django", "postgresql"): (("django", "django"), ("psycopg", "psycopg")),
    ("sqlalchemy", "sqlite"): (("sqlalchemy", "sqlalchemy"),),
    ("sqlalchemy", "postgresql"): (("sqlalchemy", "sqlalchemy"), ("psycopg", "psycopg")),
    ("tortoise", "sqlite"): (("tortoise", "tortoise-orm"),),
    ("tortoise", "postgresql"): (
        ("tortoise", "tortoise-orm"),
        ("psycopg", "psycopg"),
        ("psycopg_pool", "psycopg-pool"),
    ),
}
_ASYNC_REQUIRES: dict[str, tuple[tuple[str, str], ...]] = {
    "sqlalchemy": (("greenlet", "greenlet"),),
    "django": (("asgiref", "asgiref"),),
}


class Skip(Exception):
    """The runner cannot run here (a distribution is missing); the message says which."""


def missing(orm: str, backend: str, is_async: bool) -> list[str]:
    """Distributions that must be installed for this runner, and are not."""
    needs = list(_REQUIRES[(orm, backend)])
    if is_async:
        needs += _ASYNC_REQUIRES.get(orm, ())
    return [dist for module, dist in needs if importlib.util.find_spec(module) is None]


def load_runner(orm: str, backend: str, is_async: bool) -> Any:
    """A fresh runner instance, or :class:`Skip` saying what to install."""
    absent = missing(orm, backend, is_async)
    if absent:
        raise Skip(f"not installed (pip install {' '.join(absent)})")
    module_name, _, class_name = _RUNNERS[(orm, backend, is_async)].partition(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    return cls(backend)


def version_of(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "?"


class BaseRunner:
    """What every runner shares; scenario methods are added by subclasses."""

    name = ""
    dist = ""  # distribution whose version labels the column
    is_async = False
    #: Scenarios this runner cannot do, with the reason shown in the table.
    not_supported: dict[str, str] = {}

    def __init__(self, backend: str) -> None:
        self.backend = backend
        self.notes: list[str] = []

    @property
    def label(self) -> str:
        return f"{self.name} {version_of(self.dist)}" if self.dist else self.name

    def unsupported(self, scenario: str) -> str | None:
        return self.not_supported.get(scenario)


class SyncRunner(BaseRunner):
    def open(self, target: Any) -> None:
        raise NotImplementedError(f"{type(self).__name__} must implement open().")

    def close(self) -> None:
        pass

    def prepare(self, work: Any) -> None:
        """Untimed set-up of one run (e.g. build model instances for bulk_create)."""

    def finish(self, work: Any) -> None:
        """Untimed clean-up of one run."""

    def settings(self) -> dict[str, str]:
        return {}


class AsyncRunner(BaseRunner):
    is_async = True

    async def open(self, target: Any) -> None:
        raise NotImplementedError(f"{type(self).__name__} must implement open().")

    async def close(self) -> None:
        pass

    async def prepare(self, work: Any) -> None:
        pass

    async def finish(self, work: Any) -> None:
        pass

    async def settings(self) -> dict[str, str]:
        return {}


def sqlite_settings_sql(name: str) -> str:
    return f"PRAGMA {name}"


def describe_sqlite_value(name: str, value: Any) -> str:
    """PRAGMA values as people write them (synchronous=1 is NORMAL, foreign_keys=1 is ON)."""
    if name == "synchronous":
        return {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}.get(int(value), str(value))
    if name == "foreign_keys":
        return "ON" if int(value) else "OFF"
    if name == "journal_mode":
        return str(value).upper()
    return str(value)
