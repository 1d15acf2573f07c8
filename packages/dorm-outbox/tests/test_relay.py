"""OutboxRelay on SQLite: ordering, batches, failures (attempts, backoff, dead), run/arun."""

from __future__ import annotations

import asyncio
import datetime
import os
import signal
import threading
import time
from typing import Any

import pytest
from outbox_test_models import Audit, FakeClock, Order, Outbox

import dorm
from dorm import transaction
from dorm.contrib.outbox import (
    OutboxRelay,
    OutboxStatus,
    apurge_published,
    arecord_event,
    arequeue_dead,
    exponential_backoff,
    purge_published,
    record_event,
    requeue_dead,
)
from dorm.exceptions import TransactionManagementError

pytestmark = pytest.mark.usefixtures("db")


class Recorder:
    """A handler that records what it was given; ``fail`` makes it raise for chosen events."""

    def __init__(self, result: Any = True) -> None:
        self.rows: list[Any] = []
        self.result = result

    def __call__(self, row: Any) -> Any:
        self.rows.append(row)
        return self.result

    @property
    def types(self) -> list[str]:
        return [row.event_type for row in self.rows]


def record_many(n: int, prefix: str = "e") -> list[Any]:
    return [record_event(Outbox, f"{prefix}{i}", {"i": i}) for i in range(n)]


def status_of(event: Any) -> Outbox:
    return Outbox.objects.get(pk=event.pk)


# Publishing ---------------------------------------------------------------------------------


def test_drain_once_publishes_in_created_at_order(clock: FakeClock) -> None:
    base = clock.now - datetime.timedelta(minutes=1)
    for i in (3, 1, 2):  # inserted out of order; created_at decides
        record_event(Outbox, f"e{i}", {}, created_at=base + datetime.timedelta(seconds=i))
    handler = Recorder()
    relay = OutboxRelay(Outbox, clock=clock)
    assert relay.drain_once(handler) == 3
    assert handler.types == ["e1", "e2", "e3"]
    assert all(isinstance(row, Outbox) for row in handler.rows)
    for row in Outbox.objects.all():
        assert row.status == OutboxStatus.PUBLISHED
        assert row.published_at == clock.now
        assert row.attempts == 0
    assert relay.drain_once(handler) == 0
    assert len(handler.rows) == 3


def test_the_handler_sees_the_row_as_recorded(clock: FakeClock) -> None:
    event = record_event(Outbox, "order.created", {"order_id": 7})
    seen: list[tuple[Any, ...]] = []
    OutboxRelay(Outbox, clock=clock).drain_once(
        lambda row: (
            seen.append((row.pk, row.event_type, row.payload, row.status, row.attempts)) or True
        )
    )
    assert seen == [(event.pk, "order.created", {"order_id": 7}, "pending", 0)]


def test_batch_size_limits_one_drain(clock: FakeClock) -> None:
    record_many(5)
    handler = Recorder()
    relay = OutboxRelay(Outbox, batch_size=2, clock=clock)
    assert [relay.drain_once(handler) for _ in range(4)] == [2, 2, 1, 0]
    assert handler.types == ["e0", "e1", "e2", "e3", "e4"]


def test_events_not_yet_available_wait(clock: FakeClock) -> None:
    record_event(Outbox, "later", {}, available_at=clock.now + datetime.timedelta(seconds=30))
    handler = Recorder()
    relay = OutboxRelay(Outbox, clock=clock)
    assert relay.drain_once(handler) == 0
    clock.advance(30)
    assert relay.drain_once(handler) == 1


def test_published_and_dead_rows_are_not_claimed_again(clock: FakeClock) -> None:
    a, b = record_many(2)
    Outbox.objects.filter(pk=a.pk).update(status=OutboxStatus.DEAD)
    Outbox.objects.filter(pk=b.pk).update(status=OutboxStatus.PUBLISHED)
    assert OutboxRelay(Outbox, clock=clock).drain_once(Recorder()) == 0


# Failures -----------------------------------------------------------------------------------


