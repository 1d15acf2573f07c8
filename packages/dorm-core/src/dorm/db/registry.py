"""Resolve ``ENGINE`` names to backend wrapper classes through entry points."""

from __future__ import annotations

import importlib
import threading
from importlib.metadata import entry_points
from typing import Any

from dorm.exceptions import ImproperlyConfigured

SYNC_GROUP = "djanorm.backends"
ASYNC_GROUP = "djanorm.async_backends"

#: First-party engine name -> the distribution that provides it.
FIRST_PARTY_ENGINES = {"sqlite": "dorm-sqlite", "postgresql": "dorm-postgres"}

_cache: dict[tuple[str, str], type[Any]] = {}
_lock = threading.Lock()


def installed_engines(group: str = SYNC_GROUP) -> list[str]:
    """Names registered in an entry-point group, sorted."""
    return sorted({ep.name for ep in entry_points(group=group)})


def _load_dotted(path: str) -> Any:
    module_name, _, attr = path.partition(":")
    try:
        module = importlib.import_module(module_name)
        return getattr(module, attr) if attr else module
    except (ImportError, AttributeError) as exc:
        raise ImproperlyConfigured(f"ENGINE {path!r} could not be imported: {exc}") from exc


def load_backend(engine: str, *, is_async: bool = False) -> type[Any]:
    """The wrapper class for ``engine`` (an entry-point name or ``package.module:Class``)."""
    group = ASYNC_GROUP if is_async else SYNC_GROUP
    key = (group, engine)
    cls = _cache.get(key)
    if cls is not None:
        return cls
    with _lock:
        if ":" in engine:
            cls = _load_dotted(engine)
            if bool(getattr(cls, "is_async", False)) != is_async:
                side = "async" if is_async else "sync"
                named, needed = ("a sync", "an async") if is_async else ("an async", "a sync")
                raise ImproperlyConfigured(
                    f"ENGINE {engine!r} names {named} wrapper class, but {side} code needs "
                    f"{needed} one. A dotted-path ENGINE serves one side only; to use the backend "
                    f"from sync and async code, register it in the {SYNC_GROUP!r} and "
                    f"{ASYNC_GROUP!r} entry-point groups and use its name."
                )
        else:
            matches = [ep for ep in entry_points(group=group) if ep.name == engine]
            if not matches:
                raise ImproperlyConfigured(_unknown_engine_message(engine, group))
            try:
                cls = matches[0].load()
            except Exception as exc:
                raise ImproperlyConfigured(
                    f"The {engine!r} backend is installed but failed to load "
                    f"({matches[0].value}): {exc}"
                ) from exc
        _cache[key] = cls
    return cls


def _unknown_engine_message(engine: str, group: str) -> str:
    kind = "async " if group == ASYNC_GROUP else ""
    installed = installed_engines(group)
    msg = f"Unknown {kind}database ENGINE {engine!r}. "
    msg += f"Installed engines: {', '.join(installed) if installed else 'none'}."
    dist = FIRST_PARTY_ENGINES.get(engine)
    if dist:
        msg += (
            f" The {engine!r} backend is provided by the {dist!r} distribution: pip install {dist}"
        )
    else:
        msg += (
            f" A third-party backend registers itself in the {group!r} entry-point group; "
            "is its distribution installed?"
        )
    return msg


def clear_cache() -> None:
    _cache.clear()
