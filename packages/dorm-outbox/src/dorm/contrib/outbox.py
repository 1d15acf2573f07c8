"""Transactional outbox: record events in the business transaction, publish them with a relay.

::

    from dorm.contrib.outbox import OutboxEvent, OutboxRelay, record_event
    from dorm import transaction


    class Outbox(OutboxEvent):
        class Meta:
            db_table = "outbox"


    with transaction.atomic():
        order = Order.objects.create(...)
        record_event(Outbox, "order.created", {"order_id": order.id})


    relay = OutboxRelay(Outbox, batch_size=100)
    relay.run(handler=publish_to_kafka)  # handler(row) -> truthy when published

* :func:`record_event` / :func:`arecord_event` insert one row on the current connection, so
  the event commits or rolls back with the business write of the same ``atomic()`` block.
* :class:`OutboxRelay` claims pending rows in ``created_at`` order, one transaction per batch,
  calls the handler for each row (inside that transaction, each in its own savepoint) and marks
  the outcome before committing: published, or retried later (``attempts``, ``last_error``,
  ``available_at`` pushed back by the backoff), or ``dead`` after ``max_attempts`` failures.
* Delivery is **at-least-once**: a relay that dies after the handler published but before the
  batch committed leaves those rows pending, and they are delivered again. Handlers (or their
  consumers) must be idempotent; the event ``id`` is the deduplication key.
* On PostgreSQL the claim is ``SELECT ... FOR UPDATE SKIP LOCKED``: N relays in N processes
  take disjoint rows, and the rows of a relay that died are unlocked with its connection. On
  SQLite (no row locks) run a single relay.
* When ``dorm.contrib.listen_notify`` (dorm-postgres) is importable and the alias is
  PostgreSQL, :func:`record_event` also sends a ``NOTIFY`` (delivered on commit) and the relay
  ``LISTEN``\\ s, so it wakes within milliseconds instead of waiting out ``poll_interval_s``.
  Polling stays as the fallback.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import decimal
import enum
import importlib
import inspect
import logging
import math
import re
import signal
import threading
import time
import traceback
import uuid
from collections.abc import Awaitable, Callable, Iterator
from types import FrameType, ModuleType
from typing import Any, ClassVar, Generic, Protocol, TypeVar

import dorm
from dorm import transaction
from dorm.db import async_connections, connections, router
from dorm.exceptions import DatabaseError, TransactionManagementError
from dorm.utils import now

__all__ = [
    "OutboxEvent",
    "OutboxRelay",
    "OutboxStatus",
    "apurge_published",
    "arecord_event",
    "arequeue_dead",
    "exponential_backoff",
    "notify_channel",
    "purge_published",
    "record_event",
    "requeue_dead",
    "to_json",
]

logger = logging.getLogger("dorm.contrib.outbox")


class OutboxStatus:
    """The values of ``OutboxEvent.status``."""

    PENDING = "pending"
    PUBLISHED = "published"
    DEAD = "dead"
    choices: ClassVar[list[tuple[str, str]]] = [
        (PENDING, "Pending"),
        (PUBLISHED, "Published"),
        (DEAD, "Dead"),
    ]


class OutboxEvent(dorm.Model):
    """An event waiting to be published. Abstract: subclass it to get a table.

    ::

        class Outbox(OutboxEvent):
            class Meta:
                db_table = "outbox"

    ``makemigrations`` then writes the table, with an index on ``(status, created_at, id)``:
    the relay's claim query (``status = 'pending' AND available_at <= now ORDER BY
    created_at, id LIMIT batch_size``) reads it in order and stops after one batch. Subclasses
    may add fields (``aggregate_id``, ``headers``, ...) and pass them to ``record_event()``.

    Class attributes (not fields):

    * ``outbox_notify = True``: send a ``NOTIFY`` on commit from ``record_event()`` when
      LISTEN/NOTIFY is available (set ``False`` for write paths where the extra statement,
      and PostgreSQL's commit-time notification lock, are not wanted).
    """

    Status = OutboxStatus
    outbox_notify: ClassVar[bool] = True

    id = dorm.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    event_type = dorm.CharField(max_length=200)
    payload = dorm.JSONField()
    status = dorm.CharField(
        max_length=16, choices=OutboxStatus.choices, default=OutboxStatus.PENDING
    )
    attempts = dorm.PositiveIntegerField(default=0)
    last_error = dorm.TextField(blank=True, default="")
    created_at = dorm.DateTimeField(default=now)
    available_at = dorm.DateTimeField(default=now)
    published_at = dorm.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True
        # Named after the concrete table (``<db_table>_status_created_at_id_idx``). Not a
        # partial index: the claim binds ``status`` as a parameter, and a prepared (generic)
        # plan could not match ``status = $1`` to a ``WHERE status = 'pending'`` index.
        indexes = [dorm.Index(fields=["status", "created_at", "id"])]

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.event_type} {self.id} {self.status}>"


E = TypeVar("E", bound=OutboxEvent)


# JSON payloads ---------------------------------------------------------------------------

_MAX_REPR = 80


def _duration_iso(value: datetime.timedelta) -> str:
    """ISO 8601 duration, as Django's ``DjangoJSONEncoder`` writes it (``P1DT02H03M04S``)."""
    sign = "-" if value < datetime.timedelta(0) else ""
    value = abs(value)
    minutes, seconds = divmod(value.seconds, 60)
    hours, minutes = divmod(minutes, 60)
    micro = f".{value.microseconds:06d}" if value.microseconds else ""
    return f"{sign}P{value.days}DT{hours:02d}H{minutes:02d}M{seconds:02d}{micro}S"


def _describe(value: Any) -> str:
    text = repr(value)
    if len(text) > _MAX_REPR:
        text = text[: _MAX_REPR - 3] + "..."
    return f"{text} (type {type(value).__module__}.{type(value).__qualname__})"


def _not_serializable(where: str, value: Any, hint: str = "") -> TypeError:
    return TypeError(
        f"{where} is not JSON-serializable: {_describe(value)}. Payloads are made of str, int, "
        "float, bool, None, lists and dicts with str keys; Decimal, UUID, datetime, date, time, "
        "timedelta and Enum values are converted (to str / their value)"
        + (f"; {hint}" if hint else "")
        + "."
    )


def to_json(value: Any, *, name: str = "payload", caller: str = "") -> Any:
    """``value`` as plain JSON data (dict/list/str/int/float/bool/None), checked all the way down.

    Conversions: ``Decimal`` -> ``str`` (exact: ``"12.50"``), ``UUID`` -> ``str``,
    ``datetime``/``date``/``time`` -> ISO 8601 ``str``, ``timedelta`` -> ISO 8601 duration
    (``"P0DT01H00M00S"``), ``Enum`` -> its value, tuples -> lists, int dict keys -> ``str``.
    Anything else raises ``TypeError`` naming where the bad value is (``payload['items'][2]``)
    and what it is; a NaN or infinite float raises ``ValueError`` (JSON has no such numbers).
    """
    return _to_json(value, name, f"{caller}(): " if caller else "")


def _to_json(value: Any, path: str, prefix: str) -> Any:
    if value is None or isinstance(value, (str, bool, int)):
        if isinstance(value, enum.Enum):
            return _to_json(value.value, path, prefix)
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{prefix}{path} is {value!r}, which JSON cannot represent.")
        return value
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if isinstance(key, enum.Enum):
                key = key.value
            if isinstance(key, bool) or not isinstance(key, (str, int)):
                raise _not_serializable(
                    f"{prefix}the key {key!r} of {path}", key, "JSON object keys are strings"
                )
            skey = str(key)
            out[skey] = _to_json(item, f"{path}[{skey!r}]", prefix)
        return out
    if isinstance(value, (list, tuple)):
        return [_to_json(item, f"{path}[{i}]", prefix) for i, item in enumerate(value)]
    if isinstance(value, enum.Enum):
        return _to_json(value.value, path, prefix)
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return _duration_iso(value)
    hint = ""
    if isinstance(value, (set, frozenset)):
        hint = "convert sets to (sorted) lists"
    elif isinstance(value, (bytes, bytearray, memoryview)):
        hint = "encode bytes as text (base64, hex)"
    elif isinstance(value, dorm.Model):
        hint = "record the object's primary key (or a dict of the fields you need)"
    raise _not_serializable(f"{prefix}{path}", value, hint)


# NOTIFY wake-ups -----------------------------------------------------------------------------

_LISTEN_NOTIFY = "dorm.contrib.listen_notify"
_UNSET: Any = object()
_listen_notify_module: Any = _UNSET
_channel_cache: dict[str, str] = {}


def _listen_notify() -> ModuleType | None:
    """``dorm.contrib.listen_notify`` (dorm-postgres) when installed, else ``None``."""
    global _listen_notify_module
    if _listen_notify_module is _UNSET:
        try:
            _listen_notify_module = importlib.import_module(_LISTEN_NOTIFY)
        except ImportError:
            _listen_notify_module = None
    return _listen_notify_module  # type: ignore[no-any-return]


def notify_channel(model: type[OutboxEvent]) -> str:
    """The LISTEN/NOTIFY channel of an outbox model: ``outbox_<db_table>`` (a plain identifier)."""
    table = model._meta.db_table
    channel = _channel_cache.get(table)
    if channel is None:
        channel = "outbox_" + re.sub(r"[^a-z0-9_]", "_", table.lower())
        channel = channel[:63]
        _channel_cache[table] = channel
    return channel


def _notify_enabled(model: type[OutboxEvent], vendor: str) -> bool:
    return bool(getattr(model, "outbox_notify", True)) and vendor == "postgresql"


# Recording events ----------------------------------------------------------------------------


def _check_model(model: Any, what: str) -> None:
    if not (isinstance(model, type) and issubclass(model, OutboxEvent)):
        raise TypeError(f"{what}() needs a subclass of OutboxEvent, got {model!r}.")
    if model._meta.abstract:
        raise TypeError(
            f"{what}() needs a concrete outbox model: subclass {model.__name__} (class "
            f"Outbox({model.__name__}): class Meta: db_table = 'outbox')."
        )


def _new_event(
    model: type[E], event_type: str, payload: Any, extra: dict[str, Any], caller: str
) -> E:
    _check_model(model, caller)
    if not isinstance(event_type, str) or not event_type:
        raise TypeError(f"{caller}(): event_type must be a non-empty str, got {event_type!r}.")
    if payload is None:
        raise TypeError(f"{caller}(): payload is None; use {{}} for an event without data.")
    stamp = now()
    values = {
        "event_type": event_type,
        "payload": to_json(payload, caller=caller),
        "created_at": stamp,
        "available_at": stamp,
        **extra,
    }
    return model(**values)


def record_event(
    model: type[E], event_type: str, payload: Any, *, using: str | None = None, **extra: Any
) -> E:
    """Insert one pending event on the current connection; returns the saved row.

    Call it inside the ``atomic()`` block of the business write (same alias) and the event
    commits or rolls back with it. ``payload`` is checked and converted by :func:`to_json`.
    ``extra`` sets other fields (``available_at=`` to delay delivery, custom fields of a
    subclass).

    With dorm-postgres's ``dorm.contrib.listen_notify`` installed and a PostgreSQL alias, a
    ``NOTIFY`` on :func:`notify_channel` is sent too (delivered when the transaction commits),
    which wakes listening relays; set ``outbox_notify = False`` on the model to skip it.
    """
    event = _new_event(model, event_type, payload, extra, "record_event")
    alias = using or router.db_for_write(model)
    event.save(force_insert=True, using=alias)
    ln = _listen_notify()
    if ln is not None and _notify_enabled(model, connections[alias].vendor):
        ln.notify(notify_channel(model), "", using=alias)
    return event


async def arecord_event(
    model: type[E], event_type: str, payload: Any, *, using: str | None = None, **extra: Any
) -> E:
    """Async :func:`record_event`: the insert runs on the task's connection (``aatomic()``)."""
    event = _new_event(model, event_type, payload, extra, "arecord_event")
    alias = using or router.db_for_write(model)
    await event.asave(force_insert=True, using=alias)
    ln = _listen_notify()
    if ln is not None and _notify_enabled(model, async_connections[alias].vendor):
        await ln.anotify(notify_channel(model), "", using=alias)
    return event


# Backoff -------------------------------------------------------------------------------------


def exponential_backoff(
    base_s: float = 1.0, factor: float = 2.0, max_s: float = 300.0
) -> Callable[[int], float]:
    """``backoff(attempts) -> seconds``: ``base_s * factor ** (attempts - 1)``, capped at ``max_s``.

    The default relay backoff is ``exponential_backoff()``: 1 s, 2 s, 4 s, 8 s, ... 5 min.
    """
    if base_s < 0 or factor < 1 or max_s < 0:
        raise ValueError("exponential_backoff() needs base_s >= 0, factor >= 1 and max_s >= 0.")

    def backoff(attempts: int) -> float:
        exponent = max(attempts - 1, 0)
        try:
            delay = base_s * factor**exponent
        except OverflowError:
            return max_s
        return min(delay, max_s)

    backoff.__qualname__ = f"exponential_backoff(base_s={base_s}, factor={factor}, max_s={max_s})"
    return backoff


BackoffSpec = Callable[[int], "float | datetime.timedelta"] | float | datetime.timedelta


def _backoff_callable(backoff: BackoffSpec) -> Callable[[int], float | datetime.timedelta]:
    if callable(backoff):
        return backoff
    if isinstance(backoff, (int, float, datetime.timedelta)) and not isinstance(backoff, bool):
        seconds = backoff.total_seconds() if isinstance(backoff, datetime.timedelta) else backoff
        if seconds < 0:
            raise ValueError("OutboxRelay(backoff=...) must not be negative.")
        return lambda attempts: seconds
    raise TypeError(
        "OutboxRelay(backoff=...) takes a callable backoff(attempts) -> seconds (or timedelta), "
        f"or a constant number of seconds; got {backoff!r}."
    )


def _as_delta(value: float | datetime.timedelta) -> datetime.timedelta:
    if isinstance(value, datetime.timedelta):
        return max(value, datetime.timedelta(0))
    return datetime.timedelta(seconds=max(float(value), 0.0))


# The relay -----------------------------------------------------------------------------------


class _StopFlag(Protocol):
    def is_set(self) -> bool: ...


_MAX_ERROR = 4000
_STOP_CHECK_S = 0.1


def _error_text(exc: BaseException) -> str:
    text = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    return text[:_MAX_ERROR]


class _Outcome:
    __slots__ = ("error", "ok")

    def __init__(self, ok: bool, error: str = "") -> None:
        self.ok = ok
        self.error = error


class OutboxRelay(Generic[E]):
    """Publishes the pending events of an outbox model through a handler.

    ``handler(row)`` gets each event (an instance of ``model``) and returns a truthy value
    once it is published; a falsy return or an exception is a failure: ``attempts`` goes up,
    ``last_error`` says why, and the row waits ``backoff(attempts)`` seconds (``available_at``)
    before its next try — after ``max_attempts`` failures its status becomes ``dead``.

    Parameters:

    * ``batch_size``: rows claimed per transaction.
    * ``poll_interval_s``: how long :meth:`run` sleeps when there is nothing to do (it wakes
      earlier on a NOTIFY when LISTEN/NOTIFY is available, see ``listen``).
    * ``max_attempts``: failures before a row is ``dead``.
    * ``backoff``: ``backoff(attempts) -> seconds | timedelta`` (default
      :func:`exponential_backoff`), or a constant number of seconds.
    * ``using``: the database alias (default: the router's write alias for ``model``).
    * ``clock``: ``() -> datetime``, "now" for claims, backoff and ``published_at``
      (default :func:`dorm.utils.now`); tests pass a fake clock.
    * ``listen``: ``None`` (default) listens for NOTIFY wake-ups when dorm-postgres's
      ``dorm.contrib.listen_notify`` is installed and the alias is PostgreSQL; ``False`` never
      does; ``True`` requires it.
    """

    def __init__(
        self,
        model: type[E],
        *,
        batch_size: int = 100,
        poll_interval_s: float = 1.0,
        max_attempts: int = 5,
        backoff: BackoffSpec | None = None,
        using: str | None = None,
        clock: Callable[[], datetime.datetime] | None = None,
        listen: bool | None = None,
    ) -> None:
        _check_model(model, "OutboxRelay")
        if batch_size < 1:
            raise ValueError("OutboxRelay(batch_size=...) must be at least 1.")
        if max_attempts < 1:
            raise ValueError("OutboxRelay(max_attempts=...) must be at least 1.")
        if poll_interval_s <= 0:
            raise ValueError("OutboxRelay(poll_interval_s=...) must be positive.")
        self.model = model
        self.batch_size = batch_size
        self.poll_interval_s = float(poll_interval_s)
        self.max_attempts = max_attempts
        self.backoff = _backoff_callable(exponential_backoff() if backoff is None else backoff)
        self._using = using
        self.clock = clock or now
        self.listen = listen
        self.channel = notify_channel(model)

    def __repr__(self) -> str:
        return f"<OutboxRelay {self.model.__name__} on {self.using!r}>"

    @property
    def using(self) -> str:
        """The alias the relay reads and writes (resolved through the routers when not given)."""
        return self._using or router.db_for_write(self.model)

    # Claiming and marking (shared by sync and async) -----------------------------------

    def _claim_qs(self, alias: str, features: Any) -> Any:
        qs = self.model._base_manager.using(alias)
        if features.has_select_for_update_skip_locked:
            qs = qs.select_for_update(skip_locked=True)
        elif features.has_select_for_update:
            qs = qs.select_for_update()
        return qs.filter(status=OutboxStatus.PENDING, available_at__lte=self.clock()).order_by(
            "created_at", "id"
        )[: self.batch_size]

    def _failure_values(self, row: E, error: str) -> dict[str, Any]:
        attempts = row.attempts + 1
        values: dict[str, Any] = {"attempts": attempts, "last_error": error}
        if attempts >= self.max_attempts:
            values["status"] = OutboxStatus.DEAD
            logger.error(
                "outbox event %s (%s) is dead after %d attempts: %s",
                row.id,
                row.event_type,
                attempts,
                error,
            )
        else:
            delay = _as_delta(self.backoff(attempts))
            values["available_at"] = self.clock() + delay
            logger.warning(
                "outbox event %s (%s) failed (attempt %d of %d), retry in %ss: %s",
                row.id,
                row.event_type,
                attempts,
                self.max_attempts,
                delay.total_seconds(),
                error,
            )
        return values

    def _apply_failure(self, row: E, values: dict[str, Any]) -> None:
        for name, value in values.items():
            setattr(row, name, value)

    def _mark_published(self, rows: list[E], published_at: datetime.datetime) -> None:
        for row in rows:
            row.status = OutboxStatus.PUBLISHED
            row.published_at = published_at

    # Sync --------------------------------------------------------------------------------

    def _call_sync(self, handler: Callable[[E], Any], row: E, alias: str) -> _Outcome:
        try:
            with transaction.atomic(using=alias):
                result = handler(row)
                if inspect.isawaitable(result):
                    if inspect.iscoroutine(result):
                        result.close()
                    raise TypeError(
                        "the handler returned an awaitable: use adrain_once()/arun() for async "
                        "handlers"
                    )
                if not result:
                    # Undo what the handler wrote in its savepoint: the event is not done.
                    transaction.set_rollback(True, using=alias)
        except Exception as exc:
            return _Outcome(False, _error_text(exc))
        if not result:
            return _Outcome(False, f"handler returned {result!r}")
        return _Outcome(True)

    def drain_once(self, handler: Callable[[E], Any]) -> int:
        """Claim one batch, hand each row to ``handler`` and record the outcomes; one transaction.

        Returns how many events were handed to the handler (published or not); 0 when none
        was due.
        """
        alias = self.using
        conn = connections[alias]
        published: list[E] = []
        with transaction.atomic(using=alias):
            rows = list(self._claim_qs(alias, conn.features))
            manager = self.model._base_manager.using(alias)
            for row in rows:
                outcome = self._call_sync(handler, row, alias)
                if outcome.ok:
                    published.append(row)
                    continue
                values = self._failure_values(row, outcome.error)
                manager.filter(pk=row.pk).update(**values)
                self._apply_failure(row, values)
            if published:
                stamp = self.clock()
                manager.filter(pk__in=[row.pk for row in published]).update(
                    status=OutboxStatus.PUBLISHED, published_at=stamp
                )
                self._mark_published(published, stamp)
        if rows:
            logger.debug(
                "outbox %s: %d handled, %d published", self.channel, len(rows), len(published)
            )
        return len(rows)

    def run(
        self,
        handler: Callable[[E], Any],
        *,
        stop: _StopFlag | None = None,
        install_signal_handlers: bool = True,
    ) -> None:
        """Drain batches until stopped: blocking. Returns after the current batch on a stop.

        Stops on SIGTERM/SIGINT (handlers installed while it runs, in the main thread; a second
        signal interrupts the batch with ``KeyboardInterrupt`` — its rows are redelivered) or
        when ``stop`` (a ``threading.Event``) is set. Database errors are logged and retried
        after ``poll_interval_s``; the relay keeps going through a database restart.
        """
        if inspect.iscoroutinefunction(handler):
            raise TypeError("run() got an async handler: use await relay.arun(handler).")
        if not transaction.get_autocommit(self.using):
            raise TransactionManagementError(
                "OutboxRelay.run() cannot run inside an atomic block: each batch is its own "
                "transaction."
            )
        wake = threading.Event()
        stopping = threading.Event()
        listener = _ThreadListener(self, wake) if self._wants_listen(sync=True) else None
        with contextlib.ExitStack() as stack:
            if install_signal_handlers:
                stack.enter_context(_sync_signal_handlers(stopping, wake))
            if listener is not None:
                stack.callback(listener.stop)
                listener.start()

            def stopped() -> bool:
                return stopping.is_set() or (stop is not None and stop.is_set())

            logger.info(
                "outbox relay %s started (batch_size=%d, poll_interval_s=%s, listen=%s)",
                self.channel,
                self.batch_size,
                self.poll_interval_s,
                listener is not None,
            )
            while not stopped():
                wake.clear()
                try:
                    handled = self.drain_once(handler)
                except DatabaseError:
                    logger.exception("outbox relay %s: batch failed; retrying", self.channel)
                    with contextlib.suppress(Exception):
                        connections[self.using].close()
                    handled = 0
                if handled >= self.batch_size or stopped():
                    continue
                deadline = time.monotonic() + self.poll_interval_s
                while not stopped():
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    slice_s = remaining if stop is None else min(remaining, _STOP_CHECK_S)
                    if wake.wait(slice_s):
                        break
            logger.info("outbox relay %s stopped", self.channel)

    # Async -------------------------------------------------------------------------------

    async def _call_async(self, handler: Callable[[E], Any], row: E, alias: str) -> _Outcome:
        try:
            async with transaction.aatomic(using=alias):
                result = handler(row)
                if inspect.isawaitable(result):
                    result = await result
                if not result:
                    transaction.set_rollback(True, using=alias)
        except Exception as exc:
            return _Outcome(False, _error_text(exc))
        if not result:
            return _Outcome(False, f"handler returned {result!r}")
        return _Outcome(True)

    async def adrain_once(self, handler: Callable[[E], Awaitable[Any] | Any]) -> int:
        """Async :meth:`drain_once`; ``handler`` may be a coroutine function or a plain one."""
        alias = self.using
        conn = async_connections[alias]
        published: list[E] = []
        async with transaction.aatomic(using=alias):
            rows = [row async for row in self._claim_qs(alias, conn.features)]
            manager = self.model._base_manager.using(alias)
            for row in rows:
                outcome = await self._call_async(handler, row, alias)
                if outcome.ok:
                    published.append(row)
                    continue
                values = self._failure_values(row, outcome.error)
                await manager.filter(pk=row.pk).aupdate(**values)
                self._apply_failure(row, values)
            if published:
                stamp = self.clock()
                await manager.filter(pk__in=[row.pk for row in published]).aupdate(
                    status=OutboxStatus.PUBLISHED, published_at=stamp
                )
                self._mark_published(published, stamp)
        if rows:
            logger.debug(
                "outbox %s: %d handled, %d published", self.channel, len(rows), len(published)
            )
        return len(rows)

    async def arun(
        self,
        handler: Callable[[E], Awaitable[Any] | Any],
        *,
        stop: _StopFlag | None = None,
        install_signal_handlers: bool = True,
    ) -> None:
        """Async :meth:`run`: ``stop`` may be an ``asyncio.Event`` or a ``threading.Event``.

        SIGTERM/SIGINT stop it cleanly when it runs in the main thread's event loop; cancelling
        the task stops it at once (the open batch rolls back: its rows are redelivered).
        """
        if not transaction.get_autocommit(self.using):
            raise TransactionManagementError(
                "OutboxRelay.arun() cannot run inside an atomic block: each batch is its own "
                "transaction."
            )
        loop = asyncio.get_running_loop()
        wake = asyncio.Event()
        stopping = asyncio.Event()
        tasks: list[asyncio.Task[Any]] = []
        with contextlib.ExitStack() as stack:
            if install_signal_handlers:
                stack.enter_context(_async_signal_handlers(loop, stopping, wake))
            if isinstance(stop, asyncio.Event):

                async def watch_stop(event: asyncio.Event) -> None:
                    await event.wait()
                    wake.set()

                tasks.append(asyncio.ensure_future(watch_stop(stop)))
            listening = False
            if self._wants_listen(sync=False):
                ready = asyncio.Event()
                tasks.append(asyncio.ensure_future(self._alisten(wake, ready)))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(ready.wait(), timeout=_LISTEN_READY_TIMEOUT_S)
                listening = ready.is_set()
            try:

                def stopped() -> bool:
                    return stopping.is_set() or (stop is not None and stop.is_set())

                logger.info(
                    "outbox relay %s started (batch_size=%d, poll_interval_s=%s, listen=%s)",
                    self.channel,
                    self.batch_size,
                    self.poll_interval_s,
                    listening,
                )
                while not stopped():
                    wake.clear()
                    try:
                        handled = await self.adrain_once(handler)
                    except DatabaseError:
                        logger.exception("outbox relay %s: batch failed; retrying", self.channel)
                        handled = 0
                    if handled >= self.batch_size or stopped():
                        continue
                    deadline = loop.time() + self.poll_interval_s
                    poll_stop = stop is not None and not isinstance(stop, asyncio.Event)
                    while not stopped():
                        remaining = deadline - loop.time()
                        if remaining <= 0:
                            break
                        slice_s = min(remaining, _STOP_CHECK_S) if poll_stop else remaining
                        try:
                            await asyncio.wait_for(wake.wait(), timeout=slice_s)
                            break
                        except TimeoutError:
                            continue
                logger.info("outbox relay %s stopped", self.channel)
            finally:
                for task in tasks:
                    task.cancel()
                for task in tasks:
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await task

    # LISTEN ------------------------------------------------------------------------------

    def _wants_listen(self, *, sync: bool) -> bool:
        if self.listen is False:
            return False
        ln = _listen_notify()
        vendor = (connections if sync else async_connections)[self.using].vendor
        if ln is None or vendor != "postgresql":
            if self.listen:
                raise dorm.ImproperlyConfigured(
                    "OutboxRelay(listen=True) needs PostgreSQL and dorm-postgres's "
                    "dorm.contrib.listen_notify (pip install dorm-postgres); "
                    f"alias {self.using!r} is {vendor!r}"
                    + ("" if ln is not None else " and listen_notify is not installed")
                    + "."
                )
            return False
        return True

    async def _alisten(self, wake: asyncio.Event | threading.Event, ready: Any) -> None:
        """LISTEN on the model's channel until cancelled; every notification sets ``wake``.

        On a lost connection it reconnects (with a growing pause) and wakes the relay once,
        since notifications may have been missed meanwhile; polling covers the gap.
        """
        ln = _listen_notify()
        assert ln is not None
        pause = 0.1
        while True:
            try:
                async with ln.listen(self.channel, using=self.using) as notifications:
                    pause = 0.1
                    ready.set()
                    wake.set()
                    async for _note in notifications:
                        wake.set()
                logger.warning("outbox relay %s: LISTEN stream ended; reconnecting", self.channel)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.warning(
                    "outbox relay %s: LISTEN failed; polling every %ss until it reconnects "
                    "(next try in %ss)",
                    self.channel,
                    self.poll_interval_s,
                    pause,
                    exc_info=True,
                )
            await asyncio.sleep(pause)
            pause = min(pause * 2, 30.0)


_LISTEN_READY_TIMEOUT_S = 5.0


class _ThreadListener:
    """For the blocking :meth:`OutboxRelay.run`: LISTEN in a thread with its own event loop."""

    def __init__(self, relay: OutboxRelay[Any], wake: threading.Event) -> None:
        self.relay = relay
        self.wake = wake
        self.ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[Any] | None = None
        self._thread = threading.Thread(
            target=self._main, name=f"outbox-listen-{relay.channel}", daemon=True
        )

    def start(self) -> None:
        self._thread.start()
        if not self.ready.wait(_LISTEN_READY_TIMEOUT_S):
            logger.warning(
                "outbox relay %s: LISTEN not ready after %ss; polling meanwhile",
                self.relay.channel,
                _LISTEN_READY_TIMEOUT_S,
            )

    def _main(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            self._task = loop.create_task(self.relay._alisten(self.wake, self.ready))
            with contextlib.suppress(asyncio.CancelledError):
                loop.run_until_complete(self._task)
        finally:
            with contextlib.suppress(Exception):
                loop.run_until_complete(async_connections.aclose_all())
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    def stop(self) -> None:
        loop, task = self._loop, self._task
        if loop is not None and task is not None:
            with contextlib.suppress(RuntimeError):  # loop already closed
                loop.call_soon_threadsafe(task.cancel)
        self._thread.join(timeout=10)


# Signals -------------------------------------------------------------------------------------

_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


@contextlib.contextmanager
def _sync_signal_handlers(stopping: threading.Event, wake: threading.Event) -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in _STOP_SIGNALS}

    def handle(signum: int, frame: FrameType | None) -> None:
        if stopping.is_set():
            raise KeyboardInterrupt(f"second {signal.Signals(signum).name}: batch interrupted")
        logger.info(
            "outbox relay: %s received, stopping after the current batch",
            signal.Signals(signum).name,
        )
        stopping.set()
        wake.set()

    for sig in _STOP_SIGNALS:
        signal.signal(sig, handle)
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old if old is not None else signal.SIG_DFL)