def test_a_failing_handler_backs_off_then_the_event_dies(clock: FakeClock) -> None:
    (event,) = record_many(1)
    calls: list[str] = []

    def handler(row: Outbox) -> bool:
        calls.append(row.event_type)
        raise ConnectionError(f"broker down (try {len(calls)})")

    relay = OutboxRelay(Outbox, max_attempts=3, backoff=exponential_backoff(10, 3), clock=clock)
    start = clock.now

    assert relay.drain_once(handler) == 1
    row = status_of(event)
    assert (row.status, row.attempts) == ("pending", 1)
    assert row.last_error == "ConnectionError: broker down (try 1)"
    assert row.available_at == start + datetime.timedelta(seconds=10)

    clock.advance(9.999)  # not yet
    assert relay.drain_once(handler) == 0
    clock.advance(0.001)
    assert relay.drain_once(handler) == 1
    row = status_of(event)
    assert (row.status, row.attempts) == ("pending", 2)
    assert row.last_error == "ConnectionError: broker down (try 2)"
    assert row.available_at == clock.now + datetime.timedelta(seconds=30)  # 10 * 3

    clock.advance(30)
    assert relay.drain_once(handler) == 1
    row = status_of(event)
    assert (row.status, row.attempts) == ("dead", 3)
    assert row.last_error == "ConnectionError: broker down (try 3)"
    assert row.published_at is None

    clock.advance(10_000)
    assert relay.drain_once(handler) == 0
    assert calls == ["e0", "e0", "e0"]


@pytest.mark.parametrize("result", [False, None, 0, ""])
def test_a_falsy_result_is_a_failure(clock: FakeClock, result: Any) -> None:
    (event,) = record_many(1)
    relay = OutboxRelay(Outbox, backoff=5, clock=clock)
    relay.drain_once(Recorder(result))
    row = status_of(event)
    assert (row.status, row.attempts) == ("pending", 1)
    assert row.last_error == f"handler returned {result!r}"
    assert row.available_at == clock.now + datetime.timedelta(seconds=5)


def test_max_attempts_one_kills_at_the_first_failure(clock: FakeClock) -> None:
    (event,) = record_many(1)
    OutboxRelay(Outbox, max_attempts=1, clock=clock).drain_once(Recorder(False))
    assert status_of(event).status == "dead"


def test_a_failure_does_not_hold_up_the_rest_of_the_batch(clock: FakeClock) -> None:
    events = record_many(3)

    def handler(row: Outbox) -> bool:
        if row.event_type == "e1":
            raise ValueError("bad event")
        return True

    relay = OutboxRelay(Outbox, backoff=60, clock=clock)
    assert relay.drain_once(handler) == 3
    assert [status_of(e).status for e in events] == ["published", "pending", "published"]


def test_backoff_may_be_a_timedelta_or_a_callable_returning_one(clock: FakeClock) -> None:
    (event,) = record_many(1)
    OutboxRelay(Outbox, backoff=datetime.timedelta(minutes=2), clock=clock).drain_once(
        Recorder(False)
    )
    assert status_of(event).available_at == clock.now + datetime.timedelta(minutes=2)
    clock.advance(120)
    hours = OutboxRelay(Outbox, backoff=lambda n: datetime.timedelta(hours=n), clock=clock)
    assert hours.drain_once(Recorder(False)) == 1
    assert status_of(event).attempts == 2
    assert status_of(event).available_at == clock.now + datetime.timedelta(hours=2)


def test_exponential_backoff() -> None:
    backoff = exponential_backoff()
    assert [backoff(n) for n in range(1, 11)] == [1, 2, 4, 8, 16, 32, 64, 128, 256, 300]
    assert exponential_backoff(0.5, 3, 10)(3) == 4.5
    assert exponential_backoff(1, 2, 300)(100_000) == 300  # no OverflowError
    with pytest.raises(ValueError):
        exponential_backoff(factor=0.5)


def test_bad_parameters() -> None:
    for kwargs in ({"batch_size": 0}, {"max_attempts": 0}, {"poll_interval_s": 0}):
        with pytest.raises(ValueError):
            OutboxRelay(Outbox, **kwargs)
    with pytest.raises(TypeError, match="backoff"):
        OutboxRelay(Outbox, backoff="fast")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="subclass of OutboxEvent"):
        OutboxRelay(Order)  # type: ignore[type-var]


def test_listen_true_needs_postgresql() -> None:
    relay = OutboxRelay(Outbox, listen=True)
    with pytest.raises(dorm.ImproperlyConfigured, match="needs PostgreSQL"):
        relay.run(Recorder())


# The handler's own writes: one savepoint per event --------------------------------------


def test_handler_writes_commit_with_the_mark_or_roll_back_with_the_failure(
    clock: FakeClock,
) -> None:
    ok, bad, falsy = record_many(3)

    def handler(row: Outbox) -> bool:
        Audit.objects.create(note=row.event_type)
        if row.pk == bad.pk:
            raise RuntimeError("after writing")
        return row.pk != falsy.pk

    OutboxRelay(Outbox, clock=clock).drain_once(handler)
    assert list(Audit.objects.values_list("note", flat=True)) == ["e0"]
    assert [status_of(e).status for e in (ok, bad, falsy)] == ["published", "pending", "pending"]


