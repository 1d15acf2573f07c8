"""Query expressions: ``F``, ``Value``, columns, arithmetic, ordering, functions.

Every node compiles itself with ``as_sql(compiler, connection) -> (sql, params)``. Nodes
also give a ``cache_key()`` — their shape without parameter values — so the compiler can
reuse the SQL of a query shape it has seen (``None`` means "do not cache this query").
"""

from __future__ import annotations

import copy
import datetime
import decimal
from collections.abc import Iterator, Sequence
from typing import Any

from dorm.exceptions import FieldError

__all__ = [
    "Exists",
    "OuterRef",
    "RowRange",
    "Subquery",
    "ValueRange",
    "Window",
    "WindowFrame",
    "Col",
    "CombinedExpression",
    "Expression",
    "ExpressionWrapper",
    "F",
    "Func",
    "OrderBy",
    "Value",
]


class Combinable:
    """Arithmetic between expressions and values: ``F("a") + 1``, ``2 * F("b")``."""

    ADD, SUB, MUL, DIV, MOD, POW = "+", "-", "*", "/", "%%", "^"

    def _combine(self, other: Any, connector: str, reversed: bool) -> CombinedExpression:
        if not hasattr(other, "resolve_expression"):
            other = Value(other)
        if reversed:
            return CombinedExpression(other, connector, self)
        return CombinedExpression(self, connector, other)

    def __neg__(self) -> CombinedExpression:
        return self._combine(-1, self.MUL, False)

    def __add__(self, other: Any) -> CombinedExpression:
        return self._combine(other, self.ADD, False)

    def __sub__(self, other: Any) -> CombinedExpression:
        return self._combine(other, self.SUB, False)

    def __mul__(self, other: Any) -> CombinedExpression:
        return self._combine(other, self.MUL, False)

    def __truediv__(self, other: Any) -> CombinedExpression:
        return self._combine(other, self.DIV, False)

    def __mod__(self, other: Any) -> CombinedExpression:
        return self._combine(other, self.MOD, False)

    def __pow__(self, other: Any) -> CombinedExpression:
        return self._combine(other, self.POW, False)

    def __radd__(self, other: Any) -> CombinedExpression:
        return self._combine(other, self.ADD, True)

    def __rsub__(self, other: Any) -> CombinedExpression:
        return self._combine(other, self.SUB, True)

    def __rmul__(self, other: Any) -> CombinedExpression:
        return self._combine(other, self.MUL, True)

    def __rtruediv__(self, other: Any) -> CombinedExpression:
        return self._combine(other, self.DIV, True)

    def __rmod__(self, other: Any) -> CombinedExpression:
        return self._combine(other, self.MOD, True)

    def __rpow__(self, other: Any) -> CombinedExpression:
        return self._combine(other, self.POW, True)

    def __and__(self, other: Any) -> Any:
        if getattr(self, "conditional", False) and getattr(other, "conditional", False):
            from dorm.models.query_utils import Q

            return Q(self) & Q(other)
        raise NotImplementedError("Use .bitand() / .bitor() for bitwise logical operations.")

    def __or__(self, other: Any) -> Any:
        if getattr(self, "conditional", False) and getattr(other, "conditional", False):
            from dorm.models.query_utils import Q

            return Q(self) | Q(other)
        raise NotImplementedError("Use .bitand() / .bitor() for bitwise logical operations.")


