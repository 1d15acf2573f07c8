"""PostgreSQL ``LISTEN`` / ``NOTIFY``: broker-less pub/sub (cache invalidation, wake-ups).

::

    from dorm.contrib.listen_notify import anotify, listen, notify

    async def consumer():
        async with listen("orders") as channel:       # a dedicated connection
            async for n in channel:                   # n.channel, n.payload, n.pid
                if n.payload == "stop":
                    break

    await anotify("orders", '{"id": 42}')             # notify(...) in sync code

**listen(*channels, using=None, reconnect=False, ...)** opens a connection of its own for
the block (never one of the pool's: it would be held for the block's lifetime and receive
nothing while lent out), runs ``LISTEN`` for each channel and closes it on exit. Use it
with ``async with`` (iterate with ``async for``, or ``await channel.get(timeout=...)``) or
with ``with`` in sync code (``for n in channel``, ``channel.get(timeout=...)``).
Notifications that arrive while the loop body runs are queued, not lost.

With ``reconnect=True`` a lost connection (server restart, ``pg_terminate_backend``, network)
is replaced: dorm waits ``reconnect_delay`` seconds (doubling up to
``max_reconnect_delay``), reconnects, runs ``LISTEN`` again and the iteration goes on; the
optional ``on_reconnect`` callback (sync, or async in async code) runs after each reconnect.
Notifications sent while no connection was listening are lost, so ``on_reconnect`` is where
to resynchronize (reload what a cache holds, re-scan a queue). Without ``reconnect`` the
loss raises ``OperationalError`` (``connection_lost = True``).

**notify(channel, payload="", using=None)** / **await anotify(...)** run
``SELECT pg_notify(%s, %s)`` with both values bound. Inside ``atomic()`` / ``aatomic()``
PostgreSQL sends the notification when the transaction commits and never if it rolls back;
outside one it is sent at once.

Channel names are validated (a non-empty ``str`` of at most 63 bytes in UTF-8, no NUL) and
always quoted as identifiers (``LISTEN "..."``, embedded quotes doubled), so a name is only
ever a name: nothing in it is run as SQL, and it is case-sensitive (``"Orders"`` and
``"orders"`` are two channels, as ``pg_notify`` sees them). Payloads must be shorter than
PostgreSQL's 8000 bytes (UTF-8): longer ones raise ``ValueError`` before reaching the server
— send a key and let listeners load the data.
"""

from __future__ import annotations

import asyncio
import collections
import inspect
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, NamedTuple

import psycopg

from dorm.conf import DEFAULT_DB_ALIAS
from dorm.db import async_connections, connections
from dorm.exceptions import NotSupportedError
from dorm_postgres import errors
from dorm_postgres.base import PostgresInfo, connect_failed
from dorm_postgres.driver import Cursor

__all__ = [
    "MAX_CHANNEL_BYTES",
    "MAX_PAYLOAD_BYTES",
    "AsyncChannel",
    "Channel",
    "Notification",
    "anotify",
    "listen",
    "notify",
]

#: PostgreSQL identifiers are at most NAMEDATALEN - 1 bytes.
MAX_CHANNEL_BYTES = 63
#: "The payload must be shorter than 8000 bytes" (the default configuration).
MAX_PAYLOAD_BYTES = 7999

_NOTIFY_SQL = "SELECT pg_notify(%s, %s)"


class Notification(NamedTuple):
    """One notification: the channel, its payload (``""`` when none) and the sender's pid."""

    channel: str
    payload: str
    pid: int


# Validation -----------------------------------------------------------------------------


def validate_channel(name: Any) -> str:
    """``name`` if it is a usable channel name, else ``TypeError`` / ``ValueError``."""
    if not isinstance(name, str):
        raise TypeError(f"A channel name must be a str, got {type(name).__name__}: {name!r}.")
    if not name:
        raise ValueError("A channel name cannot be empty.")
    if "\x00" in name:
        raise ValueError(f"Channel name {name!r} contains a NUL character.")
    size = len(name.encode("utf-8"))
    if size > MAX_CHANNEL_BYTES:
        raise ValueError(
            f"Channel name {name[:20]!r}... is {size} bytes; PostgreSQL identifiers are at "
            f"most {MAX_CHANNEL_BYTES} bytes."
        )
    return name


def quote_channel(name: str) -> str:
    """The channel as a quoted identifier (always quoted: a name is never SQL)."""
    return '"' + validate_channel(name).replace('"', '""') + '"'


