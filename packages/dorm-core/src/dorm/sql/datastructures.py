"""Joins between table aliases of a query."""

from __future__ import annotations

from typing import Any

INNER = "INNER JOIN"
LOUTER = "LEFT OUTER JOIN"


class Join:
    """``<join_type> table alias ON parent_alias.lhs_col = alias.rhs_col``."""

    __slots__ = (
        "alias",
        "created_in",
        "join_type",
        "lhs_col",
        "multivalued",
        "nullable",
        "parent_alias",
        "path",
        "rhs_col",
        "table",
    )

    def __init__(
        self,
        table: str,
        alias: str,
        parent_alias: str,
        lhs_col: str,
        rhs_col: str,
        join_type: str,
        nullable: bool,
        multivalued: bool,
        created_in: int,
        path: tuple[str, ...],
    ) -> None:
        self.table = table
        self.alias = alias
        self.parent_alias = parent_alias
        self.lhs_col = lhs_col
        self.rhs_col = rhs_col
        self.join_type = join_type
        self.nullable = nullable
        self.multivalued = multivalued
        self.created_in = created_in
        self.path = path

    def __repr__(self) -> str:
        return (
            f"<Join {self.join_type} {self.table} AS {self.alias} ON "
            f"{self.parent_alias}.{self.lhs_col}={self.alias}.{self.rhs_col}>"
        )

    def copy(self) -> Join:
        return Join(
            self.table,
            self.alias,
            self.parent_alias,
            self.lhs_col,
            self.rhs_col,
            self.join_type,
            self.nullable,
            self.multivalued,
            self.created_in,
            self.path,
        )

    def identity(self) -> tuple[str, str, str, str]:
        return (self.parent_alias, self.table, self.lhs_col, self.rhs_col)

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        qn = compiler.quote_name
        table = qn(self.table)
        alias_sql = table if self.alias == self.table else f"{table} {qn(self.alias)}"
        return (
            f"{self.join_type} {alias_sql} ON ({qn(self.parent_alias)}.{qn(self.lhs_col)} = "
            f"{qn(self.alias)}.{qn(self.rhs_col)})",
            [],
        )
