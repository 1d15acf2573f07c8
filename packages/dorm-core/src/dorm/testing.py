"""Helpers for tests: count the statements an alias runs (built on execution hooks)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

from dorm.conf import DEFAULT_DB_ALIAS
from dorm.db.hooks import Registration, register_execute_wrapper

__all__ = ["CaptureQueries", "assert_num_queries"]


class CaptureQueries:
    """Record every statement run on ``using`` (all threads and tasks) inside the block.

    ``with CaptureQueries() as ctx: ...`` then ``len(ctx)`` / ``ctx.queries`` (SQL strings).
    Works with ``async with`` too. Transaction control (BEGIN/COMMIT/SAVEPOINT...) is
    excluded unless ``include_transaction=True``.
    """

    _CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE SAVEPOINT")

    def __init__(self, using: str = DEFAULT_DB_ALIAS, include_transaction: bool = False) -> None:
        self.using = using
        self.include_transaction = include_transaction
        self.captured: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._registration: Registration | None = None

    @property
    def queries(self) -> list[str]:
        return [q["sql"] for q in self.captured]

    def __len__(self) -> int:
        return len(self.captured)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.captured)

    def _record(self, sql: str, params: Any) -> None:
        if not self.include_transaction and sql.lstrip().upper().startswith(self._CONTROL):
            return
        with self._lock:
            self.captured.append({"sql": sql, "params": params})

    def __enter__(self) -> CaptureQueries:
        def sync(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
            self._record(sql, params)
            return execute(sql, params, many, context)

        async def async_(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
            self._record(sql, params)
            return await execute(sql, params, many, context)

        self._registration = register_execute_wrapper(sync=sync, async_=async_, alias=self.using)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._registration is not None:
            self._registration.remove()
            self._registration = None

    async def __aenter__(self) -> CaptureQueries:
        return self.__enter__()

    async def __aexit__(self, *exc: object) -> None:
        self.__exit__(*exc)


class assert_num_queries(CaptureQueries):
    """``with assert_num_queries(3): ...`` fails with the captured SQL if the count differs."""

    def __init__(self, num: int, using: str = DEFAULT_DB_ALIAS) -> None:
        super().__init__(using)
        self.num = num

    def __exit__(self, exc_type: Any, *rest: Any) -> None:
        super().__exit__(exc_type, *rest)
        if exc_type is None and len(self) != self.num:
            listing = "\n".join(f"{i}. {q}" for i, q in enumerate(self.queries, 1))
            raise AssertionError(
                f"{len(self)} queries executed on {self.using!r}, {self.num} expected:\n{listing}"
            )