@contextlib.contextmanager
def _async_signal_handlers(
    loop: asyncio.AbstractEventLoop, stopping: asyncio.Event, wake: asyncio.Event
) -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in _STOP_SIGNALS}
    installed: list[signal.Signals] = []

    def handle(sig: signal.Signals) -> None:
        logger.info("outbox relay: %s received, stopping after the current batch", sig.name)
        stopping.set()
        wake.set()

    for sig in _STOP_SIGNALS:
        try:
            loop.add_signal_handler(sig, handle, sig)
        except (NotImplementedError, RuntimeError, ValueError):  # Windows, non-main thread
            continue
        installed.append(sig)
    try:
        yield
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
            old = previous[sig]
            signal.signal(sig, old if old is not None else signal.SIG_DFL)


# Housekeeping --------------------------------------------------------------------------------


def _purge_cutoff(older_than: datetime.timedelta | float, clock: Callable[[], Any]) -> Any:
    delta = (
        older_than
        if isinstance(older_than, datetime.timedelta)
        else datetime.timedelta(seconds=older_than)
    )
    if delta < datetime.timedelta(0):
        raise ValueError("purge_published(older_than=...) must not be negative.")
    return clock() - delta


def _purge_qs(
    model: type[OutboxEvent], cutoff: Any, using: str, include_dead: bool, batch_size: int
) -> Any:
    base = model._base_manager.using(using)
    published = dorm.Q(status=OutboxStatus.PUBLISHED, published_at__lte=cutoff)
    if include_dead:
        published |= dorm.Q(status=OutboxStatus.DEAD, created_at__lte=cutoff)
    return base.filter(published).order_by().values_list("pk", flat=True)[:batch_size]


