"""The backend contract: a sync and an async wrapper around a DB-API driver.

A backend provides ``features``, ``ops`` and ``schema_editor`` classes (pure code, shared by
both wrappers) and the few I/O primitives below. Everything the ORM runs goes through
``_execute`` so execution hooks and error wrapping apply to every statement.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import re
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextvars import ContextVar
from typing import Any, ClassVar, NoReturn

from dorm import exceptions
from dorm.db import hooks
from dorm.db.backends.base.features import BaseDatabaseFeatures
from dorm.db.backends.base.operations import BaseDatabaseOperations
from dorm.db.backends.base.transaction_state import Action, TransactionState
from dorm.exceptions import PoolTimeout

Params = Sequence[Any] | None

_PEP249 = (
    "NotSupportedError",
    "IntegrityError",
    "DataError",
    "OperationalError",
    "ProgrammingError",
    "InternalError",
    "DatabaseError",
    "InterfaceError",
    "Error",
)


def translate_error(exc: BaseException) -> exceptions.Error | None:
    """The dorm exception for a driver exception, matched on PEP 249 class names."""
    if isinstance(exc, exceptions.Error):
        return None
    names = {cls.__name__ for cls in type(exc).__mro__}
    for name in _PEP249:
        if name in names:
            return getattr(exceptions, name)(*exc.args)
    return None


def _raise_translated(exc: BaseException, error: exceptions.Error | None) -> NoReturn:
    """Raise ``error`` (the dorm exception for driver error ``exc``) from it, else ``exc``."""
    if error is None:
        raise exc
    raise error.with_traceback(exc.__traceback__) from exc


class ErrorTranslator:
    """Context manager re-raising driver errors as ``dorm.exceptions`` with the cause kept."""

    __slots__ = ("wrapper",)

    def __init__(self, wrapper: Any) -> None:
        self.wrapper = wrapper

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc is None:
            return
        dorm_exc = self.wrapper.translate_error(exc)
        if dorm_exc is not None:
            raise dorm_exc.with_traceback(tb) from exc


class _ConnectionInfo:
    """Pure settings-derived state shared by the sync and async wrappers of a backend."""

    vendor: ClassVar[str] = "unknown"
    display_name: ClassVar[str] = "unknown"
    features_class: ClassVar[type[BaseDatabaseFeatures]] = BaseDatabaseFeatures
    ops_class: ClassVar[type[BaseDatabaseOperations]] = BaseDatabaseOperations
    schema_editor_class: ClassVar[type | None] = None  # set below to the base editor
    #: Field internal type -> column type template (``%(max_length)s`` etc.).
    data_types: ClassVar[dict[str, str]] = {}
    data_types_suffix: ClassVar[dict[str, str]] = {}
    data_type_check_constraints: ClassVar[dict[str, str]] = {}
    is_async: ClassVar[bool] = False

    alias: str
    settings_dict: dict[str, Any]

    def _init_info(self, settings_dict: dict[str, Any], alias: str) -> None:
        self.settings_dict = settings_dict
        self.alias = alias
        self.features = self.features_class(self)
        self.ops = self.ops_class(self)
        self.errors = ErrorTranslator(self)
        self._local_wrappers: list[Any] = []

    def translate_error(self, exc: BaseException) -> exceptions.Error | None:
        return translate_error(exc)

    def is_disconnect(self, exc: BaseException) -> bool:
        """Whether ``exc`` means the connection is dead and must not be reused."""
        return isinstance(exc, exceptions.InterfaceError)

    def __repr__(self) -> str:
        return f"<{type(self).__qualname__} vendor={self.vendor!r} alias={self.alias!r}>"


_PCT_S = re.compile(r"(?<!%)%s")


def format_to_qmark(sql: str) -> str:
    """Rewrite dorm's portable ``%s`` placeholders (``%%`` = literal %) for qmark drivers."""
    return _PCT_S.sub("?", sql).replace("%%", "%")


