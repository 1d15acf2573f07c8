"""The WHERE / HAVING tree: ``AND``/``OR``/``XOR`` nodes over lookups and expressions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dorm.exceptions import EmptyResultSet

AND, OR, XOR = "AND", "OR", "XOR"


class NothingNode:
    """Matches no row (``.none()``, ``__in=[]``)."""

    contains_aggregate = False
    conditional = True

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        raise EmptyResultSet

    def cache_key(self) -> Any:
        return ("Nothing",)

    def collect_params(self, compiler: Any, connection: Any) -> list[Any]:
        raise EmptyResultSet

    def get_group_by_cols(self) -> list[Any]:
        return []


class WhereNode:
    """An immutable-by-convention node; ``Query`` builds new nodes instead of mutating."""

    __slots__ = ("_key", "children", "connector", "negated")
    conditional = True

    def __init__(
        self, children: Sequence[Any] = (), connector: str = AND, negated: bool = False
    ) -> None:
        self.children = tuple(children)
        self.connector = connector
        self.negated = negated
        self._key: Any = False

    def __repr__(self) -> str:
        inner = f" {self.connector} ".join(repr(c) for c in self.children)
        return f"{'NOT ' if self.negated else ''}({inner})"

    def __bool__(self) -> bool:
        return bool(self.children)

    def add(self, node: Any) -> WhereNode:
        """A new AND node with ``node`` appended (flattening plain AND nodes)."""
        if self.connector == AND and not self.negated:
            if isinstance(node, WhereNode) and node.connector == AND and not node.negated:
                return WhereNode(self.children + node.children, AND)
            return WhereNode((*self.children, node), AND)
        return WhereNode((self, node), AND)

    @property
    def contains_aggregate(self) -> bool:
        return any(getattr(c, "contains_aggregate", False) for c in self.children)

    def split_having(self) -> tuple[WhereNode | None, WhereNode | None]:
        """Split into (WHERE part, HAVING part) by whether children reference aggregates."""
        if not self.contains_aggregate:
            return self, None
        if self.negated or self.connector != AND:
            return None, self
        where, having = [], []
        for child in self.children:
            if getattr(child, "contains_aggregate", False):
                having.append(child)
            else:
                where.append(child)
        return (WhereNode(where) if where else None, WhereNode(having) if having else None)

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        parts: list[str] = []
        params: list[Any] = []
        full = len(self.children)
        empty = 0
        for child in self.children:
            try:
                sql, child_params = compiler.compile(child)
            except EmptyResultSet:
                empty += 1
                if self.connector == AND:
                    if self.negated:
                        return "", []
                    raise
                continue
            if sql:
                parts.append(sql)
                params.extend(child_params)
            else:
                full -= 1
                if self.connector == OR:
                    # A child matching everything makes the OR match everything.
                    if self.negated:
                        raise EmptyResultSet
                    return "", []
        if self.connector == OR and empty and empty == len(self.children):
            if self.negated:
                return "", []
            raise EmptyResultSet
        if not parts:
            return "", []
        if self.connector == XOR:
            # a XOR b XOR ... : an odd number of true operands.
            summed = " + ".join(f"CASE WHEN {p} THEN 1 ELSE 0 END" for p in parts)
            sql = f"({summed}) %% 2 = 1"
        else:
            sql = f" {self.connector} ".join(parts)
            if len(parts) > 1:
                sql = f"({sql})"
        if self.negated:
            sql = f"NOT ({sql})"
        return sql, params

    def cache_key(self) -> Any:
        if self._key is False:
            keys = []
            for child in self.children:
                k = child.cache_key()
                if k is None:
                    self._key = None
                    return None
                keys.append(k)
            self._key = ("W", self.connector, self.negated, tuple(keys))
        return self._key

    def collect_params(self, compiler: Any, connection: Any) -> list[Any]:
        params: list[Any] = []
        for child in self.children:
            params.extend(child.collect_params(compiler, connection))
        return params

    def get_group_by_cols(self) -> list[Any]:
        cols: list[Any] = []
        for child in self.children:
            cols.extend(child.get_group_by_cols())
        return cols

    def resolve_expression(self, *args: Any, **kwargs: Any) -> WhereNode:
        return self

    def flatten(self) -> Any:
        yield self
        for child in self.children:
            if hasattr(child, "flatten"):
                yield from child.flatten()
            else:
                yield child