def validate_payload(payload: Any) -> str:
    if payload is None:
        return ""
    if not isinstance(payload, str):
        raise TypeError(
            f"A NOTIFY payload must be a str (e.g. json.dumps(...)), got {type(payload).__name__}."
        )
    if "\x00" in payload:
        raise ValueError("A NOTIFY payload cannot contain a NUL character.")
    size = len(payload.encode("utf-8"))
    if size > MAX_PAYLOAD_BYTES:
        raise ValueError(
            f"NOTIFY payload is {size} bytes; PostgreSQL requires it to be shorter than 8000 "
            "bytes. Send a key (an id) instead and let listeners load the data."
        )
    return payload


def _require_postgres(conn: Any, what: str) -> None:
    if not isinstance(conn, PostgresInfo):
        raise NotSupportedError(
            f"{what} needs PostgreSQL (LISTEN/NOTIFY): alias {conn.alias!r} uses the "
            f"{getattr(conn, 'display_name', conn.vendor)} backend."
        )


# NOTIFY ----------------------------------------------------------------------------------


def notify(channel: str, payload: str | None = "", *, using: str | None = None) -> None:
    """Send ``payload`` on ``channel`` (at commit inside ``atomic()``, else now)."""
    params = [validate_channel(channel), validate_payload(payload)]
    conn = connections[using or DEFAULT_DB_ALIAS]
    _require_postgres(conn, "notify()")
    conn.execute(_NOTIFY_SQL, params)


async def anotify(channel: str, payload: str | None = "", *, using: str | None = None) -> None:
    """Async :func:`notify` (at commit inside ``aatomic()``, else now)."""
    params = [validate_channel(channel), validate_payload(payload)]
    conn = async_connections[using or DEFAULT_DB_ALIAS]
    _require_postgres(conn, "anotify()")
    await conn.execute(_NOTIFY_SQL, params)


# LISTEN ----------------------------------------------------------------------------------


class listen:
    """``async with listen(*channels) as channel`` (or ``with``): see the module docstring."""

    def __init__(
        self,
        *channels: str,
        using: str | None = None,
        reconnect: bool = False,
        reconnect_delay: float = 0.5,
        max_reconnect_delay: float = 30.0,
        on_reconnect: Callable[[], Any] | None = None,
    ) -> None:
        if not channels:
            raise TypeError("listen() needs at least one channel name.")
        self.channels = tuple(dict.fromkeys(validate_channel(c) for c in channels))
        if reconnect_delay <= 0 or max_reconnect_delay < reconnect_delay:
            raise ValueError("Need 0 < reconnect_delay <= max_reconnect_delay.")
        self.using = using or DEFAULT_DB_ALIAS
        self.options = (bool(reconnect), float(reconnect_delay), float(max_reconnect_delay))
        self.on_reconnect = on_reconnect
        self._async: AsyncChannel | None = None
        self._sync: Channel | None = None

    async def __aenter__(self) -> AsyncChannel:
        conn = async_connections[self.using]
        _require_postgres(conn, "listen()")
        channel = AsyncChannel(conn, self.channels, self.options, self.on_reconnect)
        await channel._connect()
        self._async = channel
        return channel

    async def __aexit__(self, *exc: object) -> None:
        channel, self._async = self._async, None
        if channel is not None:
            await channel.close()

    def __enter__(self) -> Channel:
        conn = connections[self.using]
        _require_postgres(conn, "listen()")
        channel = Channel(conn, self.channels, self.options, self.on_reconnect)
        channel._connect()
        self._sync = channel
        return channel

    def __exit__(self, *exc: object) -> None:
        channel, self._sync = self._sync, None
        if channel is not None:
            channel.close()


class _ChannelBase:
    """What the sync and async channels share: state, LISTEN SQL, error handling."""

    def __init__(
        self,
        wrapper: Any,
        channels: tuple[str, ...],
        options: tuple[bool, float, float],
        on_reconnect: Callable[[], Any] | None,
    ) -> None:
        self.wrapper = wrapper
        self.alias: str = wrapper.alias
        self.channels = channels
        self.reconnect, self._delay, self._max_delay = options
        self.on_reconnect = on_reconnect
        #: How many times the connection was replaced (``reconnect=True``).
        self.reconnects = 0
        self._raw: Any = None
        self._closed = False
        self._queue: collections.deque[Notification] = collections.deque()

    @property
    def pid(self) -> int | None:
        """The backend pid of the listening connection (``None`` while disconnected)."""
        raw = self._raw
        return None if raw is None or raw.closed else int(raw.info.backend_pid)

    def _listen_sql(self) -> list[str]:
        return [f"LISTEN {quote_channel(c)}" for c in self.channels]

    def _closed_error(self) -> RuntimeError:
        return RuntimeError("This listen() block has ended; open a new one to listen again.")

    def _connected(self) -> Any:
        if self._closed or self._raw is None:
            raise self._closed_error()
        return self._raw

    def _may_reconnect(self, exc: BaseException) -> bool:
        """Whether ``exc`` lost the connection and ``reconnect=True`` says to replace it."""
        if not self.reconnect or self._closed:
            return False
        raw = self._raw
        lost = raw is None or raw.closed or errors.is_disconnect_error(exc, raw)
        return bool(lost)

    def _translate(self, exc: BaseException) -> BaseException:
        return self.wrapper.translate_error(exc) or exc

    @staticmethod
    def _convert(items: Any) -> list[Notification]:
        return [Notification(n.channel, n.payload, n.pid) for n in items]


