"""Fixtures of dorm-outbox's unit tests: a SQLite database with the test tables, a fake clock."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from outbox_test_models import MODELS, FakeClock

import dorm
from dorm.db import aclose_all, close_all, connections


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def db(tmp_path: Path) -> Iterator[None]:
    """``default`` on a fresh SQLite file with the test tables."""
    close_all()
    dorm.configure(
        DATABASES={"default": {"ENGINE": "sqlite", "NAME": str(tmp_path / "db.sqlite3")}}
    )
    with connections["default"].schema_editor() as editor:
        for model in MODELS:
            editor.create_model(model)
    try:
        yield
    finally:
        close_all()


@pytest.fixture
async def adb(db: None) -> AsyncIterator[None]:
    """:func:`db`, and the test's event loop's async connections closed after."""
    try:
        yield
    finally:
        await aclose_all()