def test_an_exception_escaping_the_batch_rolls_it_back(clock: FakeClock) -> None:
    """BaseException (KeyboardInterrupt...) aborts the batch: nothing is marked."""
    events = record_many(2)
    seen: list[str] = []

    def handler(row: Outbox) -> bool:
        seen.append(row.event_type)
        if row.event_type == "e1":
            raise KeyboardInterrupt
        return True

    with pytest.raises(KeyboardInterrupt):
        OutboxRelay(Outbox, clock=clock).drain_once(handler)
    assert [status_of(e).status for e in events] == ["pending", "pending"]
    assert seen == ["e0", "e1"]  # e0 was handed over: it is delivered again (at-least-once)


def test_an_async_handler_is_refused_by_the_sync_api(clock: FakeClock) -> None:
    (event,) = record_many(1)

    async def handler(row: Outbox) -> bool:
        return True

    relay = OutboxRelay(Outbox, max_attempts=1, clock=clock)
    with pytest.raises(TypeError, match="arun"):
        relay.run(handler)
    relay.drain_once(handler)  # the coroutine is closed, the row records why
    assert "adrain_once()/arun()" in status_of(event).last_error


# run() ------------------------------------------------------------------------------------


def test_run_stops_on_a_threading_event() -> None:
    record_many(3)
    stop = threading.Event()
    handler = Recorder()

    def publish(row: Outbox) -> bool:
        handler(row)
        if len(handler.rows) == 4:
            stop.set()
        return True

    relay = OutboxRelay(Outbox, poll_interval_s=0.01)
    thread = threading.Thread(target=relay.run, args=(publish,), kwargs={"stop": stop})
    thread.start()
    deadline = time.monotonic() + 10
    while len(handler.rows) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    record_event(Outbox, "late", {})  # picked up by the next poll
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert handler.types == ["e0", "e1", "e2", "late"]
    assert Outbox.objects.filter(status="pending").count() == 0


def test_run_stops_on_sigterm_after_the_current_batch() -> None:
    record_many(3)
    handler = Recorder()
    previous = signal.getsignal(signal.SIGTERM)

    def publish(row: Outbox) -> bool:
        handler(row)
        if row.event_type == "e0":
            os.kill(os.getpid(), signal.SIGTERM)
        return True

    OutboxRelay(Outbox, poll_interval_s=30).run(publish)  # returns: no 30 s wait
    assert handler.types == ["e0", "e1", "e2"]  # the batch was finished and committed
    assert Outbox.objects.filter(status="published").count() == 3
    assert signal.getsignal(signal.SIGTERM) == previous


def test_a_second_signal_interrupts_the_batch() -> None:
    events = record_many(3)

    def publish(row: Outbox) -> bool:
        if row.event_type == "e1":
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)
        return True

    with pytest.raises(KeyboardInterrupt):
        OutboxRelay(Outbox).run(publish)
    assert {status_of(e).status for e in events} == {"pending"}


def test_run_refuses_to_run_inside_a_transaction() -> None:
    with pytest.raises(TransactionManagementError), transaction.atomic():
        OutboxRelay(Outbox).run(Recorder())


def test_run_survives_database_errors(caplog: pytest.LogCaptureFixture) -> None:
    """A failing batch is logged and retried after poll_interval_s; the relay keeps going."""
    record_many(1)
    stop = threading.Event()
    relay = OutboxRelay(Outbox, poll_interval_s=0.01)
    real = relay._claim_qs
    failures = iter([True, True])

    def flaky(alias: str, features: Any) -> Any:
        if next(failures, False):
            raise dorm.OperationalError("database restarting")
        return real(alias, features)

    relay._claim_qs = flaky  # type: ignore[method-assign]
    handler = Recorder()

    def publish(row: Outbox) -> bool:
        handler(row)
        stop.set()
        return True

    relay.run(publish, stop=stop, install_signal_handlers=False)
    assert handler.types == ["e0"]
    assert caplog.text.count("batch failed; retrying") == 2


# Async ------------------------------------------------------------------------------------


async def test_adrain_once_with_async_and_sync_handlers(adb: None, clock: FakeClock) -> None:
    for i in range(3):
        await arecord_event(Outbox, f"e{i}", {"i": i})
    seen: list[str] = []

    async def handler(row: Outbox) -> bool:
        await asyncio.sleep(0)
        seen.append(row.event_type)
        return row.event_type != "e1"

    relay = OutboxRelay(Outbox, backoff=7, clock=clock)
    assert await relay.adrain_once(handler) == 3
    assert seen == ["e0", "e1", "e2"]
    rows = {row.event_type: row async for row in Outbox.objects.all()}
    assert rows["e0"].status == rows["e2"].status == "published"
    assert rows["e1"].attempts == 1 and rows["e1"].last_error == "handler returned False"
    assert rows["e1"].available_at == clock.now + datetime.timedelta(seconds=7)
    clock.advance(7)
    assert await relay.adrain_once(lambda row: True) == 1  # a plain function works too
    assert await Outbox.objects.filter(status="published").acount() == 3


