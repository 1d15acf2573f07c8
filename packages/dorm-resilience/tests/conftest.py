"""Fixtures of dorm-resilience's tests: a fake monotonic clock and a clean breaker registry.

Every test starts and ends with no breaker registered and the automatic protection removed,
so breakers named after aliases ("default") can be recreated with other parameters.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from dorm.contrib.circuit_breaker import reset_circuit_breakers, uninstall
from dorm.db import aclose_all, close_all


class FakeClock:
    """A monotonic clock that only moves when told to: ``clock.advance(30)``."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(autouse=True)
def clean_breakers() -> Iterator[None]:
    reset_circuit_breakers(forget=True)
    uninstall()
    try:
        yield
    finally:
        uninstall()
        reset_circuit_breakers(forget=True)


class Entries:
    """Builders of ``DATABASES`` entries on SQLite files in the test's temporary folder."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path

    def ok(self, name: str = "db.sqlite3", **options: Any) -> dict[str, Any]:
        return {"ENGINE": "sqlite", "NAME": str(self.tmp_path / name), "OPTIONS": options}

    def broken(self, **options: Any) -> dict[str, Any]:
        """An entry whose database cannot be opened (its folder does not exist).

        Every statement fails with a real ``OperationalError`` ("unable to open database
        file") while opening the connection, the way an unreachable server does.
        """
        path = self.tmp_path / "no-such-folder" / "db.sqlite3"
        return {"ENGINE": "sqlite", "NAME": str(path), "OPTIONS": options}


@pytest.fixture
async def entries(tmp_path: Path) -> AsyncIterator[Entries]:
    """Entry builders; every dorm connection is closed after the test."""
    close_all()
    try:
        yield Entries(tmp_path)
    finally:
        await aclose_all()
        close_all()
