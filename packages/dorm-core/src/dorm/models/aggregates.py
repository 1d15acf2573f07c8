"""Aggregates: ``Count``, ``Sum``, ``Avg``, ``Min``, ``Max``, ``StdDev``, ``Variance``."""

from __future__ import annotations

from typing import Any

from dorm.exceptions import FieldError, NotSupportedError
from dorm.expressions import Expression, F, Func, Star
from dorm.models import fields as f


class Aggregate(Func):
    """``FUNC([DISTINCT] expr) [FILTER (WHERE ...)]``, with ``default=`` for empty input."""

    contains_aggregate = True
    template = "%(function)s(%(distinct)s%(expressions)s)"
    allow_distinct = False
    empty_result_set_value: Any = None
    name = ""

    def __init__(
        self,
        *expressions: Any,
        distinct: bool = False,
        filter: Any = None,
        default: Any = None,
        output_field: Any = None,
        **extra: Any,
    ) -> None:
        if distinct and not self.allow_distinct:
            raise TypeError(f"{type(self).__name__} does not allow distinct.")
        if default is not None and self.empty_result_set_value is not None:
            raise TypeError(f"{type(self).__name__} does not allow default.")
        self.distinct = distinct
        self.filter = filter
        self.default = default
        super().__init__(*expressions, output_field=output_field, **extra)

    @property
    def default_alias(self) -> str:
        sources = self.get_source_expressions()
        if len(sources) == 1 and isinstance(sources[0], F):
            return f"{sources[0].name}__{type(self).__name__.lower()}"
        raise TypeError("Complex expressions require an alias")

    def resolve_expression(
        self,
        query: Any = None,
        allow_joins: bool = True,
        reuse: Any = None,
        summarize: bool = False,
        for_save: bool = False,
    ) -> Any:
        c = super().resolve_expression(query, allow_joins, reuse, summarize, for_save)
        c.contains_aggregate = True
        if c.filter is not None:
            c.filter = query.build_where(c.filter) if query is not None else c.filter
        for expr in c.get_source_expressions():
            if getattr(expr, "contains_aggregate", False) and not summarize:
                raise FieldError(
                    f"Cannot compute {type(c).__name__}(...): it is an aggregate of an aggregate."
                )
        return c

    def get_group_by_cols(self) -> list[Any]:
        return []

    def as_sql(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, list[Any]]:  # type: ignore[override]
        extra["distinct"] = "DISTINCT " if self.distinct else ""
        if self.filter is not None:
            filter_sql, filter_params = compiler.compile(self.filter)
            if getattr(connection.features, "supports_aggregate_filter_clause", True):
                sql, params = super().as_sql(compiler, connection, _vendor_done=True, **extra)
                sql = f"{sql} FILTER (WHERE {filter_sql})"
                params = [*params, *filter_params]
            else:
                # FUNC(CASE WHEN <filter> THEN <expr> END): rows not matching are NULL, which
                # aggregates skip (Django's fallback).
                c = self.copy()
                first = c.source_expressions[0]
                c.source_expressions[0] = _FilteredSource(self.filter, first)
                sql, params = Func.as_sql(c, compiler, connection, _vendor_done=True, **extra)
        else:
            sql, params = super().as_sql(compiler, connection, _vendor_done=True, **extra)
        if self.default is not None:
            if hasattr(self.default, "resolve_expression"):
                d_sql, d_params = compiler.compile(self.default.resolve_expression(compiler.query))
            else:
                d_sql, d_params = (
                    "%s",
                    [
                        self._output_field_or_none.get_db_prep_value(self.default, connection)
                        if self._output_field_or_none is not None
                        else self.default
                    ],
                )
            return f"COALESCE({sql}, {d_sql})", [*params, *d_params]
        return sql, params

    def cache_key(self) -> Any:
        return None


class _FilteredSource(Expression):
    """``CASE WHEN <filter> THEN <expr> ELSE NULL END`` for backends without ``FILTER``."""

    def __init__(self, condition: Any, expression: Any) -> None:
        super().__init__()
        self.condition = condition
        self.expression = expression

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        cond_sql, cond_params = compiler.compile(self.condition)
        if isinstance(self.expression, Star):
            expr_sql, expr_params = "1", []
        else:
            expr_sql, expr_params = compiler.compile(self.expression)
        return (
            f"CASE WHEN {cond_sql} THEN {expr_sql} ELSE NULL END",
            [*cond_params, *expr_params],
        )


class Count(Aggregate):
    function = "COUNT"
    name = "Count"
    allow_distinct = True
    empty_result_set_value = 0

    def __init__(self, expression: Any, filter: Any = None, **extra: Any) -> None:
        if expression == "*":
            expression = Star()
        super().__init__(expression, filter=filter, output_field=f.IntegerField(), **extra)

    def get_db_converters(self, connection: Any) -> list[Any]:
        return [lambda v: 0 if v is None else int(v)]


class Sum(Aggregate):
    function = "SUM"
    name = "Sum"
    allow_distinct = True


class Avg(Aggregate):
    function = "AVG"
    name = "Avg"
    allow_distinct = True

    def _resolve_output_field(self) -> Any:
        if self._output_field is not None:
            return self._output_field
        source = super()._resolve_output_field()
        if isinstance(source, f.DecimalField):
            return f.DecimalField()  # not rounded to the column's decimal places (Django)
        if isinstance(source, (f.IntegerField, f.FloatField)) or source is None:
            return f.FloatField()
        return source


class Min(Aggregate):
    function = "MIN"
    name = "Min"


class Max(Aggregate):
    function = "MAX"
    name = "Max"


class _Statistic(Aggregate):
    """A population (default) or sample statistic: ``functions`` is (population, sample)."""

    functions: tuple[str, str]

    def __init__(self, expression: Any, sample: bool = False, **extra: Any) -> None:
        self.function = self.functions[sample]
        super().__init__(expression, **extra)

    def _resolve_output_field(self) -> Any:
        if self._output_field is not None:
            return self._output_field
        source = super()._resolve_output_field()
        return f.DecimalField() if isinstance(source, f.DecimalField) else f.FloatField()

    def as_sql(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, list[Any]]:  # type: ignore[override]
        if not connection.features.supports_stddev:
            raise NotSupportedError(
                f"{type(self).__name__} is not supported by the {connection.vendor} backend "
                "(features.supports_stddev is False)."
            )
        return super().as_sql(compiler, connection, **extra)


class StdDev(_Statistic):
    name = "StdDev"
    functions = ("STDDEV_POP", "STDDEV_SAMP")


class Variance(_Statistic):
    name = "Variance"
    functions = ("VAR_POP", "VAR_SAMP")


__all__ = ["Aggregate", "Avg", "Count", "Max", "Min", "StdDev", "Sum", "Variance"]