class CursorWrapper:
    """A driver cursor with fetch errors translated; returned by the raw-SQL API."""

    __slots__ = ("cursor", "errors")

    def __init__(self, cursor: Any, errors: ErrorTranslator) -> None:
        self.cursor = cursor
        self.errors = errors

    @property
    def rowcount(self) -> int:
        return int(self.cursor.rowcount)

    @property
    def lastrowid(self) -> Any:
        return getattr(self.cursor, "lastrowid", None)

    @property
    def description(self) -> Any:
        return self.cursor.description

    def fetchone(self) -> tuple[Any, ...] | None:
        with self.errors:
            return self.cursor.fetchone()  # type: ignore[no-any-return]

    def fetchmany(self, size: int = 100) -> list[tuple[Any, ...]]:
        with self.errors:
            return list(self.cursor.fetchmany(size))

    def fetchall(self) -> list[tuple[Any, ...]]:
        with self.errors:
            return list(self.cursor.fetchall())

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        while True:
            rows = self.fetchmany(256)
            if not rows:
                return
            yield from rows

    def close(self) -> None:
        self.cursor.close()


# ----------------------------------------------------------------------------------------
# Sync


class BaseDatabaseWrapper(_ConnectionInfo):
    """One driver connection for one thread and alias.

    Backends implement ``get_new_connection``, ``init_connection_state``,
    ``_raw_execute`` and the transaction primitives when the defaults do not fit.
    """

    def __init__(self, settings_dict: dict[str, Any], alias: str) -> None:
        self._init_info(settings_dict, alias)
        self.connection: Any = None
        self.tx = TransactionState()
        self.thread_ident = threading.get_ident()

    # Connection lifecycle ------------------------------------------------------------

    def get_new_connection(self) -> Any:
        raise NotImplementedError("Backends must open a driver connection.")

    def init_connection_state(self) -> None:
        """Run once per new driver connection (session settings)."""

    def ensure_connection(self) -> Any:
        if self.connection is None:
            with self.errors:
                self.connection = self.get_new_connection()
                self.init_connection_state()
        return self.connection

    def is_usable(self) -> bool:
        return self.connection is not None

    def close(self) -> None:
        """Close the driver connection; a later statement opens a new one."""
        conn, self.connection = self.connection, None
        self.tx = TransactionState()
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()

    # Execution -----------------------------------------------------------------------

    def _raw_execute(self, sql: str, params: Params, many: bool) -> Any:
        """Run one statement on the driver; return the driver cursor."""
        conn = self.ensure_connection()
        cursor = conn.cursor()
        if many:
            cursor.executemany(sql, params or [])
        else:
            cursor.execute(sql, params or ())
        return cursor

    def _execute_inner(self, sql: str, params: Params, many: bool, context: Any) -> Any:
        if self.tx.needs_rollback:
            self.tx.check_usable()
        # try/except, not ``with self.errors``: free when nothing fails, on every statement.
        try:
            return self._raw_execute(sql, params, many)
        except Exception as exc:
            self._statement_failed(exc)

    def _statement_failed(self, exc: Exception) -> NoReturn:
        """Raise ``exc`` as its dorm exception; a dead connection outside a transaction is
        closed first, so the next statement opens a new one."""
        error = self.translate_error(exc)
        if error is not None:
            error.__cause__ = exc  # as raised: is_disconnect() may look at the driver error
        failure = exc if error is None else error
        if (
            isinstance(failure, exceptions.Error)
            and self.is_disconnect(failure)
            and not self.tx.in_atomic_block
        ):
            self.close()
        _raise_translated(exc, error)

    def _execute(self, sql: str, params: Params = None, many: bool = False) -> Any:
        if not self._local_wrappers and not hooks.has_sync():
            return self._execute_inner(sql, params, many, None)
        chain = hooks.sync_wrappers(self.alias) + self._local_wrappers
        context = hooks.ExecuteContext(self.alias, self, False)
        call: Callable[..., Any] = self._execute_inner
        for wrapper in reversed(chain):
            call = _bind_sync(wrapper, call)
        return call(sql, params, many, context)

    @contextlib.contextmanager
    def execute_wrapper(self, wrapper: Callable[..., Any]) -> Iterator[None]:
        """Wrap every statement this connection runs inside the block."""
        self._local_wrappers.append(wrapper)
        try:
            yield
        finally:
            self._local_wrappers.remove(wrapper)

    # Raw-SQL API (``%s`` placeholders, parameters always bound) ------------------------

    def execute(self, sql: str, params: Params = None) -> CursorWrapper:
        """Run one statement; the result can be fetched from or iterated."""
        return CursorWrapper(self._execute(sql, params), self.errors)

    def executemany(self, sql: str, param_list: Sequence[Sequence[Any]]) -> int:
        cursor = self._execute(sql, param_list, True)
        return int(cursor.rowcount)

    def fetchone(self, sql: str, params: Params = None) -> tuple[Any, ...] | None:
        cursor = self._execute(sql, params)
        try:
            return cursor.fetchone()  # type: ignore[no-any-return]
        except Exception as exc:
            _raise_translated(exc, self.translate_error(exc))

    def fetchall(self, sql: str, params: Params = None) -> list[tuple[Any, ...]]:
        cursor = self._execute(sql, params)
        try:
            return cursor.fetchall()  # type: ignore[no-any-return]
        except Exception as exc:
            _raise_translated(exc, self.translate_error(exc))

    def iterate(
        self, sql: str, params: Params = None, chunk_size: int = 2000
    ) -> Iterator[tuple[Any, ...]]:
        """Stream rows in chunks (server-side cursors where the backend has them)."""
        cursor = self._execute(sql, params)
        while True:
            with self.errors:
                rows = cursor.fetchmany(chunk_size)
            if not rows:
                return
            yield from rows

    def execute_insert(
        self, sql: str, params: Params, returning: bool
    ) -> tuple[Any, ...] | int | None:
        """Run an INSERT; returns the RETURNING row when asked, else ``lastrowid``."""
        cursor = self._execute(sql, params)
        if not returning:
            return cursor.lastrowid  # type: ignore[no-any-return]
        try:
            return cursor.fetchone()  # type: ignore[no-any-return]
        except Exception as exc:
            _raise_translated(exc, self.translate_error(exc))

    def execute_rowcount(self, sql: str, params: Params = None) -> int:
        return int(self._execute(sql, params).rowcount)

    # Transactions --------------------------------------------------------------------

    def get_autocommit(self) -> bool:
        return not self.tx.in_atomic_block

    def apply(self, action: Action) -> None:
        """Carry out a transaction action decided by :class:`TransactionState`."""
        kind = action[0]
        if kind == "begin":
            self._begin()
        elif kind == "commit":
            self._commit()
        elif kind == "rollback":
            self._rollback()
        else:
            self._execute(self.savepoint_sql(kind, action[1]))

    def savepoint_sql(self, kind: str, sid: str) -> str:
        name = self.ops.quote_name(sid)
        return {
            "savepoint": f"SAVEPOINT {name}",
            "release": f"RELEASE SAVEPOINT {name}",
            "rollback_to": f"ROLLBACK TO SAVEPOINT {name}",
        }[kind]

    def begin_sql(self) -> str:
        return "BEGIN"

    def _begin(self) -> None:
        self._execute(self.begin_sql())

    def _commit(self) -> None:
        self._execute("COMMIT")

    def _rollback(self) -> None:
        if self.connection is not None:
            self._execute("ROLLBACK")

    # Schema --------------------------------------------------------------------------

    def schema_editor(self, *args: Any, **kwargs: Any) -> Any:
        """``with conn.schema_editor() as editor: editor.create_model(M)``."""
        from dorm.db.backends.base.schema import BaseDatabaseSchemaEditor

        return (self.schema_editor_class or BaseDatabaseSchemaEditor)(self, *args, **kwargs)


