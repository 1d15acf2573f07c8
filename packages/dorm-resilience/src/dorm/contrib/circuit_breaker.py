"""Circuit breaker: fail fast while a database is unavailable.

::

    from dorm.contrib.circuit_breaker import circuit_breaker, CircuitOpenError

    cb = circuit_breaker("default", failure_threshold=5, open_window_s=30.0)

    def safe_count() -> int | None:
        try:
            with cb:
                return Author.objects.count()
        except CircuitOpenError:
            return None

States: ``CLOSED`` (calls pass) -> ``OPEN`` after ``failure_threshold`` consecutive failures
(calls fail at once with :class:`CircuitOpenError`, nothing reaches the database) ->
``HALF_OPEN`` once ``open_window_s`` has passed (exactly one probe call is let through) ->
``CLOSED`` when the probe succeeds, ``OPEN`` again (with a fresh window) when it fails.

Only availability failures count (``failure_exceptions``: ``OperationalError`` — which
includes ``PoolTimeout`` —, ``InterfaceError``, ``TimeoutError``, ``ConnectionError``), minus
``ignored_exceptions`` (``SerializationFailure``, ``DeadlockDetected``: the database answered).
Any other exception (``IntegrityError``, ``DoesNotExist``, ``ValidationError``, your own)
passes through and is *neutral*: it neither counts as a failure nor resets the count.

Automatic protection of every statement of an alias: put
``"circuit_breaker": {...}`` in ``DATABASES[alias]["OPTIONS"]`` and call :func:`install`
once at start-up. See ``docs/circuit-breaker.md``.

All timing uses one monotonic clock per breaker (``clock=``, ``time.monotonic`` by default),
so tests drive the state machine with a fake clock instead of sleeping.
"""

from __future__ import annotations

import contextvars
import difflib
import functools
import importlib
import inspect
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final, ParamSpec, TypeVar

from dorm.conf import settings
from dorm.db.hooks import ExecuteContext, register_execute_wrapper
from dorm.exceptions import (
    DeadlockDetected,
    ImproperlyConfigured,
    InterfaceError,
    OperationalError,
    SerializationFailure,
)

__all__ = [
    "DEFAULT_FAILURE_EXCEPTIONS",
    "DEFAULT_IGNORED_EXCEPTIONS",
    "OPTIONS_KEY",
    "CircuitBreaker",
    "CircuitOpenError",
    "CircuitState",
    "Installation",
    "StateChange",
    "add_state_listener",
    "breaker_for_alias",
    "circuit_breaker",
    "get_state",
    "install",
    "is_installed",
    "remove_state_listener",
    "reset_circuit_breakers",
    "uninstall",
]

logger = logging.getLogger("dorm.contrib.circuit_breaker")

P = ParamSpec("P")
R = TypeVar("R")

Clock = Callable[[], float]
ExceptionTypes = tuple[type[BaseException], ...]

#: Exceptions that mean "the database is not available" and count as failures.
#: ``PoolTimeout`` (no pooled connection free in time) derives from ``OperationalError``.
DEFAULT_FAILURE_EXCEPTIONS: Final[ExceptionTypes] = (
    OperationalError,
    InterfaceError,
    TimeoutError,
    ConnectionError,
)
#: Subclasses of the failure exceptions that prove the database answered: never counted.
DEFAULT_IGNORED_EXCEPTIONS: Final[ExceptionTypes] = (SerializationFailure, DeadlockDetected)

#: The key of ``DATABASES[alias]["OPTIONS"]`` that asks for automatic protection.
OPTIONS_KEY: Final = "circuit_breaker"


