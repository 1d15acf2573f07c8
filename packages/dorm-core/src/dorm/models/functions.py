"""Conditional expressions (``Case``/``When``) and database functions."""

from __future__ import annotations

import datetime
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
            c.condition = query.build_where(c.condition, allow_joins=allow_joins)
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


# Database functions ---------------------------------------------------------------------
#
# Each compiles through ``connection.ops.function_template(name)`` first, so a backend can
# replace a function's SQL (SQLite's INSTR vs PostgreSQL's STRPOS) without vendor checks here.

from dorm.exceptions import FieldError  # noqa: E402
from dorm.expressions import Func  # noqa: E402
from dorm.models import fields as f  # noqa: E402


class BackendFunc(Func):
    """A function whose SQL template a backend may override via ``ops.function_templates``."""

    def as_sql(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, list[Any]]:  # type: ignore[override]
        template = connection.ops.function_templates.get(type(self).__name__)
        if template is not None:
            if callable(template):
                return template(self, compiler, connection)  # type: ignore[no-any-return]
            extra.setdefault("template", template)
        return super().as_sql(compiler, connection, **extra)


class Coalesce(BackendFunc):
    """The first non-NULL argument."""

    function = "COALESCE"

    def __init__(self, *expressions: Any, **extra: Any) -> None:
        if len(expressions) < 2:
            raise ValueError("Coalesce must take at least two expressions")
        super().__init__(*expressions, **extra)


class Greatest(BackendFunc):
    function = "GREATEST"

    def __init__(self, *expressions: Any, **extra: Any) -> None:
        if len(expressions) < 2:
            raise ValueError("Greatest must take at least two expressions")
        super().__init__(*expressions, **extra)


class Least(BackendFunc):
    function = "LEAST"

    def __init__(self, *expressions: Any, **extra: Any) -> None:
        if len(expressions) < 2:
            raise ValueError("Least must take at least two expressions")
        super().__init__(*expressions, **extra)


class NullIf(BackendFunc):
    function = "NULLIF"
    arity = 2


class Cast(BackendFunc):
    """``CAST(expr AS <output_field's column type>)``."""

    template = "CAST(%(expressions)s AS %(db_type)s)"

    def __init__(self, expression: Any, output_field: Any) -> None:
        super().__init__(expression, output_field=output_field)

    def as_sql(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, list[Any]]:  # type: ignore[override]
        db_type = connection.ops.cast_type(self.output_field)
        return super().as_sql(compiler, connection, db_type=db_type, **extra)


class _TextFunc(BackendFunc):
    arity = 1

    def _resolve_output_field(self) -> Any:
        return self._output_field or f.CharField()


class Lower(_TextFunc):
    function = "LOWER"


class Upper(_TextFunc):
    function = "UPPER"


class Length(BackendFunc):
    function = "LENGTH"
    arity = 1

    def _resolve_output_field(self) -> Any:
        return f.IntegerField()


class Trim(_TextFunc):
    function = "TRIM"


class LTrim(_TextFunc):
    function = "LTRIM"


class RTrim(_TextFunc):
    function = "RTRIM"


class Concat(BackendFunc):
    """Concatenate text; NULL arguments count as empty strings (as Django)."""

    function = "CONCAT"

    def __init__(self, *expressions: Any, **extra: Any) -> None:
        if len(expressions) < 2:
            raise ValueError("Concat must take at least two expressions")
        super().__init__(*expressions, **extra)

    def _resolve_output_field(self) -> Any:
        return self._output_field or f.TextField()

    def as_sql(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, list[Any]]:  # type: ignore[override]
        parts, params = [], []
        for expr in self.source_expressions:
            s, p = compiler.compile(expr)
            parts.append(f"COALESCE({s}, '')")
            params.extend(p)
        return connection.ops.concat_sql(parts), params


class Substr(BackendFunc):
    """``SUBSTR(expr, pos[, length])`` (1-based, as SQL)."""

    function = "SUBSTR"

    def __init__(self, expression: Any, pos: Any, length: Any = None, **extra: Any) -> None:
        if not hasattr(pos, "resolve_expression") and pos < 1:
            raise ValueError("'pos' must be greater than 0")
        args = [expression, pos] if length is None else [expression, pos, length]
        super().__init__(*args, **extra)

    def _resolve_output_field(self) -> Any:
        return self._output_field or f.CharField()


class Left(BackendFunc):
    """The first ``length`` characters."""

    template = "SUBSTR(%(expressions)s)"

    def __init__(self, expression: Any, length: Any, **extra: Any) -> None:
        if not hasattr(length, "resolve_expression") and length < 1:
            raise ValueError("'length' must be greater than 0.")
        super().__init__(expression, 1, length, **extra)

    def _resolve_output_field(self) -> Any:
        return self._output_field or f.CharField()


class Right(BackendFunc):
    """The last ``length`` characters."""

    function = "RIGHT"

    def __init__(self, expression: Any, length: Any, **extra: Any) -> None:
        if not hasattr(length, "resolve_expression") and length < 1:
            raise ValueError("'length' must be greater than 0.")
        super().__init__(expression, length, **extra)

    def _resolve_output_field(self) -> Any:
        return self._output_field or f.CharField()