def _bind_sync(wrapper: Callable[..., Any], inner: Callable[..., Any]) -> Callable[..., Any]:
    def call(sql: str, params: Any, many: bool, context: Any) -> Any:
        return wrapper(inner, sql, params, many, context)

    return call


def _bind_async(wrapper: Callable[..., Any], inner: Callable[..., Any]) -> Callable[..., Any]:
    async def call(sql: str, params: Any, many: bool, context: Any) -> Any:
        return await wrapper(inner, sql, params, many, context)

    return call


# ----------------------------------------------------------------------------------------
# Async


class _WrapperBlock:
    """A block with one more local execute wrapper; usable with ``with`` and ``async with``."""

    __slots__ = ("wrapper", "wrappers")

    def __init__(self, wrappers: list[Any], wrapper: Callable[..., Any]) -> None:
        self.wrappers = wrappers
        self.wrapper = wrapper

    def __enter__(self) -> None:
        self.wrappers.append(self.wrapper)

    def __exit__(self, *exc: object) -> None:
        self.wrappers.remove(self.wrapper)

    async def __aenter__(self) -> None:
        self.__enter__()

    async def __aexit__(self, *exc: object) -> None:
        self.__exit__()


class _Binding:
    """A driver connection held by one task (inside ``aatomic`` or a pinned block)."""

    __slots__ = ("depth", "raw", "released", "task", "tx")

    def __init__(self, task: asyncio.Task[Any] | None, raw: Any) -> None:
        self.task = task
        self.raw = raw
        self.tx = TransactionState()
        self.depth = 0
        self.released = False


