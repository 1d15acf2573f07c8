"""psycopg plumbing shared by the sync and async wrappers.

* :data:`ADAPTERS` — the adaptation context every dorm connection uses: ``json``/``jsonb``
  are loaded as text (the field decodes them, with its own decoder), ``inet``/``cidr`` as
  text, and :class:`JsonbText` is sent as ``jsonb``.
* :class:`Cursor` / :class:`AsyncCursor` — psycopg cursors with DB-API leniency dorm relies
  on: fetching from a statement that returned no rows gives ``None``/``[]``, ``lastrowid``
  exists (PostgreSQL has none: always ``None``; dorm uses ``RETURNING``).
* :func:`looks_dead` / :func:`alooks_dead` — the cheap liveness test run before a connection
  is reused outside a transaction.
"""

from __future__ import annotations

import select
from typing import Any

import psycopg
from psycopg import AsyncCursor as _AsyncCursor
from psycopg import Cursor as _Cursor
from psycopg.adapt import AdaptersMap
from psycopg.pq import TransactionStatus
from psycopg.types.string import StrDumper, TextLoader

__all__ = [
    "ADAPTERS",
    "AsyncCursor",
    "Cursor",
    "JsonbText",
    "alooks_dead",
    "looks_dead",
]


class JsonbText(str):
    """A JSON document already serialized; sent to the server typed as ``jsonb``."""

    __slots__ = ()


class _JsonbTextDumper(StrDumper):
    oid = psycopg.adapters.types["jsonb"].oid


ADAPTERS = AdaptersMap(psycopg.adapters)
ADAPTERS.register_dumper(JsonbText, _JsonbTextDumper)
for _name in ("json", "jsonb", "inet", "cidr"):
    ADAPTERS.register_loader(_name, TextLoader)


class Cursor(_Cursor[Any]):
    """A client-side cursor whose fetches tolerate statements without a result set."""

    __slots__ = ()

    @property
    def lastrowid(self) -> None:
        return None

    def fetchone(self) -> Any:
        if self.pgresult is None or self.description is None:
            return None
        return super().fetchone()

    def fetchmany(self, size: int = 0) -> list[Any]:
        if self.pgresult is None or self.description is None:
            return []
        return super().fetchmany(size)

    def fetchall(self) -> list[Any]:
        if self.pgresult is None or self.description is None:
            return []
        return super().fetchall()


class AsyncCursor(_AsyncCursor[Any]):
    """Async twin of :class:`Cursor`."""

    __slots__ = ()

    @property
    def lastrowid(self) -> None:
        return None

    async def fetchone(self) -> Any:
        if self.pgresult is None or self.description is None:
            return None
        return await super().fetchone()

    async def fetchmany(self, size: int = 0) -> list[Any]:
        if self.pgresult is None or self.description is None:
            return []
        return await super().fetchmany(size)

    async def fetchall(self) -> list[Any]:
        if self.pgresult is None or self.description is None:
            return []
        return await super().fetchall()


# Liveness --------------------------------------------------------------------------------
#
# A server that ends a session (pg_terminate_backend, a restart, an idle timeout) sends an
# error and closes the socket, which makes an idle connection's socket readable. Polling it
# costs one system call and no round trip; only when something is pending do we ask the
# server (an empty query, which also consumes pending notifications).


def _socket_readable(conn: Any) -> bool:
    fd = conn.pgconn.socket
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(fd, select.POLLIN | select.POLLPRI)
        return bool(poller.poll(0))
    readable, _, _ = select.select([fd], [], [], 0)
    return bool(readable)


def _quick_verdict(conn: Any) -> bool | None:
    """True: dead; False: alive; None: data pending, ask the server."""
    if conn.closed:
        return True
    if conn.pgconn.transaction_status != TransactionStatus.IDLE:
        # Mid-transaction or mid-statement: not ours to probe; errors surface on use.
        return False
    try:
        return None if _socket_readable(conn) else False
    except (OSError, ValueError, psycopg.Error):
        return True


def looks_dead(conn: psycopg.Connection[Any]) -> bool:
    """Whether an idle sync connection is known to be unusable."""
    verdict = _quick_verdict(conn)
    if verdict is not None:
        return verdict
    try:
        conn.execute("")
    except Exception:
        return True
    return bool(conn.closed)


async def alooks_dead(conn: psycopg.AsyncConnection[Any]) -> bool:
    """Whether an idle async connection is known to be unusable."""
    verdict = _quick_verdict(conn)
    if verdict is not None:
        return verdict
    try:
        await conn.execute("")
    except Exception:
        return True
    return bool(conn.closed)


def check_connection(conn: psycopg.Connection[Any]) -> None:
    """``check`` callback of a sync ``psycopg_pool`` pool: raise if ``conn`` is dead."""
    if looks_dead(conn):
        raise psycopg.OperationalError("the connection was closed by the server")


async def acheck_connection(conn: psycopg.AsyncConnection[Any]) -> None:
    """``check`` callback of an async ``psycopg_pool`` pool: raise if ``conn`` is dead."""
    if await alooks_dead(conn):
        raise psycopg.OperationalError("the connection was closed by the server")
