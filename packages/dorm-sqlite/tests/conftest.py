"""Fixtures of dorm-sqlite's tests: every test configures its own SQLite database."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

import dorm
from dorm.db import aclose_all, close_all

Configure = Callable[..., dict[str, Any]]


@pytest.fixture
async def configure_sqlite(tmp_path: Path) -> AsyncIterator[Configure]:
    """``configure_sqlite(name="db.sqlite3", **OPTIONS)`` configures ``default`` on SQLite.

    ``name`` is a file in the test's temporary directory, or ``":memory:"``. Returns the
    ``DATABASES["default"]`` entry. Every connection is closed after the test.
    """

    def configure(name: str = "db.sqlite3", **options: Any) -> dict[str, Any]:
        path = name if name == ":memory:" else str(tmp_path / name)
        entry = {"ENGINE": "sqlite", "NAME": path, "OPTIONS": options}
        dorm.configure(DATABASES={"default": entry})
        return entry

    close_all()
    try:
        yield configure
    finally:
        await aclose_all()
        close_all()


@pytest.fixture
def sqlite_file(configure_sqlite: Configure) -> dict[str, Any]:
    """``default`` on a fresh SQLite file with the default OPTIONS."""
    return configure_sqlite()