class CircuitState(StrEnum):
    """The state of a breaker; compares equal to its lower-case string value."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitOpenError(OperationalError):
    """A call was refused without reaching the database because the circuit is open.

    ``name``, ``state`` (``OPEN``, or ``HALF_OPEN`` while the single probe runs),
    ``retry_after`` (seconds until the next probe is allowed; ``0.0`` while a probe runs: retry
    once it finishes), ``opened_at`` (the breaker's clock when the circuit last opened) and
    ``failures`` (consecutive failures counted).

    It is an ``OperationalError`` ("the database could not carry out the operation"), so code
    that already handles an unavailable database handles it too. No breaker counts it as a
    failure: it carries no news about the database.
    """

    def __init__(
        self,
        name: str,
        state: CircuitState,
        retry_after: float,
        opened_at: float | None = None,
        failures: int = 0,
    ) -> None:
        self.name = name
        self.state = CircuitState(state)
        self.retry_after = retry_after
        self.opened_at = opened_at
        self.failures = failures
        if self.state is CircuitState.HALF_OPEN:
            message = (
                f"Circuit breaker {name!r} is HALF_OPEN: a single probe call is testing the "
                "database and every other call fails fast until it finishes; retry when it "
                f"completes (retry_after={retry_after:.3f})."
            )
        else:
            message = (
                f"Circuit breaker {name!r} is {self.state.name} after {failures} consecutive "
                "failure(s): calls fail fast without reaching the database. Next probe allowed "
                f"in {retry_after:.3f}s (retry_after={retry_after:.3f})."
            )
        super().__init__(message)

    def __reduce__(self) -> Any:
        args = (self.name, self.state, self.retry_after, self.opened_at, self.failures)
        return (type(self), args)


@dataclass(frozen=True, slots=True)
class StateChange:
    """What a state listener is told: breaker ``name``, ``old`` and ``new`` state.

    ``failures`` is the consecutive-failure count after the change, ``at`` the breaker's clock
    at the change and ``retry_after`` the seconds until a probe is allowed (``None`` when
    closed).
    """

    name: str
    old: CircuitState
    new: CircuitState
    failures: int
    at: float
    retry_after: float | None


Listener = Callable[[StateChange], object]

_SUCCESS, _FAILURE, _NEUTRAL = "success", "failure", "neutral"


class _Admission:
    """One call let through a breaker (or a call nested in one already let through)."""

    __slots__ = ("active", "breaker", "generation", "nested", "probe")

    def __init__(
        self, breaker: CircuitBreaker, generation: int, *, probe: bool = False, nested: bool = False
    ) -> None:
        self.breaker = breaker
        self.generation = generation
        self.probe = probe
        self.nested = nested
        self.active = True


# The calls this thread/task is inside, innermost last. A call nested in an active call of
# the same breaker (e.g. a statement under automatic protection inside ``with cb:``) passes
# through: the outer call is the one admitted and judged.
_active: contextvars.ContextVar[tuple[_Admission, ...]] = contextvars.ContextVar(
    "dorm_circuit_breaker_active", default=()
)

_global_listeners: tuple[Listener, ...] = ()
_listeners_lock = threading.Lock()


def _exception_types(value: Any, what: str) -> ExceptionTypes:
    items = (value,) if isinstance(value, type) else tuple(value)
    for item in items:
        if not (isinstance(item, type) and issubclass(item, BaseException)):
            raise TypeError(f"{what} must be exception classes, got {item!r}.")
    return items


class CircuitBreaker:
    """A named circuit breaker; get the process-wide one with :func:`circuit_breaker`.

    Use it as ``with cb:``, ``async with cb:`` / ``async with cb.aprotect():``, or as a
    decorator of sync and async functions. Thread-safe and task-safe: state changes happen
    under a lock that is never held across I/O or ``await``.
    """

    def __init__(
        self,
        name: str,
        *,
        failure_threshold: int = 5,
        open_window_s: float = 30.0,
        failure_exceptions: type[BaseException] | Iterable[type[BaseException]] = (
            DEFAULT_FAILURE_EXCEPTIONS
        ),
        ignored_exceptions: type[BaseException] | Iterable[type[BaseException]] = (
            DEFAULT_IGNORED_EXCEPTIONS
        ),
        clock: Clock = time.monotonic,
    ) -> None:
        if not isinstance(name, str) or not name:
            raise TypeError(f"A circuit breaker's name must be a non-empty str, got {name!r}.")
        if isinstance(failure_threshold, bool) or not isinstance(failure_threshold, int):
            raise TypeError(f"failure_threshold must be an int >= 1, got {failure_threshold!r}.")
        if failure_threshold < 1:
            raise ValueError(f"failure_threshold must be >= 1, got {failure_threshold}.")
        if isinstance(open_window_s, bool) or not isinstance(open_window_s, (int, float)):
            raise TypeError(f"open_window_s must be a number of seconds, got {open_window_s!r}.")
        if not open_window_s > 0:
            raise ValueError(f"open_window_s must be > 0 seconds, got {open_window_s}.")
        if not callable(clock):
            raise TypeError(f"clock must be a callable returning seconds, got {clock!r}.")
        self.name = name
        self.failure_threshold = failure_threshold
        self.open_window_s = float(open_window_s)
        self.failure_exceptions = _exception_types(failure_exceptions, "failure_exceptions")
        self.ignored_exceptions = _exception_types(ignored_exceptions, "ignored_exceptions")
        self.clock = clock
        self._lock = threading.Lock()
        self._state = CircuitState.CLOSED
        self._failures = 0
        self._opened_at: float | None = None
        self._probing = False
        # Bumped on every state change: results of calls admitted under an older state are
        # stale and ignored (20 calls failing together open the circuit once, not 4 times).
        self._generation = 0
        self._listeners: tuple[Listener, ...] = ()

    def __repr__(self) -> str:
        return (
            f"<CircuitBreaker {self.name!r} state={self._state.name} failures={self._failures} "
            f"failure_threshold={self.failure_threshold} open_window_s={self.open_window_s:g}>"
        )

    # Inspection ---------------------------------------------------------------------------

    @property
    def state(self) -> CircuitState:
        """The current state (an ``OPEN`` circuit whose window has passed is ``HALF_OPEN``)."""
        return CircuitState(self.get_state()["state"])

    @property
    def failures(self) -> int:
        """Consecutive failures counted (kept while open; reset when the circuit closes)."""
        return int(self.get_state()["failures"])

    def get_state(self) -> dict[str, Any]:
        """``{"state", "failures", "opened_at", "retry_after"}``; see :func:`get_state`."""
        with self._lock:
            now = self.clock()
            change = self._refresh(now)
            snapshot = {
                "state": self._state,
                "failures": self._failures,
                "opened_at": self._opened_at,
                "retry_after": self._retry_after(now),
            }
        self._notify(change)
        return snapshot

    # Control ------------------------------------------------------------------------------

    def reset(self) -> None:
        """Close the circuit and forget the failures (calls in flight are no longer judged)."""
        with self._lock:
            change = None
            if self._state is not CircuitState.CLOSED:
                change = self._set_state(CircuitState.CLOSED, self.clock(), failures=0)
            else:
                self._generation += 1
            self._failures = 0
            self._opened_at = None
            self._probing = False
        self._notify(change)

    def add_listener(self, listener: Listener) -> Listener:
        """Call ``listener(StateChange)`` after every state change of this breaker.

        Listeners run in the thread/task that caused the change, outside the breaker's lock;
        an exception in one is logged, never raised into the database call. Returns
        ``listener`` so it can be used as a decorator.
        """
        with self._lock:
            self._listeners = (*self._listeners, listener)
        return listener

    def remove_listener(self, listener: Listener) -> None:
        with self._lock:
            self._listeners = tuple(fn for fn in self._listeners if fn != listener)

    # Use ----------------------------------------------------------------------------------

    def __enter__(self) -> CircuitBreaker:
        admission = self._admit()
        _active.set((*_active.get(), admission))
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        self._finish(self._pop(), exc)

    async def __aenter__(self) -> CircuitBreaker:
        return self.__enter__()

    async def __aexit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        self.__exit__(exc_type, exc, tb)

    def protect(self) -> CircuitBreaker:
        """``with cb.protect():`` — the same as ``with cb:``."""
        return self

    def aprotect(self) -> CircuitBreaker:
        """``async with cb.aprotect():`` — the same as ``async with cb:``."""
        return self

    def __call__(self, func: Callable[P, R]) -> Callable[P, R]:
        """Decorate a sync or an async function: each call goes through the breaker."""
        if inspect.isgeneratorfunction(func) or inspect.isasyncgenfunction(func):
            raise TypeError(
                f"{self!r} cannot decorate the generator function {func.__qualname__}: its "
                "body runs after the call returns. Use `with cb:` inside it instead."
            )
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_protected(*args: P.args, **kwargs: P.kwargs) -> Any:
                async with self:
                    return await func(*args, **kwargs)

            return async_protected  # type: ignore[return-value]

        @functools.wraps(func)
        def protected(*args: P.args, **kwargs: P.kwargs) -> R:
            with self:
                return func(*args, **kwargs)

        return protected

    # The state machine (every method below that touches state holds self._lock) -----------

    def _admit(self) -> _Admission:
        for admission in _active.get():
            if admission.breaker is self and admission.active:
                return _Admission(self, admission.generation, nested=True)
        error = None
        with self._lock:
            now = self.clock()
            change = self._refresh(now)
            if self._state is CircuitState.CLOSED:
                admission = _Admission(self, self._generation)
            elif self._state is CircuitState.HALF_OPEN and not self._probing:
                self._probing = True
                admission = _Admission(self, self._generation, probe=True)
            else:
                error = CircuitOpenError(
                    self.name,
                    self._state,
                    self._retry_after(now) or 0.0,
                    self._opened_at,
                    self._failures,
                )
        self._notify(change)
        if error is not None:
            raise error
        return admission

    def _pop(self) -> _Admission:
        stack = _active.get()
        for i in range(len(stack) - 1, -1, -1):
            if stack[i].breaker is self:
                _active.set(stack[:i] + stack[i + 1 :])
                return stack[i]
        raise RuntimeError(f"{self!r} was exited without being entered in this thread/task.")

    def _classify(self, exc: BaseException | None) -> str:
        if exc is None:
            return _SUCCESS
        if isinstance(exc, CircuitOpenError) or not isinstance(exc, Exception):
            # Another breaker's refusal, cancellation, KeyboardInterrupt: no news.
            return _NEUTRAL
        if isinstance(exc, self.ignored_exceptions):
            return _NEUTRAL
        if isinstance(exc, self.failure_exceptions):
            return _FAILURE
        return _NEUTRAL

    def _finish(self, admission: _Admission, exc: BaseException | None) -> None:
        if admission.nested:
            return
        admission.active = False
        outcome = self._classify(exc)
        change = None
        with self._lock:
            if admission.generation != self._generation:
                return  # admitted under an earlier state: stale
            now = self.clock()
            if admission.probe:
                self._probing = False
                if outcome == _SUCCESS:
                    self._opened_at = None
                    change = self._set_state(CircuitState.CLOSED, now, failures=0)
                elif outcome == _FAILURE:
                    self._opened_at = now
                    change = self._set_state(CircuitState.OPEN, now, failures=self._failures + 1)
                # neutral: still HALF_OPEN, the next call probes
            elif outcome == _SUCCESS:
                self._failures = 0
            elif outcome == _FAILURE:
                self._failures += 1
                if self._failures >= self.failure_threshold:
                    self._opened_at = now
                    change = self._set_state(CircuitState.OPEN, now, failures=self._failures)
        self._notify(change)

    def _refresh(self, now: float) -> StateChange | None:
        if (
            self._state is CircuitState.OPEN
            and self._opened_at is not None
            and now >= self._opened_at + self.open_window_s
        ):
            self._probing = False
            return self._set_state(CircuitState.HALF_OPEN, now, failures=self._failures)
        return None

    def _retry_after(self, now: float) -> float | None:
        if self._state is CircuitState.CLOSED:
            return None
        if self._state is CircuitState.HALF_OPEN or self._opened_at is None:
            return 0.0
        return max(0.0, self._opened_at + self.open_window_s - now)

    def _set_state(self, new: CircuitState, now: float, *, failures: int) -> StateChange:
        old, self._state = self._state, new
        self._failures = failures
        self._generation += 1
        return StateChange(self.name, old, new, failures, now, self._retry_after(now))

    def _notify(self, change: StateChange | None) -> None:
        if change is None:
            return
        if change.new is CircuitState.OPEN:
            logger.warning(
                "circuit breaker %r opened after %d consecutive failure(s); next probe in %.3gs",
                change.name,
                change.failures,
                change.retry_after,
            )
        else:
            logger.info(
                "circuit breaker %r: %s -> %s", change.name, change.old.name, change.new.name
            )
        for listener in (*self._listeners, *_global_listeners):
            try:
                listener(change)
            except Exception:
                logger.exception("circuit breaker state listener %r failed", listener)


# The process-wide breakers ---------------------------------------------------------------

_UNSET: Any = object()
_registry: dict[str, CircuitBreaker] = {}
_registry_lock = threading.Lock()


def circuit_breaker(
    name: str,
    *,
    failure_threshold: int = _UNSET,
    open_window_s: float = _UNSET,
    failure_exceptions: type[BaseException] | Iterable[type[BaseException]] = _UNSET,
    ignored_exceptions: type[BaseException] | Iterable[type[BaseException]] = _UNSET,
    clock: Clock = _UNSET,
) -> CircuitBreaker:
    """The process-wide breaker called ``name``, created on the first call.

    Every call with the same name returns the same object. Parameters left out mean "whatever
    it already has" (or the default, on creation); a parameter given with a value different
    from the existing breaker's raises ``ValueError`` instead of being ignored.

    ``failure_threshold`` consecutive failures open the circuit; after ``open_window_s`` seconds
    one probe is let through. ``failure_exceptions`` are the exceptions counted as failures
    (default :data:`DEFAULT_FAILURE_EXCEPTIONS`) unless they are ``ignored_exceptions``
    (default :data:`DEFAULT_IGNORED_EXCEPTIONS`). ``clock`` returns monotonic seconds.
    """
    given: dict[str, Any] = {
        key: value
        for key, value in (
            ("failure_threshold", failure_threshold),
            ("open_window_s", open_window_s),
            ("failure_exceptions", failure_exceptions),
            ("ignored_exceptions", ignored_exceptions),
            ("clock", clock),
        )
        if value is not _UNSET
    }
    existing = _registry.get(name)
    if existing is None:
        with _registry_lock:
            existing = _registry.get(name)
            if existing is None:
                breaker = CircuitBreaker(name, **given)
                _registry[name] = breaker
                return breaker
    _check_same(existing, given)
    return existing


def _check_same(breaker: CircuitBreaker, given: dict[str, Any]) -> None:
    # Normalize through a throw-away instance so 5 == 5.0 and a lone class == (class,).
    wanted = CircuitBreaker(breaker.name, **given)
    changed = []
    for key in given:
        have, want = getattr(breaker, key), getattr(wanted, key)
        same = set(have) == set(want) if key.endswith("_exceptions") else have == want
        if not same:
            changed.append(f"{key}={_show(want)} (it has {_show(have)})")
    if changed:
        raise ValueError(
            f"circuit_breaker({breaker.name!r}) already exists with different parameters: "
            f"{'; '.join(changed)}. A breaker is one per name and process: pass the same "
            "parameters (or none, to get the existing one), use another name, or call "
            "reset_circuit_breakers(forget=True) first (tests)."
        )


def _show(value: Any) -> str:
    if isinstance(value, tuple):
        return "(" + ", ".join(getattr(v, "__qualname__", repr(v)) for v in value) + ")"
    return repr(value)


def _lookup(name: str) -> CircuitBreaker:
    try:
        return _registry[name]
    except KeyError:
        known = ", ".join(repr(n) for n in sorted(_registry)) or "none"
        raise KeyError(f"No circuit breaker named {name!r} (known: {known}).") from None


def get_state(name: str) -> dict[str, Any]:
    """``{"state", "failures", "opened_at", "retry_after"}`` of the breaker ``name``.

    ``state`` is a :class:`CircuitState` (equal to ``"closed"``, ``"open"`` or
    ``"half_open"``), ``failures`` the consecutive failures counted, ``opened_at`` the
    breaker's clock when the circuit last opened (``None`` while closed) and ``retry_after``
    the seconds until the next probe is allowed (``None`` while closed, ``0.0`` when a probe
    may run now or is running). Raises ``KeyError`` for an unknown name.
    """
    return _lookup(name).get_state()


def reset_circuit_breakers(*, forget: bool = False) -> None:
    """Close every breaker (``cb.reset()`` on each).

    With ``forget=True`` the breakers are also dropped from the registry, so the next
    :func:`circuit_breaker` call creates a fresh one (for tests that use other parameters).
    """
    with _registry_lock:
        breakers = list(_registry.values())
        if forget:
            _registry.clear()
            _alias_breakers.clear()
    for breaker in breakers:
        breaker.reset()


def add_state_listener(listener: Listener) -> Listener:
    """Call ``listener(StateChange)`` after every state change of every breaker."""
    global _global_listeners
    with _listeners_lock:
        _global_listeners = (*_global_listeners, listener)
    return listener


def remove_state_listener(listener: Listener) -> None:
    global _global_listeners
    with _listeners_lock:
        _global_listeners = tuple(fn for fn in _global_listeners if fn != listener)


# Automatic protection through the core's execution hooks -----------------------------------

_OPTION_KEYS = (
    "name",
    "failure_threshold",
    "open_window_s",
    "failure_exceptions",
    "ignored_exceptions",
)
# alias -> (the OPTIONS value it was built from, its breaker or None)
_alias_breakers: dict[str, tuple[Any, CircuitBreaker | None]] = {}


def _load_exception(alias: str, key: str, value: Any) -> type[BaseException]:
    if isinstance(value, str):
        module_name, sep, attr = value.partition(":")
        if not sep:
            module_name, _, attr = value.rpartition(".")
        try:
            value = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError, ValueError) as exc:
            raise ImproperlyConfigured(
                f"DATABASES[{alias!r}]['OPTIONS'][{OPTIONS_KEY!r}][{key!r}]: cannot import "
                f"{value!r} ({exc}). Give exception classes or dotted paths such as "
                "'dorm.exceptions.OperationalError'."
            ) from exc
    if not (isinstance(value, type) and issubclass(value, BaseException)):
        raise ImproperlyConfigured(
            f"DATABASES[{alias!r}]['OPTIONS'][{OPTIONS_KEY!r}][{key!r}] must list exception "
            f"classes (or their dotted paths), got {value!r}."
        )
    return value


def _breaker_from_options(alias: str, value: Any) -> CircuitBreaker | None:
    """The breaker asked for by ``DATABASES[alias]["OPTIONS"]["circuit_breaker"]``.

    ``None``/``False``: none. ``True`` or ``{}``: the breaker named after the alias with the
    default parameters. A dict may give ``name`` (default: the alias), ``failure_threshold``,
    ``open_window_s``, ``failure_exceptions`` and ``ignored_exceptions`` (classes or dotted
    paths). Raises ``ImproperlyConfigured`` for anything else.
    """
    if value is None or value is False:
        return None
    if value is True:
        value = {}
    where = f"DATABASES[{alias!r}]['OPTIONS'][{OPTIONS_KEY!r}]"
    if not isinstance(value, Mapping):
        raise ImproperlyConfigured(
            f"{where} must be a dict such as {{'failure_threshold': 5, 'open_window_s': 30.0}} "
            f"(or True for the defaults), got {value!r}."
        )
    for key in value:
        if key not in _OPTION_KEYS:
            close = difflib.get_close_matches(str(key), _OPTION_KEYS, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ImproperlyConfigured(
                f"{where} has an unknown key {key!r}.{hint} Valid keys: {', '.join(_OPTION_KEYS)}."
            )
    kwargs: dict[str, Any] = {}
    for key in ("failure_threshold", "open_window_s"):
        if key in value:
            kwargs[key] = value[key]
    for key in ("failure_exceptions", "ignored_exceptions"):
        if key in value:
            items = value[key]
            items = [items] if isinstance(items, (str, type)) else list(items)
            kwargs[key] = tuple(_load_exception(alias, key, item) for item in items)
    name = value.get("name", alias)
    try:
        return circuit_breaker(name, **kwargs)
    except (TypeError, ValueError) as exc:
        raise ImproperlyConfigured(f"{where}: {exc}") from exc


def breaker_for_alias(
    alias: str, settings_dict: Mapping[str, Any] | None = None
) -> CircuitBreaker | None:
    """The breaker protecting ``alias`` under the current settings, or ``None``."""
    if settings_dict is None:
        databases = settings.DATABASES
        if alias not in databases:
            raise ImproperlyConfigured(
                f"The database alias {alias!r} is not configured. "
                f"Configured aliases: {', '.join(sorted(databases))}."
            )
        settings_dict = databases[alias]
    value = (settings_dict.get("OPTIONS") or {}).get(OPTIONS_KEY)
    cached = _alias_breakers.get(alias)
    if cached is not None and (cached[0] is value or cached[0] == value):
        return cached[1]
    breaker = _breaker_from_options(alias, value)
    _alias_breakers[alias] = (value, breaker)
    return breaker


def _passes_through(sql: str) -> bool:
    # Rolling back is cleanup, never gated: an atomic block left by CircuitOpenError must
    # still end its transaction on a connection that may be healthy.
    return sql.lstrip()[:8].upper() == "ROLLBACK"


def _hook(
    execute: Callable[..., Any], sql: str, params: Any, many: bool, context: ExecuteContext
) -> Any:
    if _passes_through(sql):
        return execute(sql, params, many, context)
    breaker = breaker_for_alias(context.alias, context.connection.settings_dict)
    if breaker is None:
        return execute(sql, params, many, context)
    with breaker:
        return execute(sql, params, many, context)


async def _ahook(
    execute: Callable[..., Any], sql: str, params: Any, many: bool, context: ExecuteContext
) -> Any:
    if _passes_through(sql):
        return await execute(sql, params, many, context)
    breaker = breaker_for_alias(context.alias, context.connection.settings_dict)
    if breaker is None:
        return await execute(sql, params, many, context)
    async with breaker:
        return await execute(sql, params, many, context)


_install_lock = threading.Lock()
_registration: Any = None


class Installation:
    """Returned by :func:`install`: ``remove()`` it, or use it as a context manager."""

    def remove(self) -> None:
        uninstall()

    def __enter__(self) -> Installation:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


def install() -> Installation:
    """Protect every statement of each alias whose OPTIONS ask for a circuit breaker.

    Registers one process-wide execution hook (sync and async) that looks up
    ``DATABASES[alias]["OPTIONS"]["circuit_breaker"]`` for the alias a statement runs on and,
    when set, runs the statement inside that breaker. Call it once at start-up; calling it
    again is harmless. When settings are already configured, every alias's option is checked
    now, so a mistake fails here rather than on the first query. ``uninstall()`` undoes it.
    """
    global _registration
    if settings.configured:
        for alias, settings_dict in settings.DATABASES.items():
            breaker_for_alias(alias, settings_dict)
    with _install_lock:
        if _registration is None:
            _registration = register_execute_wrapper(sync=_hook, async_=_ahook)
    return Installation()


def uninstall() -> None:
    """Remove the hook :func:`install` registered (the breakers and their state are kept)."""
    global _registration
    with _install_lock:
        registration, _registration = _registration, None
    if registration is not None:
        registration.remove()


def is_installed() -> bool:
    return _registration is not None


def _on_settings_change() -> None:
    _alias_breakers.clear()


settings.on_change(_on_settings_change)