class AsyncChannel(_ChannelBase):
    """The async side of :func:`listen`: ``async for n in channel``, ``await channel.get()``."""

    async def _connect(self) -> None:
        raw = await self.wrapper.aget_new_connection()
        try:
            with self.wrapper.errors:
                for sql in self._listen_sql():
                    await raw.execute(sql)
        except BaseException:
            await self.wrapper.aclose_raw(raw)
            raise
        self._raw = raw

    async def close(self) -> None:
        self._closed = True
        raw, self._raw = self._raw, None
        if raw is not None:
            await self.wrapper.aclose_raw(raw)

    async def _fill(self, timeout: float | None) -> None:
        """Wait (at most ``timeout`` seconds) for notifications and queue them."""
        while True:
            raw = self._connected()
            try:
                received = [n async for n in raw.notifies(timeout=timeout, stop_after=1)]
            except psycopg.Error as exc:
                if not self._may_reconnect(exc):
                    raise self._translate(exc) from exc
            else:
                self._queue.extend(self._convert(received))
                return
            await self._replace_connection()

    async def _replace_connection(self) -> None:
        old, self._raw = self._raw, None
        if old is not None:
            await self.wrapper.aclose_raw(old)
        delay = self._delay
        while not self._closed:
            await asyncio.sleep(delay)
            try:
                await self._connect()
            except Exception:
                delay = min(delay * 2, self._max_delay)
                continue
            self.reconnects += 1
            if self.on_reconnect is not None:
                result = self.on_reconnect()
                if inspect.isawaitable(result):
                    await result
            return
        raise self._closed_error()

    async def get(self, timeout: float | None = None) -> Notification:
        """The next notification; ``TimeoutError`` if none arrives within ``timeout`` s."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._queue:
            remaining = None if deadline is None else max(deadline - time.monotonic(), 0.0)
            await self._fill(remaining)
            if not self._queue and deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"No notification on {list(self.channels)} within {timeout}s.")
        return self._queue.popleft()

    def __aiter__(self) -> AsyncIterator[Notification]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Notification]:
        # No driver lock is held while the loop body runs: leaving the loop early (break)
        # leaves the channel usable (iterate again, get(), or end the block).
        while True:
            while self._queue:
                yield self._queue.popleft()
            await self._fill(None)


class Channel(_ChannelBase):
    """The sync side of :func:`listen`: ``for n in channel``, ``channel.get(timeout=...)``."""

    def _connect(self) -> None:
        pg = self.wrapper.pg
        try:
            raw = psycopg.Connection.connect(pg.conninfo, **pg.connect_kwargs(Cursor))
        except psycopg.OperationalError as exc:
            raise connect_failed(pg, exc) from exc
        try:
            with self.wrapper.errors:
                for sql in self._listen_sql():
                    raw.execute(sql)
        except BaseException:
            raw.close()
            raise
        self._raw = raw

    def close(self) -> None:
        self._closed = True
        raw, self._raw = self._raw, None
        if raw is not None:
            try:
                raw.close()
            except Exception:
                pass

    def _fill(self, timeout: float | None) -> None:
        while True:
            raw = self._connected()
            try:
                received = list(raw.notifies(timeout=timeout, stop_after=1))
            except psycopg.Error as exc:
                if not self._may_reconnect(exc):
                    raise self._translate(exc) from exc
            else:
                self._queue.extend(self._convert(received))
                return
            self._replace_connection()

    def _replace_connection(self) -> None:
        old, self._raw = self._raw, None
        if old is not None:
            try:
                old.close()
            except Exception:
                pass
        delay = self._delay
        while not self._closed:
            time.sleep(delay)
            try:
                self._connect()
            except Exception:
                delay = min(delay * 2, self._max_delay)
                continue
            self.reconnects += 1
            if self.on_reconnect is not None:
                self.on_reconnect()
            return
        raise self._closed_error()

    def get(self, timeout: float | None = None) -> Notification:
        """The next notification; ``TimeoutError`` if none arrives within ``timeout`` s."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._queue:
            remaining = None if deadline is None else max(deadline - time.monotonic(), 0.0)
            self._fill(remaining)
            if not self._queue and deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"No notification on {list(self.channels)} within {timeout}s.")
        return self._queue.popleft()

    def __iter__(self) -> Iterator[Notification]:
        while True:
            while self._queue:
                yield self._queue.popleft()
            self._fill(None)
