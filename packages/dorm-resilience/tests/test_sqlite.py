"""The breaker around real database calls on SQLite, by hand and through automatic protection.

A database that cannot be opened (``Entries.broken()``: its folder does not exist) fails every
statement with a genuine ``OperationalError`` while connecting, the way an unreachable server
does; a counting execution hook registered *inside* the breaker shows what reached the backend.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

import dorm
from dorm import transaction
from dorm.contrib import circuit_breaker as cbmod
from dorm.contrib.circuit_breaker import (
    CircuitOpenError,
    CircuitState,
    breaker_for_alias,
    circuit_breaker,
    get_state,
    install,
    is_installed,
    uninstall,
)
from dorm.db import async_connections, connections, hooks, register_execute_wrapper
from dorm.exceptions import ImproperlyConfigured, IntegrityError, OperationalError

CLOSED, OPEN, HALF_OPEN = CircuitState.CLOSED, CircuitState.OPEN, CircuitState.HALF_OPEN


class Author(dorm.Model):
    name = dorm.CharField(max_length=100, unique=True)

    class Meta:
        app_label = "resilience_tests"


class Counter:
    """Sync and async execution hooks counting the statements that reach the backend."""

    def __init__(self) -> None:
        self.sql: list[tuple[str, str]] = []

    def sync(self, execute: Callable[..., Any], sql: str, params: Any, many: bool, ctx: Any) -> Any:
        self.sql.append((ctx.alias, sql))
        return execute(sql, params, many, ctx)

    async def async_(
        self, execute: Callable[..., Any], sql: str, params: Any, many: bool, ctx: Any
    ) -> Any:
        self.sql.append((ctx.alias, sql))
        return await execute(sql, params, many, ctx)

    def on(self, alias: str) -> int:
        return sum(1 for a, _ in self.sql if a == alias)


@pytest.fixture
def counter() -> Any:
    """A counter registered after install(): it runs inside the breaker's hook."""
    counting = Counter()
    yield counting
    registration = getattr(counting, "registration", None)
    if registration is not None:
        registration.remove()


def count_inside(counting: Counter) -> None:
    counting.registration = register_execute_wrapper(  # type: ignore[attr-defined]
        sync=counting.sync, async_=counting.async_
    )


def create_author_table() -> None:
    with connections["default"].schema_editor() as editor:
        editor.create_model(Author)


# By hand: `with cb:` around ORM calls ----------------------------------------------------


def test_the_seed_example(entries: Any) -> None:
    dorm.configure(DATABASES={"default": entries.ok()})
    create_author_table()
    Author.objects.create(name="Ann")

    cb = circuit_breaker("default", failure_threshold=5, open_window_s=30.0)

    def safe_count() -> int | None:
        try:
            with cb:
                return Author.objects.count()
        except CircuitOpenError:
            return None

    assert safe_count() == 1
    # The database goes away: five real failures open the circuit, then calls fail fast.
    dorm.configure(DATABASES={"default": entries.broken()})
    for _ in range(5):
        with pytest.raises(OperationalError, match="unable to open database file"):
            safe_count()
    assert get_state("default")["state"] is OPEN
    assert safe_count() is None


def test_real_failures_open_it_and_nothing_reaches_the_backend(
    entries: Any, clock: Any, counter: Counter
) -> None:
    dorm.configure(DATABASES={"default": entries.ok(), "down": entries.broken()})
    cb = circuit_breaker("down", failure_threshold=5, open_window_s=30.0, clock=clock)
    conn = connections["down"]
    with conn.execute_wrapper(counter.sync):
        for _ in range(5):
            with pytest.raises(OperationalError), cb:
                conn.execute("SELECT 1")
        assert counter.on("down") == 5
        for _ in range(100):
            with pytest.raises(CircuitOpenError), cb:
                conn.execute("SELECT 1")
        assert counter.on("down") == 5  # not one more statement, not one connection attempt


def test_integrity_errors_do_not_count(entries: Any, clock: Any) -> None:
    dorm.configure(DATABASES={"default": entries.ok()})
    create_author_table()
    cb = circuit_breaker("default", failure_threshold=1, clock=clock)
    Author.objects.create(name="Ann")
    for _ in range(3):
        with pytest.raises(IntegrityError), cb:
            Author.objects.create(name="Ann")
    with pytest.raises(Author.DoesNotExist), cb:
        Author.objects.get(name="Bob")
    assert get_state("default")["state"] is CLOSED


async def test_async_with_around_async_orm_calls(entries: Any, clock: Any) -> None:
    dorm.configure(DATABASES={"default": entries.ok()})
    create_author_table()
    cb = circuit_breaker("default", failure_threshold=2, open_window_s=10.0, clock=clock)
    async with cb:
        await Author.objects.acreate(name="Ann")
    dorm.configure(DATABASES={"default": entries.broken()})
    for _ in range(2):
        with pytest.raises(OperationalError):
            async with cb.aprotect():
                await Author.objects.acount()
    with pytest.raises(CircuitOpenError):
        async with cb:
            await Author.objects.acount()
    # The database is back and the window has passed: the probe closes the circuit.
    dorm.configure(DATABASES={"default": entries.ok()})
    clock.advance(10)
    async with cb:
        assert await Author.objects.acount() == 1
    assert cb.state is CLOSED