class AsyncPool:
    """A small pool of driver connections for one alias on one event loop.

    Backends with a real pool (psycopg_pool) replace it; SQLite uses this one.
    """

    def __init__(self, wrapper: BaseAsyncDatabaseWrapper, max_size: int, timeout: float) -> None:
        self.wrapper = wrapper
        self.max_size = max_size
        self.timeout = timeout
        self._idle: collections.deque[Any] = collections.deque()
        self._size = 0
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self._closed = False

    async def acquire(self) -> Any:
        if self._idle:
            return self._idle.pop()
        if self._size < self.max_size:
            self._size += 1
            try:
                return await self.wrapper.aget_new_connection()
            except BaseException:
                self._size -= 1
                self._wake()
                raise
        deadline = time.monotonic() + self.timeout
        while True:
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(fut)
            remaining = deadline - time.monotonic()
            try:
                await asyncio.wait_for(fut, timeout=max(remaining, 0))
            except TimeoutError:
                with contextlib.suppress(ValueError):
                    self._waiters.remove(fut)
                raise PoolTimeout(
                    f"No connection for alias {self.wrapper.alias!r} became free within "
                    f"{self.timeout:g}s (pool max_size={self.max_size}, all in use)."
                ) from None
            if self._idle:
                return self._idle.pop()
            if self._size < self.max_size:
                self._size += 1
                try:
                    return await self.wrapper.aget_new_connection()
                except BaseException:
                    self._size -= 1
                    self._wake()
                    raise

    def release(self, raw: Any, discard: bool = False) -> None:
        if discard or self._closed:
            self._size -= 1
            asyncio.get_running_loop().create_task(self.wrapper.aclose_raw(raw))
        else:
            self._idle.append(raw)
        self._wake()

    def _wake(self) -> None:
        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_result(None)
                return

    async def close(self) -> None:
        self._closed = True
        while self._idle:
            self._size -= 1
            await self.wrapper.aclose_raw(self._idle.pop())