class BaseExpression:
    """A node of a query's expression tree."""

    is_summary = False
    contains_aggregate = False
    contains_over_clause = False
    filterable = True
    _output_field: Any = None

    @property
    def conditional(self) -> bool:
        """Usable as a filter() condition: a boolean output (``Case(..., output_field=
        BooleanField())``), as Django. Lookups, ``Exists`` and ``Q`` are always conditional."""
        from dorm.models import fields as f

        try:
            return isinstance(self._output_field_or_none, f.BooleanField)
        except (AttributeError, FieldError):  # unresolved F() sources, mixed types
            return False

    def __init__(self, output_field: Any = None) -> None:
        if output_field is not None:
            self._output_field = output_field

    def get_source_expressions(self) -> list[Any]:
        return []

    def set_source_expressions(self, exprs: Sequence[Any]) -> None:
        if exprs:
            raise TypeError(f"{type(self).__name__} has no source expressions.")

    def resolve_expression(
        self,
        query: Any = None,
        allow_joins: bool = True,
        reuse: Any = None,
        summarize: bool = False,
        for_save: bool = False,
    ) -> Any:
        c = self.copy()
        c.set_source_expressions(
            [
                expr.resolve_expression(query, allow_joins, reuse, summarize, for_save)
                if expr is not None
                else None
                for expr in c.get_source_expressions()
            ]
        )
        c.contains_aggregate = (
            any(getattr(e, "contains_aggregate", False) for e in c.get_source_expressions())
            or type(c).contains_aggregate
        )
        return c

    def copy(self) -> Any:
        return copy.copy(self)

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        raise NotImplementedError(f"{type(self).__name__} cannot be compiled.")

    def cache_key(self) -> Any:
        """Hashable shape of this node, or ``None`` when its SQL must not be cached."""
        return None

    def collect_params(self, compiler: Any, connection: Any) -> list[Any]:
        """The parameters ``as_sql`` would return (used on compiled-SQL cache hits)."""
        return self.as_sql(compiler, connection)[1]

    @property
    def output_field(self) -> Any:
        field = self._resolve_output_field()
        if field is None:
            raise FieldError(f"Cannot resolve the output type of {self!r}; set output_field=...")
        return field

    @property
    def _output_field_or_none(self) -> Any:
        # None only when the type is unknown; a conflict (CharField + IntegerField) raises
        # FieldError, as Django.
        return self._resolve_output_field()

    def _resolve_output_field(self) -> Any:
        if self._output_field is not None:
            return self._output_field
        sources = [s._output_field_or_none for s in self.get_source_expressions() if s is not None]
        sources = [s for s in sources if s is not None]
        if not sources:
            return None
        first = sources[0]
        for other in sources[1:]:
            if not isinstance(other, type(first)) and not isinstance(first, type(other)):
                from dorm.models import fields as f

                numeric = (f.IntegerField, f.FloatField, f.DecimalField)
                if isinstance(first, numeric) and isinstance(other, numeric):
                    if isinstance(first, f.DecimalField) or isinstance(other, f.DecimalField):
                        return f.DecimalField()
                    if isinstance(first, f.FloatField) or isinstance(other, f.FloatField):
                        return f.FloatField()
                    continue
                raise FieldError(
                    f"Expression {self!r} mixes types {type(first).__name__} and "
                    f"{type(other).__name__}; set output_field=..."
                )
        return first

    def get_db_converters(self, connection: Any) -> list[Any]:
        field = self._output_field_or_none
        if field is None:
            return []
        converters = list(field.get_db_converters(connection))
        # A computed value has its output field's Python type whatever the database returns
        # (AVG(integer) is numeric on PostgreSQL, ROUND() a double on SQLite), as Django.
        internal = field.get_internal_type()
        if internal == "FloatField":
            converters.append(_to_float)
        elif internal.endswith("IntegerField") or internal.endswith("AutoField"):
            converters.append(_to_int)
        elif internal == "DecimalField" and not converters:
            converters.append(_to_decimal)
        return converters

    def get_group_by_cols(self) -> list[Any]:
        if not self.contains_aggregate:
            return [self]
        cols: list[Any] = []
        for source in self.get_source_expressions():
            if source is not None:
                cols.extend(source.get_group_by_cols())
        return cols

    def flatten(self) -> Iterator[Any]:
        yield self
        for expr in self.get_source_expressions():
            if expr is not None:
                if hasattr(expr, "flatten"):
                    yield from expr.flatten()
                else:
                    yield expr

    def asc(self, **kwargs: Any) -> OrderBy:
        return OrderBy(self, **kwargs)

    def desc(self, **kwargs: Any) -> OrderBy:
        return OrderBy(self, descending=True, **kwargs)

    def select_format(self, compiler: Any, sql: str, params: list[Any]) -> tuple[str, list[Any]]:
        return sql, params


def _to_float(value: Any) -> Any:
    return value if value is None or isinstance(value, float) else float(value)


def _to_int(value: Any) -> Any:
    return value if value is None or isinstance(value, int) else int(value)


def _to_decimal(value: Any) -> Any:
    if value is None or isinstance(value, decimal.Decimal):
        return value
    if isinstance(value, float):
        return decimal.Context(prec=15).create_decimal_from_float(value)
    return decimal.Decimal(str(value))


class Expression(BaseExpression, Combinable):
    """An expression usable in arithmetic, filters, annotations and ordering."""

    def __repr__(self) -> str:
        args = ", ".join(repr(e) for e in self.get_source_expressions())
        return f"{type(self).__name__}({args})"