def purge_published(
    model: type[OutboxEvent],
    *,
    older_than: datetime.timedelta | float = datetime.timedelta(days=7),
    include_dead: bool = False,
    batch_size: int = 1000,
    using: str | None = None,
    clock: Callable[[], datetime.datetime] | None = None,
) -> int:
    """Delete published rows whose ``published_at`` is older than ``older_than``; returns the count.

    Deletes in batches of ``batch_size`` rows (one short transaction each), so it can run
    beside live relays. ``include_dead=True`` also deletes dead rows created before the cutoff.
    """
    _check_model(model, "purge_published")
    alias = using or router.db_for_write(model)
    cutoff = _purge_cutoff(older_than, clock or now)
    total = 0
    while True:
        with transaction.atomic(using=alias):
            pks = list(_purge_qs(model, cutoff, alias, include_dead, batch_size))
            if pks:
                model._base_manager.using(alias).filter(pk__in=pks).delete()
        total += len(pks)
        if len(pks) < batch_size:
            return total


async def apurge_published(
    model: type[OutboxEvent],
    *,
    older_than: datetime.timedelta | float = datetime.timedelta(days=7),
    include_dead: bool = False,
    batch_size: int = 1000,
    using: str | None = None,
    clock: Callable[[], datetime.datetime] | None = None,
) -> int:
    """Async :func:`purge_published`."""
    _check_model(model, "apurge_published")
    alias = using or router.db_for_write(model)
    cutoff = _purge_cutoff(older_than, clock or now)
    total = 0
    while True:
        async with transaction.aatomic(using=alias):
            pks = [pk async for pk in _purge_qs(model, cutoff, alias, include_dead, batch_size)]
            if pks:
                await model._base_manager.using(alias).filter(pk__in=pks).adelete()
        total += len(pks)
        if len(pks) < batch_size:
            return total


def _requeue_qs(model: type[OutboxEvent], using: str, filters: dict[str, Any]) -> Any:
    return model._base_manager.using(using).filter(status=OutboxStatus.DEAD, **filters)


def requeue_dead(model: type[OutboxEvent], *, using: str | None = None, **filters: Any) -> int:
    """Make dead rows pending again (``attempts`` reset), e.g. after fixing the consumer.

    ``filters`` narrow the rows (``event_type="order.created"``). Returns the count.
    """
    _check_model(model, "requeue_dead")
    alias = using or router.db_for_write(model)
    return int(
        _requeue_qs(model, alias, filters).update(
            status=OutboxStatus.PENDING, attempts=0, available_at=now()
        )
    )


async def arequeue_dead(
    model: type[OutboxEvent], *, using: str | None = None, **filters: Any
) -> int:
    """Async :func:`requeue_dead`."""
    _check_model(model, "arequeue_dead")
    alias = using or router.db_for_write(model)
    return int(
        await _requeue_qs(model, alias, filters).aupdate(
            status=OutboxStatus.PENDING, attempts=0, available_at=now()
        )
    )
