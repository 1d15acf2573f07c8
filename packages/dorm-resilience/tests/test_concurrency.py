"""The single-probe rule and the failure count under 20 concurrent threads and 20 tasks.

No sleeps: the probe is held open on an event until every other caller has been refused,
so the overlap is guaranteed rather than hoped for.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from dorm.contrib.circuit_breaker import (
    CircuitOpenError,
    CircuitState,
    StateChange,
    circuit_breaker,
    get_state,
)
from dorm.exceptions import OperationalError

N = 20
TIMEOUT = 10.0  # only reached if the code under test is broken


def open_then_half_open(clock: Any, changes: list[StateChange]) -> Any:
    cb = circuit_breaker("db", failure_threshold=3, open_window_s=30.0, clock=clock)
    cb.add_listener(changes.append)
    for _ in range(3):
        with pytest.raises(OperationalError), cb:
            raise OperationalError("down")
    clock.advance(30)
    return cb


@pytest.mark.parametrize("probe_succeeds", [True, False], ids=["probe-ok", "probe-fails"])
def test_one_probe_among_20_threads(clock: Any, probe_succeeds: bool) -> None:
    changes: list[StateChange] = []
    cb = open_then_half_open(clock, changes)
    barrier = threading.Barrier(N)
    release_probe = threading.Event()
    lock = threading.Condition()
    admitted: list[int] = []
    refused: list[CircuitOpenError] = []
    errors: list[BaseException] = []

    def caller(i: int) -> None:
        try:
            barrier.wait(TIMEOUT)
            with cb:
                with lock:
                    admitted.append(i)
                    lock.notify_all()
                assert release_probe.wait(TIMEOUT)
                if not probe_succeeds:
                    raise OperationalError("still down")
        except CircuitOpenError as exc:
            with lock:
                refused.append(exc)
                lock.notify_all()
        except OperationalError:
            pass
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=caller, args=(i,)) for i in range(N)]
    for thread in threads:
        thread.start()
    with lock:
        assert lock.wait_for(lambda: len(admitted) + len(refused) == N, TIMEOUT)
    release_probe.set()
    for thread in threads:
        thread.join(TIMEOUT)
    assert not errors
    assert len(admitted) == 1
    assert len(refused) == N - 1
    assert {e.state for e in refused} == {CircuitState.HALF_OPEN}
    assert all(e.retry_after == 0.0 for e in refused)
    expected = CircuitState.CLOSED if probe_succeeds else CircuitState.OPEN
    assert get_state("db")["state"] is expected
    assert [(c.old, c.new) for c in changes] == [
        (CircuitState.CLOSED, CircuitState.OPEN),
        (CircuitState.OPEN, CircuitState.HALF_OPEN),
        (CircuitState.HALF_OPEN, expected),
    ]


@pytest.mark.parametrize("probe_succeeds", [True, False], ids=["probe-ok", "probe-fails"])
async def test_one_probe_among_20_tasks(clock: Any, probe_succeeds: bool) -> None:
    changes: list[StateChange] = []
    cb = open_then_half_open(clock, changes)
    start = asyncio.Event()
    release_probe = asyncio.Event()
    all_in = asyncio.Event()
    admitted: list[int] = []
    refused: list[CircuitOpenError] = []

    def arrived() -> None:
        if len(admitted) + len(refused) == N:
            all_in.set()

    async def caller(i: int) -> None:
        await start.wait()
        try:
            async with cb.aprotect() if i % 2 else cb:
                admitted.append(i)
                arrived()
                await release_probe.wait()
                if not probe_succeeds:
                    raise OperationalError("still down")
        except CircuitOpenError as exc:
            refused.append(exc)
            arrived()
        except OperationalError:
            pass

    tasks = [asyncio.create_task(caller(i)) for i in range(N)]
    await asyncio.sleep(0)  # every task is now waiting on `start`
    start.set()
    await asyncio.wait_for(all_in.wait(), TIMEOUT)
    release_probe.set()
    await asyncio.wait_for(asyncio.gather(*tasks), TIMEOUT)
    assert len(admitted) == 1
    assert len(refused) == N - 1
    assert {e.state for e in refused} == {CircuitState.HALF_OPEN}
    expected = CircuitState.CLOSED if probe_succeeds else CircuitState.OPEN
    assert get_state("db")["state"] is expected
    assert [c.new for c in changes] == [CircuitState.OPEN, CircuitState.HALF_OPEN, expected]


def test_20_threads_failing_together_open_the_circuit_once(clock: Any) -> None:
    cb = circuit_breaker("db", failure_threshold=5, open_window_s=30.0, clock=clock)
    changes: list[StateChange] = []
    cb.add_listener(changes.append)
    barrier = threading.Barrier(N)
    inside = threading.Barrier(N)  # all 20 are admitted (closed) before any fails
    outcomes: list[str] = []
    lock = threading.Lock()

    def caller() -> None:
        barrier.wait(TIMEOUT)
        try:
            with cb:
                inside.wait(TIMEOUT)
                raise OperationalError("down")
        except OperationalError:
            with lock:
                outcomes.append("failed")

    threads = [threading.Thread(target=caller) for _ in range(N)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT)
    assert outcomes == ["failed"] * N
    assert [(c.old, c.new) for c in changes] == [(CircuitState.CLOSED, CircuitState.OPEN)]
    assert get_state("db") == {
        "state": CircuitState.OPEN,
        "failures": 5,
        "opened_at": 1000.0,
        "retry_after": 30.0,
    }


def test_many_threads_hammering_keep_the_state_consistent(clock: Any) -> None:
    """Mixed outcomes from many threads: no exception escapes the state machine."""
    cb = circuit_breaker("db", failure_threshold=3, open_window_s=1.0, clock=clock)
    clock_lock = threading.Lock()
    errors: list[BaseException] = []

    def caller(i: int) -> None:
        for j in range(200):
            try:
                with cb:
                    if (i + j) % 3:
                        raise OperationalError("down")
            except (CircuitOpenError, OperationalError):
                pass
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)
            if j % 10 == 0:
                with clock_lock:
                    clock.advance(0.25)

    threads = [threading.Thread(target=caller, args=(i,)) for i in range(N)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT * 3)
    assert not errors
    # No probe slot was leaked: once the window has passed, a call gets through and closes it.
    clock.advance(1.0)
    with cb:
        pass
    assert get_state("db")["state"] is CircuitState.CLOSED
