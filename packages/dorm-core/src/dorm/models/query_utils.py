"""``Q`` objects: filter conditions combined with ``&``, ``|`` and ``~``."""

from __future__ import annotations

import copy
from typing import Any


class Q:
    """A tree of filter conditions: ``Q(name="a") | ~Q(age__lt=18)``."""

    AND = "AND"
    OR = "OR"
    XOR = "XOR"
    conditional = True

    def __init__(
        self, *args: Any, _connector: str | None = None, _negated: bool = False, **kwargs: Any
    ) -> None:
        self.children: list[Any] = [*args, *sorted(kwargs.items())]
        self.connector = _connector or self.AND
        self.negated = _negated

    def _combine(self, other: Any, connector: str) -> Q:
        if getattr(other, "conditional", False) is False:
            raise TypeError(f"Cannot combine Q with {type(other).__name__}.")
        if not self.children:
            return copy.deepcopy(other) if isinstance(other, Q) else Q(other)
        if isinstance(other, Q) and not other.children:
            return copy.deepcopy(self)
        obj = Q(_connector=connector)
        obj.children = [self, other]
        return obj

    def __or__(self, other: Any) -> Q:
        return self._combine(other, self.OR)

    def __and__(self, other: Any) -> Q:
        return self._combine(other, self.AND)

    def __xor__(self, other: Any) -> Q:
        return self._combine(other, self.XOR)

    def __invert__(self) -> Q:
        obj = Q()
        obj.children = [self]
        obj.negated = True
        return obj

    def __deepcopy__(self, memo: dict[int, Any]) -> Q:
        obj = Q(_connector=self.connector, _negated=self.negated)
        obj.children = copy.deepcopy(self.children, memo)
        return obj

    def __bool__(self) -> bool:
        return bool(self.children)

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Q)
            and other.connector == self.connector
            and other.negated == self.negated
            and other.children == self.children
        )

    def __hash__(self) -> int:
        return hash((self.connector, self.negated, repr(self.children)))

    def __repr__(self) -> str:
        template = "(NOT (%s: %s))" if self.negated else "(%s: %s)"
        return template % (self.connector, ", ".join(repr(c) for c in self.children))

    def resolve_expression(self, query: Any = None, *args: Any, **kwargs: Any) -> Any:
        return query.build_where(self)

    def flatten(self) -> Any:
        yield self
        for child in self.children:
            if isinstance(child, Q):
                yield from child.flatten()
            else:
                yield child
