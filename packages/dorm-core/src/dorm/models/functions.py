"""Conditional expressions (``Case``/``When``) and database functions."""

from __future__ import annotations

from typing import Any

from dorm.expressions import Expression, Value
from dorm.models.query_utils import Q


class When(Expression):
    """``WHEN condition THEN result`` (condition as ``Q`` or keyword lookups)."""

    template = "WHEN %(condition)s THEN %(result)s"

    def __init__(self, condition: Any = None, then: Any = None, **lookups: Any) -> None:
        if lookups:
            condition = Q(**lookups) if condition is None else condition & Q(**lookups)
        if condition is None or not getattr(condition, "conditional", False):
            raise TypeError(
                "When() needs a Q object, a boolean expression, or lookups as its condition."
            )
        super().__init__()
        self.condition = condition
        self.result = then if hasattr(then, "resolve_expression") else Value(then)

    def get_source_expressions(self) -> list[Any]:
        return [self.condition, self.result]

    def set_source_expressions(self, exprs: Any) -> None:
        self.condition, self.result = exprs

    def _resolve_output_field(self) -> Any:
        return self.result._output_field_or_none

    def resolve_expression(
        self,
        query: Any = None,
        allow_joins: bool = True,
        reuse: Any = None,
        summarize: bool = False,
        for_save: bool = False,
    ) -> Any:
        c = self.copy()
        if isinstance(c.condition, Q):
            c.condition = query.build_where(c.condition)
        else:
            c.condition = c.condition.resolve_expression(
                query, allow_joins, reuse, summarize, False
            )
        c.result = c.result.resolve_expression(query, allow_joins, reuse, summarize, for_save)
        return c

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        cond_sql, cond_params = compiler.compile(self.condition)
        res_sql, res_params = compiler.compile(self.result)
        return f"WHEN {cond_sql} THEN {res_sql}", [*cond_params, *res_params]

    def get_group_by_cols(self) -> list[Any]:
        return [*self.condition.get_group_by_cols(), *self.result.get_group_by_cols()]


class Case(Expression):
    """``CASE WHEN ... THEN ... ELSE default END``."""

    def __init__(self, *cases: When, default: Any = None, output_field: Any = None) -> None:
        if not all(isinstance(c, When) for c in cases):
            raise TypeError("Positional arguments to Case() must be When() objects.")
        super().__init__(output_field)
        self.cases = list(cases)
        self.default = default if hasattr(default, "resolve_expression") else Value(default)

    def get_source_expressions(self) -> list[Any]:
        return [*self.cases, self.default]

    def set_source_expressions(self, exprs: Any) -> None:
        *self.cases, self.default = exprs

    def copy(self) -> Any:
        c = super().copy()
        c.cases = list(self.cases)
        return c

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        if not self.cases:
            return compiler.compile(self.default)  # type: ignore[no-any-return]
        parts, params = [], []
        for case in self.cases:
            s, p = compiler.compile(case)
            parts.append(s)
            params.extend(p)
        d_sql, d_params = compiler.compile(self.default)
        params.extend(d_params)
        sql = f"CASE {' '.join(parts)} ELSE {d_sql} END"
        field = self._output_field_or_none
        cast = (
            field.cast_db_type(connection)
            if field is not None and hasattr(connection.ops, "case_cast")
            else None
        )
        if cast:
            sql = connection.ops.case_cast(sql, cast)
        return sql, params

    def get_group_by_cols(self) -> list[Any]:
        if not self.cases:
            return self.default.get_group_by_cols()  # type: ignore[no-any-return]
        return super().get_group_by_cols()


__all__ = ["Case", "When"]
