"""A minimal dorm backend over raw TCP, and a fake server for it (test_circuit_breaker.py).

It lets the circuit-breaker tests point an alias at a real socket — a closed port, a server that
drops every connection, a server that answers — without SQLite and independently of the
PostgreSQL backend. The protocol is one line per statement: the client sends the SQL, the
server answers one line, which becomes the single-column row of the result.

Used through dotted-path ENGINEs (one class per side):
``"circuit_breaker_tcp_backend:TcpDatabaseWrapper"`` and
``"circuit_breaker_tcp_backend:AsyncTcpDatabaseWrapper"``. Both count their connection
attempts in ``connect_attempts`` (per class).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import socketserver
import threading
from typing import Any, ClassVar

from dorm import exceptions
from dorm.db.backends.base import BaseAsyncDatabaseWrapper, BaseDatabaseWrapper

#: Nothing listens on 127.0.0.1:1: a connection there is refused at once.
CLOSED_PORT = 1

SYNC_ENGINE = f"{__name__}:TcpDatabaseWrapper"
ASYNC_ENGINE = f"{__name__}:AsyncTcpDatabaseWrapper"


def _address(settings_dict: dict[str, Any]) -> tuple[str, int, float]:
    timeout = float((settings_dict.get("OPTIONS") or {}).get("connect_timeout", 2.0))
    return str(settings_dict["HOST"]), int(settings_dict["PORT"]), timeout


class _TcpInfo:
    vendor = "tcp"
    display_name = "raw TCP (test)"
    connect_attempts: ClassVar[int] = 0
    _count_lock: ClassVar[threading.Lock] = threading.Lock()

    settings_dict: dict[str, Any]
    alias: str

    @classmethod
    def _count_attempt(cls) -> None:
        with cls._count_lock:
            cls.connect_attempts += 1

    def is_disconnect(self, exc: BaseException) -> bool:
        # Every error of this backend is a socket error: the connection is not reused.
        return isinstance(exc, (exceptions.OperationalError, exceptions.InterfaceError))

    def translate_error(self, exc: BaseException) -> exceptions.Error | None:
        if isinstance(exc, OSError):
            host, port, _ = _address(self.settings_dict)
            return exceptions.OperationalError(
                f"Could not talk to the TCP server of alias {self.alias!r} at {host}:{port}: {exc}"
            )
        return super().translate_error(exc)  # type: ignore[misc,no-any-return]


class _Cursor:
    def __init__(self, reply: str) -> None:
        self._rows = [(reply,)]
        self.rowcount = 1
        self.lastrowid = None
        self.description = (("reply", None, None, None, None, None, None),)

    def fetchone(self) -> tuple[Any, ...] | None:
        return self._rows.pop(0) if self._rows else None

    def fetchmany(self, size: int = 100) -> list[tuple[Any, ...]]:
        rows, self._rows = self._rows[:size], self._rows[size:]
        return rows

    def fetchall(self) -> list[tuple[Any, ...]]:
        rows, self._rows = self._rows, []
        return rows

    def close(self) -> None:
        pass


class TcpDatabaseWrapper(_TcpInfo, BaseDatabaseWrapper):
    """Sync side: one blocking socket per thread and alias."""

    def get_new_connection(self) -> Any:
        self._count_attempt()
        host, port, timeout = _address(self.settings_dict)
        sock = socket.create_connection((host, port), timeout=timeout)
        return sock.makefile("rwb")

    def _raw_execute(self, sql: str, params: Any, many: bool) -> Any:
        stream = self.ensure_connection()
        try:
            stream.write(sql.encode() + b"\n")
            stream.flush()
            line = stream.readline()
            if not line:
                raise ConnectionResetError("the server closed the connection")
        except OSError:
            self.close()
            raise
        return _Cursor(line.decode().rstrip("\n"))


class AsyncTcpDatabaseWrapper(_TcpInfo, BaseAsyncDatabaseWrapper):
    """Async side: asyncio streams, pooled by the core's AsyncPool."""

    async def aget_new_connection(self) -> Any:
        self._count_attempt()
        host, port, timeout = _address(self.settings_dict)
        with self.errors:
            return await asyncio.wait_for(asyncio.open_connection(host, port), timeout)

    async def aclose_raw(self, raw: Any) -> None:
        _reader, writer = raw
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()

    async def _raw_run(self, raw: Any, sql: str, params: Any, many: bool, mode: str) -> Any:
        reader, writer = raw
        writer.write(sql.encode() + b"\n")
        await writer.drain()
        line = await reader.readline()
        if not line:
            raise ConnectionResetError("the server closed the connection")
        row = (line.decode().rstrip("\n"),)
        if mode == "all":
            return [row]
        if mode == "one":
            return row
        if mode == "rowcount":
            return 1
        if mode == "insert":
            return None
        if mode == "result":
            return ([row], 1, None, _Cursor("").description)
        return _Cursor(row[0])


class FakeServer:
    """A TCP server on 127.0.0.1 counting the connections it accepts.

    ``up = False``: every connection is closed at once (a server going down, a proxy with no
    backend). ``up = True``: every line received is answered with ``OK <line>``.
    """

    def __init__(self, up: bool = False) -> None:
        self.up = up
        self.accepted = 0
        self._lock = threading.Lock()
        outer = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                with outer._lock:
                    outer.accepted += 1
                if not outer.up:
                    return
                for line in self.rfile:
                    self.wfile.write(b"OK " + line)
                    self.wfile.flush()

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self._server = Server(("127.0.0.1", 0), Handler)
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def __enter__(self) -> FakeServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
