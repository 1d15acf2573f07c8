"""Every transition of the breaker, driven by a fake monotonic clock (no sleeps, no database)."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import pickle
import time
from collections.abc import Callable
from typing import Any

import pytest

from dorm.contrib.circuit_breaker import (
    DEFAULT_FAILURE_EXCEPTIONS,
    CircuitBreaker,
    CircuitOpenError,
    CircuitState,
    StateChange,
    add_state_listener,
    circuit_breaker,
    get_state,
    remove_state_listener,
    reset_circuit_breakers,
)
from dorm.exceptions import (
    DatabaseError,
    DeadlockDetected,
    IntegrityError,
    InterfaceError,
    ObjectDoesNotExist,
    OperationalError,
    PoolTimeout,
    ProgrammingError,
    SerializationFailure,
    ValidationError,
)

CLOSED, OPEN, HALF_OPEN = CircuitState.CLOSED, CircuitState.OPEN, CircuitState.HALF_OPEN


def fail(cb: CircuitBreaker, exc: BaseException | None = None) -> None:
    """One call through ``cb`` that raises ``exc`` (an ``OperationalError`` by default)."""
    exc = exc if exc is not None else OperationalError("connection refused")
    with pytest.raises(type(exc)), cb:
        raise exc


def succeed(cb: CircuitBreaker) -> str:
    with cb:
        return "ok"


def trip(cb: CircuitBreaker) -> None:
    for _ in range(cb.failure_threshold):
        fail(cb)
    assert cb.state is OPEN


def in_fresh_context(func: Callable[[], Any]) -> Any:
    """Run ``func`` as an unrelated caller would (not nested in this context's calls)."""
    return contextvars.Context().run(func)


def enter_elsewhere(cb: CircuitBreaker) -> contextvars.Context:
    """Enter ``cb`` in a context of its own and leave it open: a call still in flight."""
    ctx = contextvars.Context()
    ctx.run(cb.__enter__)
    return ctx


def exit_elsewhere(cb: CircuitBreaker, ctx: contextvars.Context, exc: BaseException | None) -> None:
    ctx.run(cb.__exit__, type(exc) if exc else None, exc, None)


# CLOSED ---------------------------------------------------------------------------------


def test_a_new_breaker_is_closed(clock: Any) -> None:
    cb = circuit_breaker("db", clock=clock)
    assert cb.state is CLOSED and cb.state == "closed"
    assert get_state("db") == {
        "state": CLOSED,
        "failures": 0,
        "opened_at": None,
        "retry_after": None,
    }
    assert succeed(cb) == "ok"
    assert cb.failures == 0


def test_closed_stays_closed_below_the_threshold(clock: Any) -> None:
    cb = circuit_breaker("db", failure_threshold=3, clock=clock)
    fail(cb)
    fail(cb)
    assert get_state("db") == {
        "state": CLOSED,
        "failures": 2,
        "opened_at": None,
        "retry_after": None,
    }


def test_a_success_resets_the_consecutive_count(clock: Any) -> None:
    cb = circuit_breaker("db", failure_threshold=3, clock=clock)
    fail(cb)
    fail(cb)
    succeed(cb)
    assert cb.failures == 0
    fail(cb)
    fail(cb)
    assert cb.state is CLOSED


# CLOSED -> OPEN ---------------------------------------------------------------------------


def test_threshold_consecutive_failures_open_the_circuit(clock: Any) -> None:
    cb = circuit_breaker("db", failure_threshold=5, open_window_s=30.0, clock=clock)
    for _ in range(4):
        fail(cb)
        clock.advance(1)
    assert cb.state is CLOSED
    fail(cb)
    assert get_state("db") == {
        "state": OPEN,
        "failures": 5,
        "opened_at": 1004.0,
        "retry_after": 30.0,
    }


def test_open_fails_fast_without_running_the_call(clock: Any) -> None:
    cb = circuit_breaker("db", failure_threshold=2, open_window_s=30.0, clock=clock)
    trip(cb)
    clock.advance(12.5)
    ran = []
    with pytest.raises(CircuitOpenError) as info, cb:
        ran.append(True)
    assert ran == []
    err = info.value
    assert (err.name, err.state, err.retry_after, err.opened_at, err.failures) == (
        "db",
        OPEN,
        17.5,
        1000.0,
        2,
    )
    message = str(err)
    assert "'db'" in message and "OPEN" in message and "17.500s" in message
    # Refusals are not failures: the count and the timer are unchanged.
    assert get_state("db") == {
        "state": OPEN,
        "failures": 2,
        "opened_at": 1000.0,
        "retry_after": 17.5,
    }


def test_circuit_open_error_is_an_operational_error_and_pickles(clock: Any) -> None:
    err = CircuitOpenError("db", OPEN, 3.0, 10.0, 5)
    assert isinstance(err, OperationalError) and isinstance(err, DatabaseError)
    copy = pickle.loads(pickle.dumps(err))
    assert (copy.name, copy.state, copy.retry_after, copy.opened_at, copy.failures) == (
        "db",
        OPEN,
        3.0,
        10.0,
        5,
    )
    assert str(copy) == str(err)


# OPEN -> HALF_OPEN ------------------------------------------------------------------------


def test_open_becomes_half_open_after_the_window(clock: Any) -> None:
    cb = circuit_breaker("db", failure_threshold=1, open_window_s=30.0, clock=clock)
    trip(cb)
    clock.advance(29.999)
    assert cb.state is OPEN
    with pytest.raises(CircuitOpenError):
        succeed(cb)
    clock.advance(0.001)
    assert get_state("db") == {
        "state": HALF_OPEN,
        "failures": 1,
        "opened_at": 1000.0,
        "retry_after": 0.0,
    }


# HALF_OPEN: one probe ---------------------------------------------------------------------


def test_probe_success_closes_the_circuit(clock: Any) -> None:
    cb = circuit_breaker("db", failure_threshold=2, open_window_s=10.0, clock=clock)
    trip(cb)
    clock.advance(10)
    assert succeed(cb) == "ok"
    assert get_state("db") == {
        "state": CLOSED,
        "failures": 0,
        "opened_at": None,
        "retry_after": None,
    }
    # Closed again: it takes the full threshold to reopen.
    fail(cb)
    assert cb.state is CLOSED


def test_probe_failure_reopens_with_a_fresh_timer(clock: Any) -> None:
    cb = circuit_breaker("db", failure_threshold=2, open_window_s=10.0, clock=clock)
    trip(cb)
    clock.advance(15)  # well past the window: the probe goes at t=1015
    fail(cb)
    assert get_state("db") == {
        "state": OPEN,
        "failures": 3,
        "opened_at": 1015.0,
        "retry_after": 10.0,
    }
    clock.advance(9.5)
    with pytest.raises(CircuitOpenError) as info:
        succeed(cb)
    assert info.value.retry_after == pytest.approx(0.5)
    clock.advance(0.5)
    assert cb.state is HALF_OPEN


def test_only_one_probe_while_it_runs(clock: Any) -> None:
    cb = circuit_breaker("db", failure_threshold=1, open_window_s=5.0, clock=clock)
    trip(cb)
    clock.advance(5)
    probe = enter_elsewhere(cb)  # the probe is in flight
    for _ in range(3):
        with pytest.raises(CircuitOpenError) as info:
            in_fresh_context(lambda: succeed(cb))
        assert info.value.state is HALF_OPEN and info.value.retry_after == 0.0
        assert "HALF_OPEN" in str(info.value) and "probe" in str(info.value)
    exit_elsewhere(cb, probe, None)
    assert cb.state is CLOSED
    assert in_fresh_context(lambda: succeed(cb)) == "ok"


def test_a_neutral_probe_leaves_half_open_and_the_next_call_probes(clock: Any) -> None:
    cb = circuit_breaker("db", failure_threshold=1, open_window_s=5.0, clock=clock)
    trip(cb)
    clock.advance(5)
    fail(cb, IntegrityError("duplicate key"))  # the probe ends with an application error
    assert cb.state is HALF_OPEN
    assert succeed(cb) == "ok"  # the next call is the probe
    assert cb.state is CLOSED


async def test_a_cancelled_probe_frees_the_probe_slot(clock: Any) -> None:
    cb = circuit_breaker("db", failure_threshold=1, open_window_s=5.0, clock=clock)
    trip(cb)
    clock.advance(5)
    started = asyncio.Event()

    async def probe() -> None:
        async with cb:
            started.set()
            await asyncio.Event().wait()  # hangs until cancelled

    task = asyncio.create_task(probe())
    await started.wait()
    with pytest.raises(CircuitOpenError):
        async with cb:
            pass
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert cb.state is HALF_OPEN
    async with cb:  # a new probe is admitted
        pass
    assert cb.state is CLOSED


# What counts --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "exc",
    [
        OperationalError("server closed the connection"),
        InterfaceError("connection already closed"),
        PoolTimeout("no connection free within 30s"),
        TimeoutError("timed out"),
        ConnectionRefusedError(111, "Connection refused"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_availability_failures_count(clock: Any, exc: Exception) -> None:
    cb = circuit_breaker("db", failure_threshold=1, clock=clock)
    fail(cb, exc)
    assert cb.state is OPEN


class Author:
    class DoesNotExist(ObjectDoesNotExist):
        pass


@pytest.mark.parametrize(
    "exc",
    [
        IntegrityError("UNIQUE constraint failed"),
        ProgrammingError("syntax error"),
        Author.DoesNotExist("Author matching query does not exist."),
        ValidationError({"name": "This field cannot be blank."}),
        SerializationFailure("could not serialize access"),
        DeadlockDetected("deadlock detected"),
        ValueError("application bug"),
        KeyError("x"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_application_errors_pass_through_without_counting(clock: Any, exc: Exception) -> None:
    cb = circuit_breaker("db", failure_threshold=1, clock=clock)
    with pytest.raises(type(exc)) as info, cb:
        raise exc
    assert info.value is exc
    assert get_state("db")["state"] is CLOSED and get_state("db")["failures"] == 0


def test_application_errors_are_neutral_not_successes(clock: Any) -> None:
    cb = circuit_breaker("db", failure_threshold=3, clock=clock)
    fail(cb)
    fail(cb, IntegrityError("duplicate"))
    fail(cb)
    assert cb.failures == 2
    fail(cb)
    assert cb.state is OPEN


def test_failure_exceptions_are_configurable(clock: Any) -> None:
    class BackendDown(Exception):
        pass

    cb = circuit_breaker("db", failure_threshold=1, failure_exceptions=(BackendDown,), clock=clock)
    fail(cb, OperationalError("not counted any more"))
    assert cb.state is CLOSED
    fail(cb, BackendDown())
    assert cb.state is OPEN


def test_ignored_exceptions_are_configurable(clock: Any) -> None:
    cb = circuit_breaker(
        "db", failure_threshold=1, ignored_exceptions=[PoolTimeout], clock=clock
    )  # a list works too
    assert cb.ignored_exceptions == (PoolTimeout,)
    fail(cb, PoolTimeout("busy, not down"))
    assert cb.state is CLOSED
    fail(cb, SerializationFailure("no longer ignored"))
    assert cb.state is OPEN


def test_another_breakers_refusal_is_not_a_failure(clock: Any) -> None:
    inner = circuit_breaker("inner", failure_threshold=1, clock=clock)
    outer = circuit_breaker("outer", failure_threshold=1, clock=clock)
    trip(inner)
    with pytest.raises(CircuitOpenError), outer, inner:
        pass
    assert outer.state is CLOSED


# Calls admitted under an older state ---------------------------------------------------------


def test_calls_in_flight_when_the_circuit_opens_are_not_counted_again(clock: Any) -> None:
    cb = circuit_breaker("db", failure_threshold=2, open_window_s=10.0, clock=clock)
    changes: list[StateChange] = []
    cb.add_listener(changes.append)
    in_flight = [enter_elsewhere(cb) for _ in range(6)]  # six concurrent calls, all admitted
    for ctx in in_flight:
        exit_elsewhere(cb, ctx, OperationalError("down"))
    assert [(c.old, c.new) for c in changes] == [(CLOSED, OPEN)]
    assert get_state("db") == {
        "state": OPEN,
        "failures": 2,
        "opened_at": 1000.0,
        "retry_after": 10.0,
    }


def test_a_late_success_does_not_close_an_open_circuit(clock: Any) -> None:
    cb = circuit_breaker("db", failure_threshold=1, open_window_s=10.0, clock=clock)
    slow = enter_elsewhere(cb)
    fail(cb)
    exit_elsewhere(cb, slow, None)  # admitted while closed, finished after the circuit opened
    assert cb.state is OPEN


# Nesting ------------------------------------------------------------------------------------


def test_nested_use_of_the_same_breaker_is_one_call(clock: Any) -> None:
    cb = circuit_breaker("db", failure_threshold=1, open_window_s=10.0, clock=clock)
    trip(cb)
    clock.advance(10)
    with cb:  # the probe
        with cb:  # nested (e.g. a statement under automatic protection): not a second probe
            pass
        with pytest.raises(OperationalError), cb:
            raise OperationalError("handled by the caller")
        assert cb.state is HALF_OPEN
    assert cb.state is CLOSED  # the outer call is the one judged


# Control -----------------------------------------------------------------------------------


def test_reset_closes_and_forgets(clock: Any) -> None:
    cb = circuit_breaker("db", failure_threshold=1, clock=clock)
    trip(cb)
    cb.reset()
    assert get_state("db") == {
        "state": CLOSED,
        "failures": 0,
        "opened_at": None,
        "retry_after": None,
    }
    fail(cb)
    assert cb.state is OPEN


def test_reset_drops_the_result_of_calls_in_flight(clock: Any) -> None:
    cb = circuit_breaker("db", failure_threshold=1, open_window_s=1.0, clock=clock)
    trip(cb)
    clock.advance(1)
    probe = enter_elsewhere(cb)
    cb.reset()
    exit_elsewhere(cb, probe, OperationalError("late"))
    assert cb.state is CLOSED


def test_reset_circuit_breakers_resets_every_breaker(clock: Any) -> None:
    a = circuit_breaker("a", failure_threshold=1, clock=clock)
    b = circuit_breaker("b", failure_threshold=1, clock=clock)
    trip(a)
    trip(b)
    reset_circuit_breakers()
    assert a.state is CLOSED and b.state is CLOSED
    assert circuit_breaker("a") is a  # still the same singletons
    reset_circuit_breakers(forget=True)
    assert circuit_breaker("a", failure_threshold=9) is not a
    with pytest.raises(KeyError, match="No circuit breaker named 'b'"):
        get_state("b")


# Listeners ------------------------------------------------------------------------------------


def test_listeners_see_every_state_change(clock: Any) -> None:
    cb = circuit_breaker("db", failure_threshold=2, open_window_s=10.0, clock=clock)
    mine: list[StateChange] = []
    everyone: list[StateChange] = []
    cb.add_listener(mine.append)
    add_state_listener(everyone.append)
    try:
        trip(cb)
        clock.advance(10)
        fail(cb)  # probe fails: HALF_OPEN -> OPEN
        clock.advance(10)
        succeed(cb)  # probe succeeds: HALF_OPEN -> CLOSED
        trip(cb)
        cb.reset()
    finally:
        remove_state_listener(everyone.append)
    assert mine == everyone
    assert [(c.old.name, c.new.name, c.failures, c.at, c.retry_after) for c in mine] == [
        ("CLOSED", "OPEN", 2, 1000.0, 10.0),
        ("OPEN", "HALF_OPEN", 2, 1010.0, 0.0),
        ("HALF_OPEN", "OPEN", 3, 1010.0, 10.0),
        ("OPEN", "HALF_OPEN", 3, 1020.0, 0.0),
        ("HALF_OPEN", "CLOSED", 0, 1020.0, None),
        ("CLOSED", "OPEN", 2, 1020.0, 10.0),
        ("OPEN", "CLOSED", 0, 1020.0, None),
    ]
    assert all(c.name == "db" for c in mine)
    cb.remove_listener(mine.append)
    trip(cb)
    assert len(mine) == 7


def test_a_failing_listener_is_logged_not_raised(
    clock: Any, caplog: pytest.LogCaptureFixture
) -> None:
    cb = circuit_breaker("db", failure_threshold=1, clock=clock)

    @cb.add_listener
    def broken(change: StateChange) -> None:
        raise RuntimeError("metrics backend down")

    with caplog.at_level(logging.INFO, logger="dorm.contrib.circuit_breaker"):
        fail(cb)
    assert cb.state is OPEN
    messages = [r.getMessage() for r in caplog.records]
    assert "circuit breaker 'db' opened after 1 consecutive failure(s); next probe in 30s" in (
        messages
    )
    assert any("state listener" in m and "failed" in m for m in messages)


# Sync and async forms -----------------------------------------------------------------------


def test_decorates_sync_functions(clock: Any) -> None:
    cb = circuit_breaker("db", failure_threshold=2, clock=clock)
    calls: list[int] = []

    @cb
    def query(n: int) -> int:
        """Docstring kept."""
        calls.append(n)
        if n < 0:
            raise OperationalError("down")
        return n * 2

    assert query(2) == 4
    assert query.__name__ == "query" and query.__doc__ == "Docstring kept."
    for n in (-1, -2):
        with pytest.raises(OperationalError):
            query(n)
    with pytest.raises(CircuitOpenError):
        query(3)
    assert calls == [2, -1, -2]


async def test_decorates_async_functions(clock: Any) -> None:
    cb = circuit_breaker("db", failure_threshold=2, open_window_s=5.0, clock=clock)
    calls: list[int] = []

    @cb
    async def query(n: int) -> int:
        await asyncio.sleep(0)
        calls.append(n)
        if n < 0:
            raise OperationalError("down")
        return n * 2

    assert asyncio.iscoroutinefunction(query)
    assert await query(2) == 4
    for n in (-1, -2):
        with pytest.raises(OperationalError):
            await query(n)
    with pytest.raises(CircuitOpenError):
        await query(3)
    clock.advance(5)
    assert await query(4) == 8
    assert cb.state is CLOSED
    assert calls == [2, -1, -2, 4]


def test_refuses_to_decorate_generators(clock: Any) -> None:
    cb = circuit_breaker("db", clock=clock)

    def rows() -> Any:
        yield 1

    with pytest.raises(TypeError, match="generator function"):
        cb(rows)


async def test_async_with_and_aprotect(clock: Any) -> None:
    cb = circuit_breaker("db", failure_threshold=1, open_window_s=5.0, clock=clock)
    async with cb as entered:
        assert entered is cb
    with pytest.raises(OperationalError):
        async with cb.aprotect():
            raise OperationalError("down")
    assert cb.state is OPEN
    with pytest.raises(CircuitOpenError):
        async with cb.aprotect():
            pass
    clock.advance(5)
    async with cb.aprotect():
        pass
    assert cb.state is CLOSED
    with cb.protect():
        pass


def test_exit_without_enter_is_an_error(clock: Any) -> None:
    cb = circuit_breaker("db", clock=clock)
    with pytest.raises(RuntimeError, match="without being entered"):
        cb.__exit__(None, None, None)


# The per-name singleton -----------------------------------------------------------------------


def test_same_object_for_the_same_name() -> None:
    cb = circuit_breaker("db", failure_threshold=3, open_window_s=10.0)
    assert circuit_breaker("db") is cb
    assert circuit_breaker("db", failure_threshold=3) is cb
    assert circuit_breaker("db", open_window_s=10) is cb  # 10 == 10.0
    assert circuit_breaker("db", failure_exceptions=reversed(DEFAULT_FAILURE_EXCEPTIONS)) is cb
    assert circuit_breaker("other") is not cb
    assert (cb.failure_threshold, cb.open_window_s, cb.clock) == (3, 10.0, time.monotonic)


def test_changed_parameters_raise() -> None:
    circuit_breaker("db", failure_threshold=3, open_window_s=10.0)
    with pytest.raises(ValueError) as info:
        circuit_breaker("db", failure_threshold=5, open_window_s=30.0)
    message = str(info.value)
    assert message.startswith("circuit_breaker('db') already exists with different parameters: ")
    assert "failure_threshold=5 (it has 3)" in message
    assert "open_window_s=30.0 (it has 10.0)" in message
    with pytest.raises(ValueError, match=r"failure_exceptions=\(OperationalError\)"):
        circuit_breaker("db", failure_exceptions=OperationalError)
    with pytest.raises(ValueError, match="clock="):
        circuit_breaker("db", clock=time.perf_counter)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"failure_threshold": 0}, ValueError, "failure_threshold must be >= 1"),
        ({"failure_threshold": 2.5}, TypeError, "failure_threshold must be an int"),
        ({"failure_threshold": True}, TypeError, "failure_threshold must be an int"),
        ({"open_window_s": 0}, ValueError, "open_window_s must be > 0"),
        ({"open_window_s": "30"}, TypeError, "open_window_s must be a number"),
        ({"failure_exceptions": ["OperationalError"]}, TypeError, "must be exception classes"),
        ({"clock": 5}, TypeError, "clock must be a callable"),
    ],
)
def test_bad_parameters(kwargs: dict[str, Any], error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        circuit_breaker("db", **kwargs)
    with pytest.raises(KeyError):
        get_state("db")  # nothing was registered


def test_bad_name() -> None:
    with pytest.raises(TypeError, match="non-empty str"):
        circuit_breaker("")


def test_the_default_clock_is_monotonic() -> None:
    cb = CircuitBreaker("unregistered")
    assert cb.clock is time.monotonic
    with pytest.raises(KeyError):
        get_state("unregistered")  # only circuit_breaker() registers
    assert "CircuitBreaker 'unregistered' state=CLOSED" in repr(cb)