async def test_async_handler_writes_follow_the_outcome(adb: None, clock: FakeClock) -> None:
    await arecord_event(Outbox, "ok", {})
    await arecord_event(Outbox, "bad", {})

    async def handler(row: Outbox) -> bool:
        await Audit.objects.acreate(note=row.event_type)
        if row.event_type == "bad":
            raise RuntimeError("after writing")
        return True

    await OutboxRelay(Outbox, clock=clock).adrain_once(handler)
    assert [a.note async for a in Audit.objects.all()] == ["ok"]


async def test_arun_stops_on_an_asyncio_event(adb: None) -> None:
    await arecord_event(Outbox, "first", {})
    stop = asyncio.Event()
    seen: list[str] = []

    async def handler(row: Outbox) -> bool:
        seen.append(row.event_type)
        if row.event_type == "second":
            stop.set()
        return True

    relay = OutboxRelay(Outbox, poll_interval_s=0.01)
    task = asyncio.ensure_future(relay.arun(handler, stop=stop))
    while not seen:
        await asyncio.sleep(0.01)
    await arecord_event(Outbox, "second", {})
    await asyncio.wait_for(task, timeout=10)
    assert seen == ["first", "second"]


async def test_arun_stops_on_a_threading_event_and_on_sigterm(adb: None) -> None:
    stop = threading.Event()
    relay = OutboxRelay(Outbox, poll_interval_s=5)
    task = asyncio.ensure_future(relay.arun(Recorder(), stop=stop))
    await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(task, timeout=2)  # well under poll_interval_s

    previous = signal.getsignal(signal.SIGTERM)
    task = asyncio.ensure_future(relay.arun(Recorder()))
    await asyncio.sleep(0.05)
    os.kill(os.getpid(), signal.SIGTERM)
    await asyncio.wait_for(task, timeout=2)
    assert signal.getsignal(signal.SIGTERM) == previous


async def test_cancelling_arun_rolls_back_the_open_batch(adb: None) -> None:
    await arecord_event(Outbox, "e0", {})
    started = asyncio.Event()

    async def handler(row: Outbox) -> bool:
        started.set()
        await asyncio.sleep(30)
        return True

    task = asyncio.ensure_future(OutboxRelay(Outbox).arun(handler))
    await asyncio.wait_for(started.wait(), timeout=5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert [row.status async for row in Outbox.objects.all()] == ["pending"]


# Housekeeping -------------------------------------------------------------------------------


def test_purge_published(clock: FakeClock) -> None:
    old, recent, pending, dead = record_many(4)
    week = datetime.timedelta(days=7)
    Outbox.objects.filter(pk=old.pk).update(status="published", published_at=clock.now - 2 * week)
    Outbox.objects.filter(pk=recent.pk).update(status="published", published_at=clock.now)
    Outbox.objects.filter(pk=dead.pk).update(status="dead", created_at=clock.now - 2 * week)
    assert purge_published(Outbox, clock=clock) == 1
    assert set(Outbox.objects.values_list("pk", flat=True)) == {recent.pk, pending.pk, dead.pk}
    assert purge_published(Outbox, older_than=week, include_dead=True, clock=clock) == 1
    assert purge_published(Outbox, older_than=0, clock=clock) == 1
    assert list(Outbox.objects.values_list("pk", flat=True)) == [pending.pk]


def test_purge_works_in_batches(clock: FakeClock) -> None:
    record_many(7)
    Outbox.objects.update(status="published", published_at=clock.now - datetime.timedelta(days=8))
    assert purge_published(Outbox, batch_size=3, clock=clock) == 7
    assert Outbox.objects.count() == 0


def test_requeue_dead(clock: FakeClock) -> None:
    a, b = record_many(2)
    Outbox.objects.update(status="dead", attempts=5, last_error="boom")
    assert requeue_dead(Outbox, event_type="e0") == 1
    row = status_of(a)
    assert (row.status, row.attempts, row.last_error) == ("pending", 0, "boom")
    assert status_of(b).status == "dead"


async def test_async_housekeeping(adb: None, clock: FakeClock) -> None:
    a = await arecord_event(Outbox, "a", {})
    b = await arecord_event(Outbox, "b", {})
    await Outbox.objects.filter(pk=a.pk).aupdate(
        status="published", published_at=clock.now - datetime.timedelta(days=30)
    )
    await Outbox.objects.filter(pk=b.pk).aupdate(status="dead")
    assert await apurge_published(Outbox, clock=clock) == 1
    assert await arequeue_dead(Outbox) == 1
    assert [row.status async for row in Outbox.objects.all()] == ["pending"]