class F(Combinable):
    """A reference to a field (or annotation) of the model being queried."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"F({self.name})"

    def resolve_expression(
        self,
        query: Any = None,
        allow_joins: bool = True,
        reuse: Any = None,
        summarize: bool = False,
        for_save: bool = False,
    ) -> Any:
        if query is None:
            raise FieldError(f"F({self.name!r}) can only be used inside a query.")
        return query.resolve_ref(self.name, allow_joins, reuse, summarize)

    def asc(self, **kwargs: Any) -> OrderBy:
        return OrderBy(self, **kwargs)

    def desc(self, **kwargs: Any) -> OrderBy:
        return OrderBy(self, descending=True, **kwargs)

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.name == self.name  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self), self.name))

    def cache_key(self) -> Any:
        # Shape only: F("x") resolves the same way for the same model (part of the key).
        return (type(self).__name__, self.name)

    def copy(self) -> F:
        return copy.copy(self)


class OuterRef(F):
    """A reference to a field of the outer query, inside a ``Subquery``/``Exists``."""

    def resolve_expression(self, *args: Any, **kwargs: Any) -> Any:
        if isinstance(self.name, OuterRef):
            return self.name
        return ResolvedOuterRef(self.name)


class ResolvedOuterRef(F):
    contains_aggregate = False

    def resolve_expression(self, query: Any = None, *args: Any, **kwargs: Any) -> Any:
        return query.resolve_outer_ref(self.name) if hasattr(query, "resolve_outer_ref") else self

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        raise FieldError(
            "This queryset contains a reference to an outer query and may only be used in "
            "a subquery."
        )

    def get_group_by_cols(self) -> list[Any]:
        return []


def _python_output_field(value: Any) -> Any:
    from dorm.models import fields as f

    if isinstance(value, bool):
        return f.BooleanField()
    if isinstance(value, int):
        return f.IntegerField()
    if isinstance(value, float):
        return f.FloatField()
    if isinstance(value, decimal.Decimal):
        return f.DecimalField()
    if isinstance(value, str):
        return f.CharField()
    if isinstance(value, datetime.datetime):
        return f.DateTimeField()
    if isinstance(value, datetime.date):
        return f.DateField()
    if isinstance(value, datetime.time):
        return f.TimeField()
    if isinstance(value, datetime.timedelta):
        return f.DurationField()
    if isinstance(value, bytes):
        return f.BinaryField()
    import uuid

    if isinstance(value, uuid.UUID):
        return f.UUIDField()
    return None


class Value(Expression):
    """A literal value, always sent as a parameter."""

    for_save = False

    def __init__(self, value: Any, output_field: Any = None) -> None:
        super().__init__(output_field)
        self.value = value

    def __repr__(self) -> str:
        return f"Value({self.value!r})"

    def resolve_expression(
        self,
        query: Any = None,
        allow_joins: bool = True,
        reuse: Any = None,
        summarize: bool = False,
        for_save: bool = False,
    ) -> Any:
        c = self.copy()
        c.for_save = for_save
        return c

    def _resolve_output_field(self) -> Any:
        if self._output_field is not None:
            return self._output_field
        return _python_output_field(self.value)

    def _param(self, connection: Any) -> Any:
        field = self._output_field_or_none
        if field is not None and self.value is not None:
            if self.for_save:
                return field.get_db_prep_save(self.value, connection)
            return field.get_db_prep_value(self.value, connection)
        return self.value

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        if self.value is None:
            return "NULL", []
        return "%s", [self._param(connection)]

    def cache_key(self) -> Any:
        return ("Value", self.value is None, type(self._output_field_or_none))

    def collect_params(self, compiler: Any, connection: Any) -> list[Any]:
        return [] if self.value is None else [self._param(connection)]

    def get_group_by_cols(self) -> list[Any]:
        return []


class Col(Expression):
    """A column of a table alias in the query."""

    contains_column_references = True

    def __init__(self, alias: str | None, target: Any, output_field: Any = None) -> None:
        super().__init__(output_field if output_field is not None else target)
        self.alias = alias
        self.target = target

    def __repr__(self) -> str:
        return (
            f"Col({self.alias}, "
            f"{self.target.model._meta.label if self.target.model else ''}.{self.target.name})"
        )

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        qn = compiler.quote_name
        if self.alias is None:
            return qn(self.target.column), []
        return f"{qn(self.alias)}.{qn(self.target.column)}", []

    def cache_key(self) -> Any:
        return ("Col", self.alias, self.target.column)

    def collect_params(self, compiler: Any, connection: Any) -> list[Any]:
        return []

    def resolve_expression(self, *args: Any, **kwargs: Any) -> Any:
        return self

    def relabeled_clone(self, change_map: dict[str, str]) -> Col:
        return Col(change_map.get(self.alias, self.alias), self.target, self._output_field)  # type: ignore[arg-type]

    def get_group_by_cols(self) -> list[Any]:
        return [self]

    def get_db_converters(self, connection: Any) -> list[Any]:
        if self.target is self._output_field:
            return self._output_field.get_db_converters(connection)  # type: ignore[no-any-return]
        return [*self._output_field.get_db_converters(connection)]


class Ref(Expression):
    """A reference to a selected annotation by its alias (ORDER BY / GROUP BY)."""

    def __init__(self, refs: str, source: Any) -> None:
        super().__init__()
        self.refs = refs
        self.source = source

    def get_source_expressions(self) -> list[Any]:
        return [self.source]

    def set_source_expressions(self, exprs: Sequence[Any]) -> None:
        (self.source,) = exprs

    def resolve_expression(self, *args: Any, **kwargs: Any) -> Any:
        return self

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        return compiler.quote_name(self.refs), []

    def cache_key(self) -> Any:
        return ("Ref", self.refs)

    def collect_params(self, compiler: Any, connection: Any) -> list[Any]:
        return []

    def get_group_by_cols(self) -> list[Any]:
        return [self]


class CombinedExpression(Expression):
    """``lhs <connector> rhs``."""

    def __init__(self, lhs: Any, connector: str, rhs: Any, output_field: Any = None) -> None:
        super().__init__(output_field)
        self.lhs = lhs
        self.connector = connector
        self.rhs = rhs

    def __repr__(self) -> str:
        return f"{self.lhs!r} {self.connector.replace('%%', '%')} {self.rhs!r}"

    def get_source_expressions(self) -> list[Any]:
        return [self.lhs, self.rhs]

    def set_source_expressions(self, exprs: Sequence[Any]) -> None:
        self.lhs, self.rhs = exprs

    def _resolve_output_field(self) -> Any:
        from dorm.models import fields as f

        if self._output_field is not None:
            return self._output_field
        lhs = self.lhs._output_field_or_none
        rhs = self.rhs._output_field_or_none
        temporal = (f.DateField, f.TimeField)
        kind = self._temporal_kind()
        if kind in ("shift", "shift_swapped"):
            moved = lhs if kind == "shift" else rhs
            if isinstance(moved, f.DateField) and not isinstance(moved, f.DateTimeField):
                return f.DateTimeField()  # date +/- interval is a timestamp (Django)
            return moved
        if isinstance(lhs, temporal) and isinstance(rhs, temporal) and self.connector == "-":
            return f.DurationField()
        if self.connector in (self.MUL, self.DIV) and (
            (isinstance(lhs, f.DurationField) and isinstance(rhs, (f.IntegerField, f.FloatField)))
            or (
                self.connector == self.MUL
                and isinstance(lhs, (f.IntegerField, f.FloatField))
                and isinstance(rhs, f.DurationField)
            )
        ):
            return f.DurationField()
        if (
            self.connector == self.DIV
            and isinstance(lhs, f.IntegerField)
            and isinstance(rhs, f.IntegerField)
        ):
            return f.IntegerField()
        try:
            return super()._resolve_output_field()
        except FieldError:
            op = self.connector.replace("%%", "%")

            def show(e: Any) -> str:
                target = getattr(e, "target", None)  # a column: its field's name
                return str(target.name) if target is not None else repr(e)

            raise FieldError(
                f"Cannot infer the type of {show(self.lhs)} {op} {show(self.rhs)}: {op!r} "
                f"between {type(lhs).__name__} and {type(rhs).__name__}. Wrap it in "
                "ExpressionWrapper(..., output_field=...)."
            ) from None

    def _temporal_kind(self) -> str | None:
        """``shift``: date/time +/- duration (``shift_swapped``: duration + date/time);
        ``diff``: date/time - date/time of one type; None otherwise."""
        if self.connector not in (self.ADD, self.SUB):
            return None
        lhs = _internal_type(self.lhs)
        rhs = _internal_type(self.rhs)
        temporal = ("DateField", "DateTimeField", "TimeField")
        if lhs in temporal and rhs == "DurationField":
            return "shift"
        if lhs == "DurationField" and rhs in temporal and self.connector == self.ADD:
            return "shift_swapped"
        if lhs in temporal and lhs == rhs and self.connector == self.SUB:
            return "diff"
        return None

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        lhs_sql, lhs_params = compiler.compile(self.lhs)
        rhs_sql, rhs_params = compiler.compile(self.rhs)
        if self.connector == self.POW:
            return f"POWER({lhs_sql}, {rhs_sql})", [*lhs_params, *rhs_params]
        kind = self._temporal_kind()
        if kind is not None:
            # Date/time arithmetic has its own SQL per backend (SQLite stores text).
            ops = connection.ops
            if kind == "diff":
                sql = ops.subtract_temporals(_internal_type(self.lhs), lhs_sql, rhs_sql)
                return sql, [*lhs_params, *rhs_params]
            if kind == "shift_swapped":
                sql = ops.combine_duration_expression(self.connector, rhs_sql, lhs_sql)
                return sql, [*rhs_params, *lhs_params]
            sql = ops.combine_duration_expression(self.connector, lhs_sql, rhs_sql)
            return sql, [*lhs_params, *rhs_params]
        if self.connector == self.DIV:
            field = self._output_field_or_none
            if field is not None and field.get_internal_type() == "DecimalField":
                # A decimal quotient, never an integer division (SQLite stores 45.00 as 45).
                lhs_sql = connection.ops.decimal_dividend_sql(lhs_sql)
        return f"({lhs_sql} {self.connector} {rhs_sql})", [*lhs_params, *rhs_params]

    def cache_key(self) -> Any:
        lk, rk = self.lhs.cache_key(), self.rhs.cache_key()
        if lk is None or rk is None:
            return None
        return ("Combined", self.connector, lk, rk)

    def collect_params(self, compiler: Any, connection: Any) -> list[Any]:
        lhs = self.lhs.collect_params(compiler, connection)
        rhs = self.rhs.collect_params(compiler, connection)
        if self._temporal_kind() == "shift_swapped":
            return [*rhs, *lhs]
        return [*lhs, *rhs]


def _internal_type(expr: Any) -> str | None:
    try:
        field = expr._output_field_or_none
    except (AttributeError, FieldError):
        return None
    return field.get_internal_type() if field is not None else None  # type: ignore[no-any-return]


class ExpressionWrapper(Expression):
    """Give an expression an explicit ``output_field``."""

    def __init__(self, expression: Any, output_field: Any) -> None:
        super().__init__(output_field)
        self.expression = expression

    def get_source_expressions(self) -> list[Any]:
        return [self.expression]

    def set_source_expressions(self, exprs: Sequence[Any]) -> None:
        (self.expression,) = exprs

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        return compiler.compile(self.expression)  # type: ignore[no-any-return]

    def cache_key(self) -> Any:
        key = self.expression.cache_key()
        return None if key is None else ("Wrapper", key, type(self._output_field))

    def collect_params(self, compiler: Any, connection: Any) -> list[Any]:
        return self.expression.collect_params(compiler, connection)  # type: ignore[no-any-return]


class Func(Expression):
    """An SQL function call: ``function(arg, arg, ...)``; subclass to add functions."""

    function: str | None = None
    template = "%(function)s(%(expressions)s)"
    arg_joiner = ", "
    arity: int | None = None

    def __init__(self, *expressions: Any, output_field: Any = None, **extra: Any) -> None:
        if self.arity is not None and len(expressions) != self.arity:
            raise TypeError(
                f"{type(self).__name__} takes exactly {self.arity} argument(s) "
                f"({len(expressions)} given)."
            )
        super().__init__(output_field)
        self.source_expressions = [self._parse(e) for e in expressions]
        self.extra = extra

    @staticmethod
    def _parse(arg: Any) -> Any:
        if hasattr(arg, "resolve_expression"):
            return arg
        if isinstance(arg, str):
            return F(arg)
        return Value(arg)

    def get_source_expressions(self) -> list[Any]:
        return self.source_expressions

    def set_source_expressions(self, exprs: Sequence[Any]) -> None:
        self.source_expressions = list(exprs)

    def copy(self) -> Any:
        c = copy.copy(self)
        c.source_expressions = list(self.source_expressions)
        c.extra = dict(self.extra)
        return c

    def as_sql(
        self,
        compiler: Any,
        connection: Any,
        function: str | None = None,
        template: str | None = None,
        arg_joiner: str | None = None,
        **extra_context: Any,
    ) -> tuple[str, list[Any]]:
        vendor_method = getattr(self, f"as_{connection.vendor}", None)
        if vendor_method is not None and not extra_context.pop("_vendor_done", False):
            return vendor_method(compiler, connection)  # type: ignore[no-any-return]
        sql_parts, params = [], []
        for arg in self.source_expressions:
            arg_sql, arg_params = compiler.compile(arg)
            sql_parts.append(arg_sql)
            params.extend(arg_params)
        data = {**self.extra, **extra_context}
        if function is not None:
            data["function"] = function
        else:
            data.setdefault("function", self.function)
        template = template or data.get("template", self.template)
        joiner = arg_joiner or data.get("arg_joiner", self.arg_joiner)
        data["expressions"] = data["field"] = joiner.join(sql_parts)
        return template % data, params

    def cache_key(self) -> Any:
        keys = []
        for e in self.source_expressions:
            k = e.cache_key()
            if k is None:
                return None
            keys.append(k)
        try:
            extra = tuple(sorted((k, v) for k, v in self.extra.items() if _hashable(v)))
        except TypeError:
            return None
        return (type(self), self.function, tuple(keys), extra)


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


class OrderBy(Expression):
    """``expr ASC|DESC [NULLS FIRST|LAST]``."""

    def __init__(
        self,
        expression: Any,
        descending: bool = False,
        nulls_first: bool | None = None,
        nulls_last: bool | None = None,
    ) -> None:
        if nulls_first and nulls_last:
            raise ValueError("nulls_first and nulls_last are mutually exclusive.")
        super().__init__()
        self.expression = expression
        self.descending = descending
        self.nulls_first = nulls_first
        self.nulls_last = nulls_last

    def __repr__(self) -> str:
        return f"OrderBy({self.expression!r}, descending={self.descending})"

    def get_source_expressions(self) -> list[Any]:
        return [self.expression]

    def set_source_expressions(self, exprs: Sequence[Any]) -> None:
        (self.expression,) = exprs

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        sql, params = compiler.compile(self.expression)
        direction = "DESC" if self.descending else "ASC"
        if self.nulls_first or self.nulls_last:
            if connection.features.supports_nulls_ordering:
                sql = f"{sql} {direction} NULLS {'FIRST' if self.nulls_first else 'LAST'}"
            else:
                # Emulate: sort on "IS NULL" first.
                null_first = "DESC" if self.nulls_first else "ASC"
                sql = f"{sql} IS NULL {null_first}, {sql} {direction}"
                params = params * 2
            return sql, params
        return f"{sql} {direction}", params

    def cache_key(self) -> Any:
        key = self.expression.cache_key()
        if key is None:
            return None
        return ("OrderBy", key, self.descending, self.nulls_first, self.nulls_last)

    def collect_params(self, compiler: Any, connection: Any) -> list[Any]:
        params = self.expression.collect_params(compiler, connection)
        if (
            self.nulls_first or self.nulls_last
        ) and not connection.features.supports_nulls_ordering:
            return params * 2  # type: ignore[no-any-return]
        return params  # type: ignore[no-any-return]

    def reverse_ordering(self) -> OrderBy:
        c = copy.copy(self)
        c.descending = not self.descending
        if self.nulls_first or self.nulls_last:
            c.nulls_first, c.nulls_last = self.nulls_last, self.nulls_first
        return c

    def get_group_by_cols(self) -> list[Any]:
        return self.expression.get_group_by_cols()  # type: ignore[no-any-return]


class Star(Expression):
    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        return "*", []

    def cache_key(self) -> Any:
        return ("Star",)


class RawSQL(Expression):
    """Explicitly raw SQL with bound parameters: ``RawSQL("col * %s", [2])``."""

    def __init__(self, sql: str, params: Sequence[Any], output_field: Any = None) -> None:
        super().__init__(output_field)
        self.sql = sql
        self.params = list(params)

    def __repr__(self) -> str:
        return f"RawSQL({self.sql!r}, {self.params!r})"

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        return f"({self.sql})", list(self.params)

    def cache_key(self) -> Any:
        return ("RawSQL", self.sql, len(self.params))

    def collect_params(self, compiler: Any, connection: Any) -> list[Any]:
        return list(self.params)


# Subqueries -----------------------------------------------------------------------------


def relabel(node: Any, change_map: dict[str, str]) -> Any:
    """A copy of an expression tree with table aliases renamed per ``change_map``."""
    from dorm.sql.where import WhereNode

    if isinstance(node, Col):
        return node.relabeled_clone(change_map)
    if isinstance(node, WhereNode):
        return WhereNode(
            [relabel(c, change_map) for c in node.children], node.connector, node.negated
        )
    if hasattr(node, "relabeled_clone") and not isinstance(node, BaseExpression):
        return node.relabeled_clone(change_map)
    if isinstance(node, Subquery):
        # A nested subquery's references to this query's tables (resolved OuterRefs).
        c = node.copy()
        c.query.where = relabel(c.query.where, change_map)
        c.query.annotations = {k: relabel(v, change_map) for k, v in c.query.annotations.items()}
        return c
    if isinstance(node, BaseExpression):
        c = node.copy()
        sources = c.get_source_expressions()
        if sources:
            c.set_source_expressions(
                [relabel(s, change_map) if s is not None else None for s in sources]
            )
        if (
            hasattr(c, "filter")
            and getattr(c, "filter", None) is not None
            and hasattr(c.filter, "as_sql")
        ):
            c.filter = relabel(c.filter, change_map)
        if hasattr(c, "rhs_is_expr") and not c.rhs_is_expr:
            pass
        return c
    return node


def resolve_outer_refs(node: Any, outer: Any) -> Any:
    """Replace ``OuterRef`` placeholders in a subquery's tree with the outer query's columns."""
    from dorm.sql.where import WhereNode

    if isinstance(node, ResolvedOuterRef):
        return outer.resolve_ref(node.name)
    if isinstance(node, OuterRef):
        # OuterRef(OuterRef("x")) of a nested subquery: one level further out now.
        return node.resolve_expression()
    if isinstance(node, WhereNode):
        return WhereNode(
            [resolve_outer_refs(c, outer) for c in node.children], node.connector, node.negated
        )
    if isinstance(node, Subquery):
        # A nested subquery: its references to the query ``outer`` is the outer query of.
        c = node.copy()
        c.query.where = resolve_outer_refs(c.query.where, outer)
        c.query.annotations = {
            k: resolve_outer_refs(v, outer) for k, v in c.query.annotations.items()
        }
        return c
    if isinstance(node, BaseExpression):
        sources = node.get_source_expressions()
        if not sources and not (
            hasattr(node, "filter") and getattr(node, "filter", None) is not None
        ):
            return node
        c = node.copy()
        c.set_source_expressions(
            [resolve_outer_refs(s, outer) if s is not None else None for s in sources]
        )
        if getattr(c, "filter", None) is not None and hasattr(c.filter, "as_sql"):
            c.filter = resolve_outer_refs(c.filter, outer)
        return c
    return node


class Subquery(BaseExpression, Combinable):
    """A QuerySet used as a value: ``Subquery(qs.values("x")[:1])`` (may use ``OuterRef``)."""

    template = "(%(subquery)s)"
    contains_aggregate = False
    is_subquery = True
    _counter = 0

    def __init__(self, queryset: Any, output_field: Any = None, **extra: Any) -> None:
        super().__init__(output_field)
        self.query = getattr(queryset, "query", queryset).clone()
        self.query.subquery = True
        self.extra = extra

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.query.model.__name__ if self.query.model else ''})"

    def get_source_expressions(self) -> list[Any]:
        return []

    def copy(self) -> Any:
        c = copy.copy(self)
        c.query = self.query.clone()
        return c

    def _resolve_output_field(self) -> Any:
        if self._output_field is not None:
            return self._output_field
        return self.query._output_field_or_none

    def resolve_expression(
        self,
        query: Any = None,
        allow_joins: bool = True,
        reuse: Any = None,
        summarize: bool = False,
        for_save: bool = False,
    ) -> Any:
        c = self.copy()
        inner = c.query
        # Give the inner tables their own aliases so a correlated reference to the same
        # table in the outer query stays unambiguous.
        Subquery._counter += 1
        prefix = f"U{Subquery._counter}_"
        change_map = {inner.base_alias: f"{prefix}0"}
        for i, join_alias in enumerate(inner.joins, start=1):
            change_map[join_alias] = f"{prefix}{i}"
        inner.base_alias = change_map[inner.base_alias]
        new_joins = {}
        for old_alias, join in inner.joins.items():
            j = join.copy()
            j.alias = change_map[old_alias]
            j.parent_alias = change_map.get(j.parent_alias, j.parent_alias)
            new_joins[j.alias] = j
        inner.joins = new_joins
        inner.where = relabel(inner.where, change_map)
        inner.annotations = {k: relabel(v, change_map) for k, v in inner.annotations.items()}
        inner.order_by = tuple(
            relabel(o, change_map) if not isinstance(o, str) else o for o in inner.order_by
        )
        if query is not None:
            inner.where = resolve_outer_refs(inner.where, query)
            inner.annotations = {
                k: resolve_outer_refs(v, query) for k, v in inner.annotations.items()
            }
        return c

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        sql, params = self.query.get_compiler(connection).as_sql()
        return self.template % {"subquery": sql, **self.extra}, params

    def get_group_by_cols(self) -> list[Any]:
        return [self]

    def cache_key(self) -> Any:
        return None


class Exists(Subquery):
    """``EXISTS (subquery)``: a boolean usable in ``filter()`` and ``annotate()``."""

    template = "EXISTS(%(subquery)s)"
    conditional = True

    def __init__(self, queryset: Any, negated: bool = False, **kwargs: Any) -> None:
        super().__init__(queryset, **kwargs)
        self.negated = negated
        q = self.query
        q.values_select = ()
        q.annotation_select_mask = set()
        q.order_by = ()
        q.default_ordering = False
        if not q.is_sliced:
            q.high_mark = 1

    def __invert__(self) -> Exists:
        c = self.copy()
        c.negated = not self.negated
        return c

    def _resolve_output_field(self) -> Any:
        from dorm.models import fields as f

        return f.BooleanField()

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        sql, params = super().as_sql(compiler, connection)
        return (f"NOT {sql}" if self.negated else sql), params

    def select_format(self, compiler: Any, sql: str, params: list[Any]) -> tuple[str, list[Any]]:
        return f"CASE WHEN {sql} THEN 1 ELSE 0 END", params

    def get_db_converters(self, connection: Any) -> list[Any]:
        return [lambda v: v if v is None else bool(v)]


# Window functions -----------------------------------------------------------------------


class Window(Expression):
    """``expression OVER (PARTITION BY ... ORDER BY ... frame)``."""

    contains_over_clause = True
    filterable = False

    def __init__(
        self,
        expression: Any,
        partition_by: Any = None,
        order_by: Any = None,
        frame: Any = None,
        output_field: Any = None,
    ) -> None:
        super().__init__(output_field)
        self.source_expression = (
            expression if hasattr(expression, "resolve_expression") else F(expression)
        )
        if partition_by is not None and not isinstance(partition_by, (list, tuple)):
            partition_by = [partition_by]
        self.partition_by = [F(p) if isinstance(p, str) else p for p in (partition_by or [])]
        if order_by is not None and not isinstance(order_by, (list, tuple)):
            order_by = [order_by]
        orders = []
        for o in order_by or []:
            if isinstance(o, str):
                orders.append(OrderBy(F(o.lstrip("-")), descending=o.startswith("-")))
            else:
                orders.append(o)
        self.order_by = orders
        self.frame = frame

    def _resolve_output_field(self) -> Any:
        if self._output_field is not None:
            return self._output_field
        return self.source_expression._output_field_or_none

    def get_source_expressions(self) -> list[Any]:
        return [self.source_expression, *self.partition_by, *self.order_by]

    def set_source_expressions(self, exprs: Sequence[Any]) -> None:
        exprs = list(exprs)
        self.source_expression = exprs[0]
        n = len(self.partition_by)
        self.partition_by = exprs[1 : 1 + n]
        self.order_by = exprs[1 + n :]

    def resolve_expression(self, *args: Any, **kwargs: Any) -> Any:
        c = super().resolve_expression(*args, **kwargs)
        c.contains_aggregate = False
        c.order_by = [o if isinstance(o, OrderBy) else OrderBy(o) for o in c.order_by]
        return c

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        from dorm.exceptions import NotSupportedError

        if not connection.features.supports_over_clause:
            raise NotSupportedError("This backend does not support window expressions.")
        expr_sql, params = compiler.compile(self.source_expression)
        parts = []
        if self.partition_by:
            cols = []
            for p in self.partition_by:
                s, pp = compiler.compile(p)
                cols.append(s)
                params.extend(pp)
            parts.append("PARTITION BY " + ", ".join(cols))
        if self.order_by:
            cols = []
            for o in self.order_by:
                s, pp = compiler.compile(o)
                cols.append(s)
                params.extend(pp)
            parts.append("ORDER BY " + ", ".join(cols))
        if self.frame is not None:
            s, pp = compiler.compile(self.frame)
            parts.append(s)
            params.extend(pp)
        return f"{expr_sql} OVER ({' '.join(parts)})", params

    def get_group_by_cols(self) -> list[Any]:
        return []


class WindowFrame(Expression):
    """``ROWS|RANGE BETWEEN start AND end``; ``start``/``end`` are offsets (None = unbounded)."""

    frame_type = "ROWS"

    def __init__(self, start: int | None = None, end: int | None = None) -> None:
        super().__init__()
        self.start = start
        self.end = end

    @staticmethod
    def _bound(value: int | None, preceding: bool) -> str:
        if value is None:
            return "UNBOUNDED PRECEDING" if preceding else "UNBOUNDED FOLLOWING"
        if value == 0:
            return "CURRENT ROW"
        if value < 0:
            return f"{abs(int(value))} PRECEDING"
        return f"{int(value)} FOLLOWING"

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        return (
            f"{self.frame_type} BETWEEN {self._bound(self.start, True)} AND "
            f"{self._bound(self.end, False)}",
            [],
        )


class RowRange(WindowFrame):
    frame_type = "ROWS"


class ValueRange(WindowFrame):
    frame_type = "RANGE"
