"""Small helpers shared across the core."""

from __future__ import annotations

import datetime
import re
from typing import Any

from dorm.conf import settings


class _NotProvided:
    __slots__ = ()

    def __repr__(self) -> str:
        return "NOT_PROVIDED"

    def __bool__(self) -> bool:
        return False


NOT_PROVIDED: Any = _NotProvided()


def now() -> datetime.datetime:
    """The current time: aware UTC when ``USE_TZ`` (the default), naive local otherwise."""
    if settings.USE_TZ:
        return datetime.datetime.now(datetime.UTC)
    return datetime.datetime.now()


_camel = re.compile(r"(?<!^)(?=[A-Z])")


def camel_to_words(name: str) -> str:
    return _camel.sub(" ", name).lower()


class cached_property:
    """A non-data descriptor caching the result in the instance ``__dict__``."""

    def __init__(self, func: Any) -> None:
        self.func = func
        self.name = func.__name__
        self.__doc__ = func.__doc__

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, instance: Any, owner: Any = None) -> Any:
        if instance is None:
            return self
        value = instance.__dict__[self.name] = self.func(instance)
        return value