class BaseAsyncDatabaseWrapper(_ConnectionInfo):
    """The async side of a backend for one alias and one event loop.

    Safe across concurrent tasks: a statement outside a transaction borrows a driver
    connection for its duration; ``aatomic`` (and pinning) binds one connection to the
    current task, so two tasks never interleave on one connection. Child tasks do not
    inherit the binding: they borrow their own connection.
    """

    is_async = True
    pool_class: ClassVar[type[AsyncPool]] = AsyncPool
    default_pool_size: ClassVar[int] = 4
    default_pool_timeout: ClassVar[float] = 30.0

    def __init__(self, settings_dict: dict[str, Any], alias: str) -> None:
        self._init_info(settings_dict, alias)
        self._binding: ContextVar[_Binding | None] = ContextVar(
            f"dorm_binding_{alias}_{id(self)}", default=None
        )
        pool_opts = self.settings_dict["OPTIONS"].get("pool") or {}
        self.pool = self.create_pool(
            int(pool_opts.get("max_size", self.default_pool_size)),
            float(pool_opts.get("timeout", self.default_pool_timeout)),
        )

    def create_pool(self, max_size: int, timeout: float) -> Any:
        return self.pool_class(self, max_size, timeout)

    # Driver primitives (backends implement) ---------------------------------------------

    async def aget_new_connection(self) -> Any:
        raise NotImplementedError("Async backends must open a driver connection.")

    async def aclose_raw(self, raw: Any) -> None:
        with contextlib.suppress(Exception):
            await raw.close()

    async def _raw_run(self, raw: Any, sql: str, params: Params, many: bool, mode: str) -> Any:
        """Run a statement on ``raw`` and fetch per ``mode``: all, one, rowcount, insert."""
        raise NotImplementedError(f"{type(self).__name__} must implement _raw_run().")

    # Binding -------------------------------------------------------------------------

    def current_binding(self) -> _Binding | None:
        binding = self._binding.get()
        if binding is not None and binding.task is asyncio.current_task() and not binding.released:
            return binding
        return None

    @property
    def tx(self) -> TransactionState:
        binding = self.current_binding()
        return binding.tx if binding is not None else _NO_TX

    def get_autocommit(self) -> bool:
        return not self.tx.in_atomic_block

    async def bind(self, acquire: bool = True) -> _Binding:
        """Bind a driver connection to the current task (re-entrant); pair with ``unbind``.

        ``acquire=False`` defers the checkout to the binding's first statement, so opening
        the connection happens inside the execution hooks (``aatomic`` does this: a circuit
        breaker then refuses the block's BEGIN before any connection attempt).
        """
        binding = self.current_binding()
        if binding is None:
            binding = _Binding(asyncio.current_task(), None)
            self._binding.set(binding)
        if acquire and binding.raw is None:
            try:
                binding.raw = await self.pool.acquire()
            except BaseException:
                if binding.depth == 0:
                    binding.released = True
                    self._binding.set(None)
                raise
        binding.depth += 1
        return binding

    def unbind(self, binding: _Binding, discard: bool = False) -> None:
        binding.depth -= 1
        if binding.depth == 0:
            binding.released = True
            self._binding.set(None)
            if binding.raw is not None:
                self.pool.release(binding.raw, discard=discard)

    # Execution -----------------------------------------------------------------------

    async def _execute_inner(
        self, sql: str, params: Params, many: bool, context: Any, mode: str = "cursor"
    ) -> Any:
        binding = self.current_binding()
        if binding is not None:
            if binding.tx.needs_rollback:
                binding.tx.check_usable()
            if binding.raw is None:
                binding.raw = await self.pool.acquire()
            try:
                return await self._raw_run(binding.raw, sql, params, many, mode)
            except Exception as exc:
                _raise_translated(exc, self.translate_error(exc))
        raw = await self.pool.acquire()
        discard = False
        try:
            return await self._raw_run(raw, sql, params, many, mode)
        except Exception as exc:
            error = self.translate_error(exc)
            if error is not None:
                error.__cause__ = exc
            failure = exc if error is None else error
            discard = isinstance(failure, exceptions.Error) and self.is_disconnect(failure)
            _raise_translated(exc, error)
        finally:
            self.pool.release(raw, discard=discard)

    async def _execute(
        self, sql: str, params: Params = None, many: bool = False, mode: str = "all"
    ) -> Any:
        if not self._local_wrappers and not hooks.has_async():
            return await self._execute_inner(sql, params, many, None, mode)
        chain = hooks.async_wrappers(self.alias) + self._local_wrappers
        context = hooks.ExecuteContext(self.alias, self, True)

        async def innermost(sql: str, params: Params, many: bool, context: Any) -> Any:
            return await self._execute_inner(sql, params, many, context, mode)

        call: Callable[..., Any] = innermost
        for wrapper in reversed(chain):
            call = _bind_async(wrapper, call)
        return await call(sql, params, many, context)

    def execute_wrapper(self, wrapper: Callable[..., Any]) -> _WrapperBlock:
        """Wrap every statement this alias runs (in this event loop) inside the block.

        Use it with ``with`` or ``async with``.
        """
        return _WrapperBlock(self._local_wrappers, wrapper)

    # Raw-SQL API ---------------------------------------------------------------------

    async def execute(self, sql: str, params: Params = None) -> AsyncResult:
        """Run one statement; rows (if any) are fetched before the connection is returned."""
        rows, rowcount, lastrowid, description = await self._execute(sql, params, mode="result")
        return AsyncResult(rows, rowcount, lastrowid, description)

    async def executemany(self, sql: str, param_list: Sequence[Sequence[Any]]) -> int:
        return int(await self._execute(sql, param_list, True, mode="rowcount"))

    async def fetchone(self, sql: str, params: Params = None) -> tuple[Any, ...] | None:
        return await self._execute(sql, params, mode="one")  # type: ignore[no-any-return]

    async def fetchall(self, sql: str, params: Params = None) -> list[tuple[Any, ...]]:
        return await self._execute(sql, params, mode="all")  # type: ignore[no-any-return]

    async def execute_insert(self, sql: str, params: Params, returning: bool) -> Any:
        return await self._execute(sql, params, mode="one" if returning else "insert")

    async def execute_rowcount(self, sql: str, params: Params = None) -> int:
        return int(await self._execute(sql, params, mode="rowcount"))

    async def iterate(
        self, sql: str, params: Params = None, chunk_size: int = 2000
    ) -> AsyncIterator[tuple[Any, ...]]:
        """Stream rows in chunks, holding one connection for the iteration."""
        binding = await self.bind()
        try:
            async for row in self._raw_stream(binding.raw, sql, params, chunk_size):
                yield row
        finally:
            self.unbind(binding)

    async def _raw_stream(
        self, raw: Any, sql: str, params: Params, chunk_size: int
    ) -> AsyncIterator[tuple[Any, ...]]:
        rows = await self._execute(sql, params, mode="all")
        for row in rows:
            yield row

    # Transactions --------------------------------------------------------------------

    async def apply(self, action: Action) -> None:
        kind = action[0]
        if kind == "begin":
            await self._execute(self.begin_sql(), mode="rowcount")
        elif kind == "commit":
            await self._execute("COMMIT", mode="rowcount")
        elif kind == "rollback":
            await self._execute("ROLLBACK", mode="rowcount")
        else:
            await self._execute(
                BaseDatabaseWrapper.savepoint_sql(self, kind, action[1]),  # type: ignore[arg-type]
                mode="rowcount",
            )

    def begin_sql(self) -> str:
        return "BEGIN"

    async def close(self) -> None:
        await self.pool.close()

    def schema_editor(self) -> Any:
        """``async with aconn.schema_editor() as editor: await editor.create_model(M)``."""
        from dorm.db.backends.base.schema import AsyncSchemaEditor, BaseDatabaseSchemaEditor

        return AsyncSchemaEditor(self, self.schema_editor_class or BaseDatabaseSchemaEditor)


_NO_TX = TransactionState()


class AsyncResult:
    """Rows of one statement run through the async raw-SQL API."""

    __slots__ = ("_pos", "_rows", "description", "lastrowid", "rowcount")

    def __init__(
        self, rows: list[tuple[Any, ...]] | None, rowcount: int, lastrowid: Any, description: Any
    ) -> None:
        self._rows = rows or []
        self._pos = 0
        self.rowcount = rowcount
        self.lastrowid = lastrowid
        self.description = description

    async def fetchone(self) -> tuple[Any, ...] | None:
        if self._pos >= len(self._rows):
            return None
        row = self._rows[self._pos]
        self._pos += 1
        return row

    async def fetchmany(self, size: int = 100) -> list[tuple[Any, ...]]:
        rows = self._rows[self._pos : self._pos + size]
        self._pos += len(rows)
        return rows

    async def fetchall(self) -> list[tuple[Any, ...]]:
        rows = self._rows[self._pos :]
        self._pos = len(self._rows)
        return rows

    def __aiter__(self) -> AsyncResult:
        return self

    async def __anext__(self) -> tuple[Any, ...]:
        row = await self.fetchone()
        if row is None:
            raise StopAsyncIteration
        return row
