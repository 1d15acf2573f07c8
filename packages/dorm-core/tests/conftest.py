"""Shared fixtures of dorm-core's tests.

The database under test is chosen in ONE place, :func:`database_settings`:

* by default, a fresh SQLite file in the test's temporary directory;
* ``DORM_TEST_DATABASE_ENGINE=postgresql`` (or any installed engine name) with
  ``DORM_TEST_DATABASE_DSN=postgresql://...`` runs the same tests on that database (the DSN is
  passed as ``OPTIONS["conninfo"]``; ``DORM_TEST_DATABASE_OPTIONS`` may add more OPTIONS as a
  JSON object). This is how the PostgreSQL integration suite re-runs these modules.

Tests that touch the database therefore use portable SQL only (``%s`` placeholders, explicit
values, no AUTOINCREMENT) and create their tables through :meth:`TestDatabase.create_table`,
which also drops them afterwards on a shared server. SQLite-only behaviour is tested in
``packages/dorm-sqlite/tests``.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

import dorm
from dorm.db import aclose_all, close_all, connections

DEFAULT_ENGINE = "sqlite"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "packaging: builds the wheels and installs them into a fresh venv (slow; needs PyPI). "
        "Deselect with -m 'not packaging'.",
    )


def database_settings(tmp_path: Path, name: str = "test.sqlite3") -> dict[str, Any]:
    """The ``DATABASES["default"]`` entry the tests run against (see the module docstring)."""
    engine = os.environ.get("DORM_TEST_DATABASE_ENGINE", DEFAULT_ENGINE)
    if engine == "sqlite":
        return {"ENGINE": "sqlite", "NAME": str(tmp_path / name)}
    dsn = os.environ.get("DORM_TEST_DATABASE_DSN") or os.environ.get("DORM_TEST_POSTGRES_DSN")
    if not dsn:
        raise pytest.UsageError(
            f"DORM_TEST_DATABASE_ENGINE={engine!r} needs DORM_TEST_DATABASE_DSN (a conninfo/URL)."
        )
    options = {"conninfo": dsn, **json.loads(os.environ.get("DORM_TEST_DATABASE_OPTIONS", "{}"))}
    return {"ENGINE": engine, "NAME": "", "OPTIONS": options}


class TestDatabase:
    """What a test knows about the configured ``default`` database."""

    __test__ = False  # not a test class
    alias = "default"

    def __init__(self, settings: dict[str, Any]) -> None:
        self.settings = settings
        self.engine: str = settings["ENGINE"]
        self._tables: list[str] = []

    @property
    def is_sqlite(self) -> bool:
        return self.engine == "sqlite"

    def create_table(self, name: str, columns: str) -> str:
        """``CREATE TABLE name (columns)`` (dropping a leftover first); dropped at teardown."""
        conn = connections[self.alias]
        quoted = conn.ops.quote_name(name)
        conn.execute(f"DROP TABLE IF EXISTS {quoted}")
        conn.execute(f"CREATE TABLE {quoted} ({columns})")
        self._tables.append(name)
        return name

    def drop_tables(self) -> None:
        if not self._tables:
            return
        conn = connections[self.alias]
        for name in reversed(self._tables):
            conn.execute(f"DROP TABLE IF EXISTS {conn.ops.quote_name(name)}")
        self._tables.clear()


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[TestDatabase]:
    """A freshly configured ``default`` database; every connection is closed afterwards.

    Async so that it can close the async connections of the test's own event loop; sync tests
    use it just the same.
    """
    close_all()
    settings = database_settings(tmp_path)
    dorm.configure(DATABASES={"default": settings})
    database = TestDatabase(settings)
    try:
        yield database
    finally:
        await aclose_all()
        close_all()
        if not database.is_sqlite:
            database.drop_tables()
            close_all()