class Replace(BackendFunc):
    function = "REPLACE"

    def __init__(self, expression: Any, text: Any, replacement: Any = None, **extra: Any) -> None:
        # As every Func, a string argument names a field: literals go in Value("...").
        if replacement is None:
            replacement = Value("")
        super().__init__(expression, text, replacement, **extra)

    def _resolve_output_field(self) -> Any:
        return self._output_field or f.CharField()


class StrIndex(BackendFunc):
    """1-based position of ``substring`` in ``string``; 0 when absent."""

    function = "INSTR"
    arity = 2

    def __init__(self, string: Any, substring: Any, **extra: Any) -> None:
        super().__init__(string, substring, **extra)  # a str substring is a field name

    def _resolve_output_field(self) -> Any:
        return f.IntegerField()


def _literal(value: Any) -> Any:
    from dorm.expressions import Value

    return value if hasattr(value, "resolve_expression") else Value(value)


class _MathFunc(BackendFunc):
    arity = 1


class Abs(_MathFunc):
    function = "ABS"


class Ceil(_MathFunc):
    function = "CEILING"


class Floor(_MathFunc):
    function = "FLOOR"


class Sqrt(_MathFunc):
    function = "SQRT"

    def _resolve_output_field(self) -> Any:
        source = super()._resolve_output_field()
        return source if isinstance(source, f.DecimalField) else f.FloatField()


class Round(BackendFunc):
    function = "ROUND"

    def __init__(self, expression: Any, precision: int = 0, **extra: Any) -> None:
        super().__init__(expression, _literal(precision), **extra)

    def _resolve_output_field(self) -> Any:
        return self.source_expressions[0]._output_field_or_none or f.FloatField()


class Mod(BackendFunc):
    function = "MOD"
    arity = 2

    def _resolve_output_field(self) -> Any:
        return super()._resolve_output_field()


class Power(BackendFunc):
    function = "POWER"
    arity = 2

    def _resolve_output_field(self) -> Any:
        source = super()._resolve_output_field()
        return source if isinstance(source, f.DecimalField) else f.FloatField()


class Now(BackendFunc):
    """The current timestamp of the database transaction."""

    template = "CURRENT_TIMESTAMP"

    def _resolve_output_field(self) -> Any:
        return f.DateTimeField()

    def as_sql(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, list[Any]]:  # type: ignore[override]
        return connection.ops.now_sql(), []


# Date parts -----------------------------------------------------------------------------

from dorm.models.lookups import (  # noqa: E402
    Extract,
    ExtractDay,
    ExtractHour,
    ExtractIsoWeekDay,
    ExtractIsoYear,
    ExtractMinute,
    ExtractMonth,
    ExtractQuarter,
    ExtractSecond,
    ExtractWeek,
    ExtractWeekDay,
    ExtractYear,
    TruncDate,
    TruncTime,
)


class Trunc(BackendFunc):
    """Truncate a date/datetime to ``kind`` (year, quarter, month, week, day, hour, ...)."""

    kind = ""
    arity = 1

    def __init__(
        self, expression: Any, kind: str | None = None, output_field: Any = None, **extra: Any
    ) -> None:
        if kind is not None:
            self.kind = kind
        if not self.kind:
            raise ValueError("Trunc needs a kind ('year', 'month', 'day', ...).")
        super().__init__(expression, output_field=output_field, **extra)

    def _resolve_output_field(self) -> Any:
        source = self.source_expressions[0]._output_field_or_none
        if not isinstance(source, (f.DateField, f.TimeField)):
            raise FieldError(
                f"Cannot truncate {type(source).__name__ if source else 'an untyped expression'}"
                f" to {self.kind!r}: Trunc needs a DateField, DateTimeField or TimeField."
            )
        output = self._output_field
        if output is None:
            output = f.DateTimeField() if isinstance(source, f.DateTimeField) else type(source)()
        date_kinds = ("year", "quarter", "month", "week", "day")
        if (
            not isinstance(source, f.DateTimeField)
            and isinstance(source, f.DateField)
            and (isinstance(output, f.DateTimeField) or self.kind not in date_kinds)
        ):
            raise ValueError(
                f"Cannot truncate DateField to "
                f"{'DateTimeField' if isinstance(output, f.DateTimeField) else repr(self.kind)}."
            )
        if isinstance(source, f.TimeField) and (
            isinstance(output, f.DateTimeField) or self.kind in date_kinds
        ):
            raise ValueError(
                f"Cannot truncate TimeField to "
                f"{'DateTimeField' if isinstance(output, f.DateTimeField) else repr(self.kind)}."
            )
        return output

    def resolve_expression(self, *args: Any, **kwargs: Any) -> Any:
        c = super().resolve_expression(*args, **kwargs)
        c._resolve_output_field()  # a wrong source type or kind fails here, not at run time
        return c

    def as_sql(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, list[Any]]:  # type: ignore[override]
        sql, params = compiler.compile(self.source_expressions[0])
        output = self.output_field
        if isinstance(output, f.DateTimeField):
            return connection.ops.date_trunc_sql(self.kind, sql, is_datetime=True), params
        if isinstance(output, f.DateField):
            return connection.ops.date_trunc_sql(self.kind, sql, is_datetime=False), params
        return connection.ops.time_trunc_sql(self.kind, sql), params

    def get_db_converters(self, connection: Any) -> list[Any]:
        output = self.output_field
        converters = list(output.get_db_converters(connection))
        if isinstance(output, f.DateTimeField):
            return converters
        # Trunc(datetime, output_field=DateField()) may read back a datetime (Django).
        attr = "date" if isinstance(output, f.DateField) else "time"

        def narrow(value: Any) -> Any:
            return getattr(value, attr)() if isinstance(value, datetime.datetime) else value

        return [*converters, narrow]

    def cache_key(self) -> Any:
        key = self.source_expressions[0].cache_key()
        output = type(self._output_field)
        return None if key is None else ("Trunc", self.kind, key, output)


