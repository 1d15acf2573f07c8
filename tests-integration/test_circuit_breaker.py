"""dorm.contrib.circuit_breaker against real sockets: PostgreSQL, and a raw-TCP backend.

Every scenario runs twice:

* ``postgresql`` — the real backend (``ENGINE "postgresql"``, dorm-postgres) against the
  suite's PostgreSQL server; skipped, saying why, only when dorm-postgres is not installed;
* ``tcp`` — the same scenario through a minimal raw-TCP backend
  (``circuit_breaker_tcp_backend.py``), free of SQLite and of the PostgreSQL backend.

"Down" is either a closed port (127.0.0.1:1, refused at once) or a :class:`FakeServer` that
accepts and drops every connection and counts them: the count proves that, once the circuit is
open, **no connection attempt** reaches the network, instead of relying on wall-clock timing.
Time is driven by a fake monotonic clock, never by sleeping.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from circuit_breaker_tcp_backend import (
    ASYNC_ENGINE,
    CLOSED_PORT,
    SYNC_ENGINE,
    AsyncTcpDatabaseWrapper,
    FakeServer,
    TcpDatabaseWrapper,
)

import dorm
from dorm import transaction
from dorm.contrib.circuit_breaker import (
    CircuitOpenError,
    CircuitState,
    circuit_breaker,
    get_state,
    install,
    reset_circuit_breakers,
    uninstall,
)
from dorm.db import aclose_all, async_connections, close_all, connections, register_execute_wrapper
from dorm.db.registry import installed_engines
from dorm.exceptions import ImproperlyConfigured, OperationalError

THRESHOLD = 5
WINDOW = 30.0
OPTION: dict[str, Any] = {
    "circuit_breaker": {"failure_threshold": THRESHOLD, "open_window_s": WINDOW}
}
REFUSALS = 200
N = 20


class FakeClock:
    def __init__(self) -> None:
        self.now = 5000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Counter:
    """Execution hooks counting the statements that got past the breaker."""

    def __init__(self) -> None:
        self.count = 0
        self._lock = threading.Lock()

    def sync(self, execute: Callable[..., Any], sql: str, params: Any, many: bool, ctx: Any) -> Any:
        with self._lock:
            self.count += 1
        return execute(sql, params, many, ctx)

    async def async_(
        self, execute: Callable[..., Any], sql: str, params: Any, many: bool, ctx: Any
    ) -> Any:
        self.count += 1
        return await execute(sql, params, many, ctx)


class Target:
    """Settings entries for one backend: a down server at a port, or a working server."""

    name: str

    def down(self, port: int, *, is_async: bool = False, **options: Any) -> dict[str, Any]:
        raise NotImplementedError

    def up(self, *, is_async: bool = False, **options: Any) -> dict[str, Any]:
        raise NotImplementedError


class PostgresTarget(Target):
    name = "postgresql"

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn

    def down(self, port: int, *, is_async: bool = False, **options: Any) -> dict[str, Any]:
        # sslmode=disable: one TCP connection per attempt (no SSL-then-plain retry).
        opts = {"connect_timeout": 2, "sslmode": "disable", **options}
        return {
            "ENGINE": "postgresql",
            "NAME": "postgres",
            "USER": "postgres",
            "HOST": "127.0.0.1",
            "PORT": port,
            "OPTIONS": opts,
        }

    def up(self, *, is_async: bool = False, **options: Any) -> dict[str, Any]:
        return {"ENGINE": "postgresql", "OPTIONS": {"conninfo": self.dsn, **options}}


class TcpTarget(Target):
    name = "tcp"

    def __init__(self, server: FakeServer) -> None:
        self.server = server

    def down(self, port: int, *, is_async: bool = False, **options: Any) -> dict[str, Any]:
        return {
            "ENGINE": ASYNC_ENGINE if is_async else SYNC_ENGINE,
            "NAME": "fake",
            "HOST": "127.0.0.1",
            "PORT": port,
            "OPTIONS": options,
        }

    def up(self, *, is_async: bool = False, **options: Any) -> dict[str, Any]:
        return self.down(self.server.port, is_async=is_async, **options)


@pytest.fixture(params=["postgresql", "tcp"])
def target(request: pytest.FixtureRequest) -> Iterator[Target]:
    if request.param == "postgresql":
        if "postgresql" not in installed_engines():
            pytest.skip(
                "the 'postgresql' ENGINE is not installed (dorm-postgres is missing: "
                "pip install -e packages/dorm-postgres); the 'tcp' variant runs this scenario"
            )
        yield PostgresTarget(request.getfixturevalue("postgres").dsn)
        return
    with FakeServer(up=True) as server:
        yield TcpTarget(server)


@pytest.fixture(autouse=True)
async def clean() -> AsyncIterator[None]:
    reset_circuit_breakers(forget=True)
    uninstall()
    close_all()
    try:
        yield
    finally:
        uninstall()
        reset_circuit_breakers(forget=True)
        await aclose_all()
        close_all()
        if "postgresql" in installed_engines():
            from dorm_postgres import close_pools

            close_pools()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def option_accepted(target: Target) -> None:
    """Skip automatic-protection tests on a backend that still rejects the OPTIONS key."""
    dorm.configure(DATABASES={"default": target.up(**OPTION)})
    try:
        connections["default"].fetchone("SELECT 1")
    except ImproperlyConfigured as exc:
        if "circuit_breaker" not in str(exc):
            raise
        pytest.skip(
            f"the {target.name!r} backend rejects OPTIONS['circuit_breaker'] ({exc}). It must "
            "accept the key (and ignore it): dorm-resilience reads it."
        )
    finally:
        close_all()
        reset_circuit_breakers(forget=True)


def configure(**aliases: dict[str, Any]) -> None:
    dorm.configure(DATABASES=aliases)


def refuse_many(call: Callable[[], Any]) -> float:
    """Run ``call`` REFUSALS times, each refused by the breaker; the mean seconds per call."""
    started = time.perf_counter()
    for _ in range(REFUSALS):
        try:
            call()
        except CircuitOpenError:
            continue
        raise AssertionError("the call was not refused by the open circuit")
    return (time.perf_counter() - started) / REFUSALS


# With `with cb:` ------------------------------------------------------------------------------


def test_closed_port_fails_fast_then_the_probe_closes_it(target: Target, clock: FakeClock) -> None:
    cb = circuit_breaker("down", failure_threshold=THRESHOLD, open_window_s=WINDOW, clock=clock)
    configure(default=target.up(), down=target.down(CLOSED_PORT))
    counter = Counter()
    attempts_before = TcpDatabaseWrapper.connect_attempts

    def query() -> Any:
        with cb:
            return connections["down"].fetchone("SELECT 1")

    with register_execute_wrapper(sync=counter.sync, alias="down"):
        for _ in range(THRESHOLD):
            with pytest.raises(OperationalError) as info:
                query()
            assert not isinstance(info.value, CircuitOpenError)
        assert counter.count == THRESHOLD
        assert get_state("down")["state"] is CircuitState.OPEN

        per_call = refuse_many(query)
        # Nothing reached the backend: no statement, hence no connection attempt.
        assert counter.count == THRESHOLD
        if target.name == "tcp":
            assert TcpDatabaseWrapper.connect_attempts - attempts_before == THRESHOLD
        assert per_call < 0.001, f"a refusal took {per_call * 1e6:.0f} µs on average"

        # A working database behind the alias again: after the window the probe closes it.
        configure(default=target.up(), down=target.up())
        clock.advance(WINDOW)
        assert get_state("down")["state"] is CircuitState.HALF_OPEN
        assert query() is not None
        assert get_state("down") == {
            "state": CircuitState.CLOSED,
            "failures": 0,
            "opened_at": None,
            "retry_after": None,
        }
        assert counter.count == THRESHOLD + 1


def test_no_connection_reaches_the_server_while_open(target: Target, clock: FakeClock) -> None:
    cb = circuit_breaker("down", failure_threshold=THRESHOLD, open_window_s=WINDOW, clock=clock)
    with FakeServer(up=False) as server:
        configure(default=target.up(), down=target.down(server.port))

        def query() -> Any:
            with cb:
                return connections["down"].fetchone("SELECT 1")

        for _ in range(THRESHOLD):
            with pytest.raises(OperationalError):
                query()
        accepted = server.accepted
        assert accepted >= THRESHOLD  # every failure was a real connection to the server
        refuse_many(query)
        clock.advance(WINDOW - 0.001)
        refuse_many(query)
        assert server.accepted == accepted  # not one connection while the circuit was open

        # The probe fails (the server still drops connections): open again, fresh window.
        clock.advance(0.001)
        with pytest.raises(OperationalError):
            query()
        assert server.accepted > accepted
        state = get_state("down")
        assert (state["state"], state["opened_at"], state["retry_after"]) == (
            CircuitState.OPEN,
            clock.now,
            WINDOW,
        )


# Automatic protection: OPTIONS["circuit_breaker"] + install() -----------------------------


@pytest.mark.usefixtures("option_accepted")
def test_automatic_protection(target: Target, clock: FakeClock) -> None:
    circuit_breaker("down", clock=clock)  # the breaker the option configures, on a fake clock
    with FakeServer(up=False) as server:
        configure(default=target.up(), down=target.down(server.port, **OPTION))
        install()
        for _ in range(THRESHOLD):
            with pytest.raises(OperationalError) as info:
                connections["down"].fetchone("SELECT 1")
            assert not isinstance(info.value, CircuitOpenError)
        accepted = server.accepted
        state = get_state("down")
        assert (state["state"], state["failures"], state["retry_after"]) == (
            CircuitState.OPEN,
            THRESHOLD,
            WINDOW,
        )

        # No call site wraps anything, yet every statement now fails fast, in every thread.
        per_call = refuse_many(lambda: connections["down"].execute("SELECT 1"))
        assert per_call < 0.001
        with pytest.raises(CircuitOpenError), transaction.atomic(using="down"):
            pass
        refused: list[BaseException] = []

        def worker() -> None:
            try:
                connections["down"].fetchone("SELECT 1")
            except BaseException as exc:
                refused.append(exc)
            finally:
                close_all_in_thread()

        threads = [threading.Thread(target=worker) for _ in range(N)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        assert len(refused) == N and all(isinstance(e, CircuitOpenError) for e in refused)
        assert server.accepted == accepted
        # Other aliases are not protected and unaffected.
        assert connections["default"].fetchone("SELECT 1") is not None

    configure(default=target.up(), down=target.up(**OPTION))
    clock.advance(WINDOW)
    assert connections["down"].fetchone("SELECT 1") is not None  # the probe
    assert get_state("down")["state"] is CircuitState.CLOSED


def close_all_in_thread() -> None:
    connections["down"].close()


@pytest.mark.usefixtures("option_accepted")
async def test_automatic_protection_async(target: Target, clock: FakeClock) -> None:
    circuit_breaker("down", clock=clock)
    counter = Counter()
    attempts_before = AsyncTcpDatabaseWrapper.connect_attempts
    with FakeServer(up=False) as server:
        configure(default=target.up(), down=target.down(server.port, is_async=True, **OPTION))
        install()
        with register_execute_wrapper(async_=counter.async_, alias="down"):  # inside the breaker
            for _ in range(THRESHOLD):
                with pytest.raises(OperationalError) as info:
                    await async_connections["down"].fetchone("SELECT 1")
                assert not isinstance(info.value, CircuitOpenError)
            accepted = server.accepted
            results = await asyncio.gather(
                *(async_connections["down"].fetchone("SELECT 1") for _ in range(N)),
                return_exceptions=True,
            )
            assert all(isinstance(r, CircuitOpenError) for r in results), results
            assert server.accepted == accepted
            assert counter.count == THRESHOLD
            if target.name == "tcp":
                assert AsyncTcpDatabaseWrapper.connect_attempts - attempts_before == THRESHOLD

            # Back up: of 20 concurrent statements in HALF_OPEN exactly one (the probe) runs.
            await async_connections["down"].close()
            configure(default=target.up(), down=target.up(is_async=True, **OPTION))
            clock.advance(WINDOW)
            results = await asyncio.gather(
                *(async_connections["down"].fetchone("SELECT 1") for _ in range(N)),
                return_exceptions=True,
            )
            probes = [r for r in results if not isinstance(r, BaseException)]
            refused = [r for r in results if isinstance(r, CircuitOpenError)]
            assert len(probes) == 1 and len(refused) == N - 1, results
            assert {e.state for e in refused} == {CircuitState.HALF_OPEN}
            assert counter.count == THRESHOLD + 1
            assert get_state("down")["state"] is CircuitState.CLOSED
            assert await async_connections["down"].fetchone("SELECT 1") is not None