# Automatic protection: OPTIONS["circuit_breaker"] + install() ----------------------------


def test_sqlite_accepts_the_option(entries: Any) -> None:
    dorm.configure(DATABASES={"default": entries.ok(circuit_breaker={"failure_threshold": 2})})
    assert connections["default"].fetchone("SELECT 1") == (1,)  # not "Unknown SQLite OPTIONS"


def test_every_statement_of_the_alias_is_protected(
    entries: Any, clock: Any, counter: Counter
) -> None:
    circuit_breaker("down", failure_threshold=3, open_window_s=10.0, clock=clock)
    options = {"circuit_breaker": {"failure_threshold": 3, "open_window_s": 10.0}}
    dorm.configure(DATABASES={"default": entries.ok(), "down": entries.broken(**options)})
    install()
    count_inside(counter)
    conn = connections["down"]
    for _ in range(3):
        with pytest.raises(OperationalError, match="unable to open database file"):
            conn.execute("SELECT 1")
    assert get_state("down")["state"] is OPEN
    with pytest.raises(CircuitOpenError) as info:
        Author.objects.using("down").count()
    assert info.value.name == "down" and info.value.retry_after == 10.0
    with pytest.raises(CircuitOpenError):
        conn.fetchall("SELECT 1")
    assert counter.on("down") == 3
    # Other aliases are not protected (no option) and unaffected.
    assert connections["default"].fetchone("SELECT 1") == (1,)
    assert breaker_for_alias("default") is None

    # The database comes back: after the window, the first statement probes and closes it.
    ok = entries.ok("down.sqlite3", **options)
    dorm.configure(DATABASES={"default": entries.ok(), "down": ok})
    clock.advance(9.9)
    with pytest.raises(CircuitOpenError):
        connections["down"].execute("SELECT 1")
    clock.advance(0.1)
    assert connections["down"].fetchone("SELECT 42") == (42,)
    assert get_state("down")["state"] is CLOSED
    assert counter.on("down") == 4


async def test_async_statements_are_protected(entries: Any, clock: Any, counter: Counter) -> None:
    circuit_breaker("down", failure_threshold=2, open_window_s=5.0, clock=clock)
    options = {"circuit_breaker": {"failure_threshold": 2, "open_window_s": 5}}
    dorm.configure(DATABASES={"default": entries.ok(), "down": entries.broken(**options)})
    install()
    count_inside(counter)
    for _ in range(2):
        with pytest.raises(OperationalError):
            await async_connections["down"].fetchone("SELECT 1")
    results = await asyncio.gather(
        *(async_connections["down"].fetchone("SELECT 1") for _ in range(20)),
        return_exceptions=True,
    )
    assert all(isinstance(r, CircuitOpenError) for r in results)
    assert counter.on("down") == 2

    await async_connections["down"].close()
    dorm.configure(DATABASES={"default": entries.ok(), "down": entries.ok("d.sqlite3", **options)})
    clock.advance(5)
    assert await async_connections["down"].fetchone("SELECT 7") == (7,)
    assert get_state("down")["state"] is CLOSED


async def test_aatomic_is_refused_before_connecting(
    entries: Any, clock: Any, counter: Counter
) -> None:
    circuit_breaker("down", failure_threshold=2, open_window_s=5.0, clock=clock)
    options = {"circuit_breaker": {"failure_threshold": 2, "open_window_s": 5}}
    dorm.configure(DATABASES={"default": entries.ok(), "down": entries.broken(**options)})
    install()
    count_inside(counter)
    for _ in range(2):
        with pytest.raises(OperationalError):
            async with transaction.aatomic(using="down"):
                pass
    attempts = counter.on("down")
    opened = 0
    pool = async_connections["down"].pool
    real_acquire = pool.acquire

    async def acquire() -> Any:
        nonlocal opened
        opened += 1
        return await real_acquire()

    pool.acquire = acquire
    for _ in range(5):
        with pytest.raises(CircuitOpenError):
            async with transaction.aatomic(using="down"):
                pass
    assert opened == 0  # refused before any connection was checked out or opened
    assert counter.on("down") == attempts
    assert async_connections["down"].current_binding() is None


def test_atomic_blocks_fail_fast_and_still_roll_back(entries: Any, clock: Any) -> None:
    cb = circuit_breaker("default", failure_threshold=1, open_window_s=5.0, clock=clock)
    dorm.configure(DATABASES={"default": entries.ok(circuit_breaker=True)})
    install()
    create_author_table()
    conn = connections["default"]
    with pytest.raises(CircuitOpenError), transaction.atomic():
        Author.objects.create(name="Ann")
        # Another caller's failure opens the circuit while this transaction is open ...
        trip_now(cb)
        Author.objects.create(name="Bob")  # ... so this statement is refused,
    # ... and the ROLLBACK still went through: no transaction is left open, nothing was saved.
    assert conn.get_autocommit() and not conn.connection.in_transaction
    clock.advance(5)
    assert Author.objects.count() == 0  # the probe
    assert cb.state is CLOSED


