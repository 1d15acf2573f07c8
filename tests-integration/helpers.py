"""Small helpers shared by the integration tests."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import psycopg


class Runner:
    """Runs an ORM call the sync way or the async way, so a test body is written once."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.is_async = mode == "async"

    def __repr__(self) -> str:
        return self.mode

    async def __call__(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if not self.is_async:
            return method(*args, **kwargs)
        owner = method.__self__  # type: ignore[attr-defined]
        return await getattr(owner, "a" + method.__name__)(*args, **kwargs)

    async def list(self, qs: Any) -> list[Any]:
        if not self.is_async:
            return list(qs)
        return [obj async for obj in qs]

    async def iterator(self, qs: Any, chunk_size: int | None = None) -> list[Any]:
        if not self.is_async:
            return list(qs.iterator(chunk_size=chunk_size))
        return [obj async for obj in qs.aiterator(chunk_size=chunk_size)]

    async def raw(self, method: str, alias: str, *args: Any) -> Any:
        """``connections[alias].<method>(*args)`` or the async twin, awaited."""
        from dorm.db import async_connections, connections

        if self.is_async:
            return await getattr(async_connections[alias], method)(*args)
        return getattr(connections[alias], method)(*args)

    def atomic(self, using: str | None = None) -> Any:
        from dorm import transaction

        if self.is_async:
            return transaction.aatomic(using=using)
        return _as_async_cm(transaction.atomic(using=using))


@contextlib.asynccontextmanager
async def _as_async_cm(cm: Any) -> AsyncIterator[Any]:
    with cm as value:
        yield value


def terminate(admin: psycopg.Connection[Any], pid: int, timeout: float = 10.0) -> None:
    """``pg_terminate_backend(pid)`` and wait until that backend is gone."""
    admin.execute("SELECT pg_terminate_backend(%s)", [pid])
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = admin.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", [pid]).fetchone()
        if row is None:
            return
        time.sleep(0.01)
    raise AssertionError(f"backend {pid} did not exit within {timeout}s")