class TruncYear(Trunc):
    kind = "year"


class TruncQuarter(Trunc):
    kind = "quarter"


class TruncMonth(Trunc):
    kind = "month"


class TruncWeek(Trunc):
    kind = "week"


class TruncDay(Trunc):
    kind = "day"


class TruncHour(Trunc):
    kind = "hour"


class TruncMinute(Trunc):
    kind = "minute"


class TruncSecond(Trunc):
    kind = "second"


# Window functions -----------------------------------------------------------------------


class _WindowFunc(BackendFunc):
    window_compatible = True
    contains_aggregate = False


class RowNumber(_WindowFunc):
    function = "ROW_NUMBER"
    arity = 0

    def _resolve_output_field(self) -> Any:
        return f.IntegerField()


class Rank(RowNumber):
    function = "RANK"


class DenseRank(RowNumber):
    function = "DENSE_RANK"


class PercentRank(_WindowFunc):
    function = "PERCENT_RANK"
    arity = 0

    def _resolve_output_field(self) -> Any:
        return f.FloatField()


class CumeDist(PercentRank):
    function = "CUME_DIST"


class Ntile(_WindowFunc):
    function = "NTILE"

    def __init__(self, num_buckets: int = 1, **extra: Any) -> None:
        if num_buckets <= 0:
            raise ValueError("num_buckets must be greater than 0.")
        super().__init__(_literal(num_buckets), **extra)

    def _resolve_output_field(self) -> Any:
        return f.IntegerField()


class _LagLead(_WindowFunc):
    def __init__(self, expression: Any, offset: int = 1, default: Any = None, **extra: Any) -> None:
        if offset is None or offset <= 0:
            raise ValueError(f"{type(self).__name__} requires a positive integer for the offset.")
        args = [expression, _literal(offset)]
        if default is not None:
            args.append(_literal(default))
        super().__init__(*args, **extra)

    def _resolve_output_field(self) -> Any:
        return self.source_expressions[0]._output_field_or_none


class Lag(_LagLead):
    function = "LAG"


class Lead(_LagLead):
    function = "LEAD"


class FirstValue(_WindowFunc):
    function = "FIRST_VALUE"
    arity = 1


class LastValue(_WindowFunc):
    function = "LAST_VALUE"
    arity = 1


class NthValue(_WindowFunc):
    function = "NTH_VALUE"

    def __init__(self, expression: Any, nth: int = 1, **extra: Any) -> None:
        if nth is None or nth <= 0:
            raise ValueError("NthValue requires a positive integer as for nth.")
        super().__init__(expression, _literal(nth), **extra)

    def _resolve_output_field(self) -> Any:
        return self.source_expressions[0]._output_field_or_none


__all__ = [
    "Abs",
    "Case",
    "Cast",
    "Ceil",
    "Coalesce",
    "Concat",
    "CumeDist",
    "DenseRank",
    "Extract",
    "ExtractDay",
    "ExtractHour",
    "ExtractIsoWeekDay",
    "ExtractIsoYear",
    "ExtractMinute",
    "ExtractMonth",
    "ExtractQuarter",
    "ExtractSecond",
    "ExtractWeek",
    "ExtractWeekDay",
    "ExtractYear",
    "FirstValue",
    "Floor",
    "Greatest",
    "LTrim",
    "Lag",
    "LastValue",
    "Lead",
    "Least",
    "Left",
    "Length",
    "Lower",
    "Mod",
    "Now",
    "NthValue",
    "Ntile",
    "NullIf",
    "PercentRank",
    "Power",
    "RTrim",
    "Rank",
    "Replace",
    "Right",
    "Round",
    "RowNumber",
    "Sqrt",
    "StrIndex",
    "Substr",
    "Trim",
    "Trunc",
    "TruncDate",
    "TruncDay",
    "TruncHour",
    "TruncMinute",
    "TruncMonth",
    "TruncQuarter",
    "TruncSecond",
    "TruncTime",
    "TruncWeek",
    "TruncYear",
    "Upper",
    "When",
]
