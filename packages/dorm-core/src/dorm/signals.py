"""Model signals: ``pre_init post_init pre_save post_save pre_delete post_delete``.

A signal with no receivers costs one attribute check (``signal.has_listeners``).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import Any

__all__ = [
    "Signal",
    "post_delete",
    "post_init",
    "post_save",
    "pre_delete",
    "pre_init",
    "pre_save",
    "receiver",
]


class Signal:
    """Django-style signal: ``connect(receiver, sender=None, weak=True, dispatch_uid=None)``."""

    def __init__(self, name: str = "") -> None:
        self.name = name
        self._receivers: list[tuple[Any, Any, Any]] = []  # (key, sender id or None, ref)
        self._lock = threading.Lock()
        self.has_listeners = False

    def __repr__(self) -> str:
        return f"<Signal {self.name}>"

    def connect(
        self,
        receiver: Callable[..., Any],
        sender: Any = None,
        weak: bool = True,
        dispatch_uid: str | None = None,
    ) -> None:
        if not callable(receiver):
            raise TypeError("Signal receivers must be callable.")
        key = dispatch_uid if dispatch_uid is not None else _ref_key(receiver)
        sender_key = id(sender) if sender is not None else None
        if weak:
            ref: Any = (
                weakref.WeakMethod(receiver)
                if hasattr(receiver, "__self__")
                else weakref.ref(receiver)
            )
        else:
            ref = _Strong(receiver)
        with self._lock:
            if any(k == key and s == sender_key for k, s, _ in self._receivers):
                return
            self._receivers.append((key, sender_key, ref))
            self.has_listeners = True

    def disconnect(
        self,
        receiver: Callable[..., Any] | None = None,
        sender: Any = None,
        dispatch_uid: str | None = None,
    ) -> bool:
        key = dispatch_uid if dispatch_uid is not None else _ref_key(receiver)
        sender_key = id(sender) if sender is not None else None
        with self._lock:
            before = len(self._receivers)
            self._receivers = [
                r for r in self._receivers if not (r[0] == key and r[1] == sender_key)
            ]
            self.has_listeners = bool(self._receivers)
            return len(self._receivers) != before

    def _live(self, sender: Any) -> list[Callable[..., Any]]:
        sender_key = id(sender)
        result, dead = [], False
        for _key, s, ref in self._receivers:
            if s is not None and s != sender_key:
                continue
            fn = ref()
            if fn is None:
                dead = True
                continue
            result.append(fn)
        if dead:
            with self._lock:
                self._receivers = [r for r in self._receivers if r[2]() is not None]
                self.has_listeners = bool(self._receivers)
        return result

    def send(self, sender: Any, **named: Any) -> list[tuple[Callable[..., Any], Any]]:
        if not self.has_listeners:
            return []
        return [(fn, fn(signal=self, sender=sender, **named)) for fn in self._live(sender)]

    def has_listeners_for(self, sender: Any) -> bool:
        return self.has_listeners and bool(self._live(sender))


class _Strong:
    __slots__ = ("fn",)

    def __init__(self, fn: Any) -> None:
        self.fn = fn

    def __call__(self) -> Any:
        return self.fn


def _ref_key(receiver: Any) -> Any:
    if hasattr(receiver, "__self__") and hasattr(receiver, "__func__"):
        return (id(receiver.__self__), id(receiver.__func__))
    return id(receiver)


def receiver(signal: Signal | list[Signal], **kwargs: Any) -> Callable[[Any], Any]:
    """Decorator: ``@receiver(post_save, sender=Author)``."""

    def decorator(func: Any) -> Any:
        for sig in signal if isinstance(signal, (list, tuple)) else [signal]:
            sig.connect(func, **kwargs)
        return func

    return decorator


pre_init = Signal("pre_init")
post_init = Signal("post_init")
pre_save = Signal("pre_save")
post_save = Signal("post_save")
pre_delete = Signal("pre_delete")
post_delete = Signal("post_delete")