def trip_now(cb: Any) -> None:
    with pytest.raises(OperationalError), cb:
        raise OperationalError("down")


def test_with_cb_around_protected_statements_is_one_call(entries: Any, clock: Any) -> None:
    """The seed's `with cb:` and the automatic protection share the alias's breaker."""
    cb = circuit_breaker("default", failure_threshold=1, open_window_s=5.0, clock=clock)
    dorm.configure(DATABASES={"default": entries.ok(circuit_breaker=True)})
    install()
    assert breaker_for_alias("default") is cb
    create_author_table()
    trip_now(cb)
    clock.advance(5)
    with cb:  # the probe: its statements are not refused as "other callers"
        Author.objects.create(name="Ann")
        assert Author.objects.count() == 1
        assert cb.state is HALF_OPEN
    assert cb.state is CLOSED


# install() and the settings ------------------------------------------------------------------


def test_install_is_idempotent_and_removable(entries: Any) -> None:
    dorm.configure(DATABASES={"default": entries.ok()})
    before = (hooks.has_sync(), hooks.has_async())
    with install():
        install()
        assert is_installed()
        assert len(hooks.sync_wrappers("default")) == before[0] + 1
    assert not is_installed()
    assert (hooks.has_sync(), hooks.has_async()) == before
    uninstall()  # harmless


def test_option_forms(entries: Any) -> None:
    dorm.configure(
        DATABASES={
            "default": entries.ok(),
            "a": entries.ok("a.sqlite3", circuit_breaker=True),
            "b": entries.ok(
                "b.sqlite3",
                circuit_breaker={
                    "name": "primary",
                    "failure_threshold": 2,
                    "open_window_s": 1.5,
                    "failure_exceptions": ["dorm.exceptions.OperationalError", TimeoutError],
                    "ignored_exceptions": "dorm.exceptions:PoolTimeout",
                },
            ),
            "c": entries.ok("c.sqlite3", circuit_breaker=False),
        }
    )
    install()
    a, b = breaker_for_alias("a"), breaker_for_alias("b")
    assert a is circuit_breaker("a") and a.failure_threshold == 5 and a.open_window_s == 30.0
    assert b is circuit_breaker("primary")
    assert (b.failure_threshold, b.open_window_s) == (2, 1.5)
    assert b.failure_exceptions == (OperationalError, TimeoutError)
    assert b.ignored_exceptions == (dorm.exceptions.PoolTimeout,)
    assert breaker_for_alias("c") is None and breaker_for_alias("default") is None


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (
            {"failure_treshold": 3},
            "DATABASES['default']['OPTIONS']['circuit_breaker'] has an unknown key "
            "'failure_treshold'. Did you mean 'failure_threshold'?",
        ),
        ("yes", "must be a dict such as"),
        ({"failure_threshold": 0}, "failure_threshold must be >= 1"),
        ({"failure_exceptions": ["no.such.Error"]}, "cannot import 'no.such.Error'"),
        ({"failure_exceptions": [42]}, "must list exception classes"),
    ],
)
def test_bad_options_fail_at_install(entries: Any, option: Any, message: str) -> None:
    dorm.configure(DATABASES={"default": entries.ok(circuit_breaker=option)})
    with pytest.raises(ImproperlyConfigured) as info:
        install()
    assert message in str(info.value)
    assert not is_installed()


def test_options_that_contradict_the_code_fail_loudly(entries: Any) -> None:
    circuit_breaker("default", failure_threshold=5)
    dorm.configure(DATABASES={"default": entries.ok(circuit_breaker={"failure_threshold": 3})})
    with pytest.raises(ImproperlyConfigured, match=r"failure_threshold=3 \(it has 5\)"):
        install()


def test_bad_options_set_after_install_fail_on_the_first_statement(entries: Any) -> None:
    dorm.configure(DATABASES={"default": entries.ok()})
    install()
    dorm.configure(DATABASES={"default": entries.ok(circuit_breaker={"window": 1})})
    with pytest.raises(ImproperlyConfigured, match="unknown key 'window'"):
        connections["default"].execute("SELECT 1")


def test_reconfiguring_picks_up_new_options(entries: Any) -> None:
    dorm.configure(DATABASES={"default": entries.ok()})
    install()
    assert breaker_for_alias("default") is None
    dorm.configure(DATABASES={"default": entries.ok(circuit_breaker={"failure_threshold": 2})})
    assert breaker_for_alias("default") is circuit_breaker("default")
    assert cbmod.breaker_for_alias("default").failure_threshold == 2  # type: ignore[union-attr]
