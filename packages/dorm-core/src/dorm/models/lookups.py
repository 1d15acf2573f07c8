"""Field lookups (``exact``, ``icontains``, ``in``, ...) and transforms (``year``, JSON keys).

A lookup compiles ``lhs <operator> rhs`` through the backend's ``ops.operators`` table, so
a backend changes a lookup's SQL without touching this module.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from dorm.exceptions import EmptyResultSet
from dorm.expressions import Col, Expression, Func, Value
from dorm.models import fields as f


class Lookup(Expression):
    """``lhs <lookup> rhs``; ``rhs`` is a value (bound as a parameter) or an expression."""

    lookup_name: str = ""
    prepare_rhs = True
    can_use_none_as_rhs = False
    conditional = True

    def __init__(self, lhs: Any, rhs: Any) -> None:
        super().__init__()
        self.lhs = lhs
        self.rhs = rhs
        if rhs is None and not self.can_use_none_as_rhs:
            raise ValueError(
                f"Cannot use None as a query value for the {self.lookup_name!r} lookup "
                "(use __isnull=True)."
            )
        self.rhs_is_expr = hasattr(rhs, "as_sql")
        if not self.rhs_is_expr:
            self.rhs = self.get_prep_lookup()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.lhs!r}, {self.rhs!r})"

    @property  # type: ignore[override]
    def contains_aggregate(self) -> bool:
        return bool(getattr(self.lhs, "contains_aggregate", False)) or bool(
            self.rhs_is_expr and getattr(self.rhs, "contains_aggregate", False)
        )

    @contains_aggregate.setter
    def contains_aggregate(self, value: bool) -> None:
        pass

    @property
    def lhs_field(self) -> Any:
        return self.lhs._output_field_or_none

    def get_source_expressions(self) -> list[Any]:
        return [self.lhs, self.rhs] if self.rhs_is_expr else [self.lhs]

    def set_source_expressions(self, exprs: Sequence[Any]) -> None:
        if self.rhs_is_expr:
            self.lhs, self.rhs = exprs
        else:
            (self.lhs,) = exprs

    def _resolve_output_field(self) -> Any:
        return f.BooleanField()

    def get_prep_lookup(self) -> Any:
        field = self.lhs_field
        if self.prepare_rhs and field is not None and hasattr(field, "get_prep_value"):
            return field.get_prep_value(self.rhs)
        return self.rhs

    def rhs_db_value(self, connection: Any) -> Any:
        field = self.lhs_field
        if field is not None and self.prepare_rhs:
            return field.get_db_prep_value(self.rhs, connection, prepared=True)
        return self.rhs

    def process_lhs(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        sql, params = compiler.compile(self.lhs)
        if not isinstance(self.lhs, Col):
            # A computed left-hand side (annotation, aggregate, function): the backend may
            # need to type it (SQLite: decimals compare as numbers only with NUMERIC affinity).
            field = self.lhs_field
            if field is not None:
                sql = connection.ops.computed_lookup_lhs_sql(sql, field.get_internal_type())
        return sql, params

    def process_rhs(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        if self.rhs_is_expr:
            sql, params = compiler.compile(self.rhs)
            if getattr(self.rhs, "is_subquery", False):
                sql = f"({sql})" if not sql.startswith("(") else sql
            return sql, params
        return "%s", [self.rhs_db_value(connection)]

    def rhs_params(self, compiler: Any, connection: Any) -> list[Any]:
        if self.rhs_is_expr:
            return self.rhs.collect_params(compiler, connection)  # type: ignore[no-any-return]
        return [self.rhs_db_value(connection)]

    def get_rhs_op(self, connection: Any, rhs: str) -> str:
        return str(connection.ops.operators[self.lookup_name] % rhs)

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        lhs_sql, lhs_params = self.process_lhs(compiler, connection)
        rhs_sql, rhs_params = self.process_rhs(compiler, connection)
        lhs_tpl = connection.ops.lookup_lhs.get(self.lookup_name)
        if lhs_tpl:
            lhs_sql = lhs_tpl % lhs_sql
        return f"{lhs_sql} {self.get_rhs_op(connection, rhs_sql)}", [*lhs_params, *rhs_params]

    def cache_key(self) -> Any:
        lk = self.lhs.cache_key()
        if lk is None:
            return None
        if self.rhs_is_expr:
            rk = self.rhs.cache_key()
            if rk is None:
                return None
        else:
            rk = self.rhs_shape()
        return (type(self), lk, rk)

    def rhs_shape(self) -> Any:
        return "%s"

    def collect_params(self, compiler: Any, connection: Any) -> list[Any]:
        return [
            *self.lhs.collect_params(compiler, connection),
            *self.rhs_params(compiler, connection),
        ]

    def get_group_by_cols(self) -> list[Any]:
        cols = list(self.lhs.get_group_by_cols())
        if self.rhs_is_expr and hasattr(self.rhs, "get_group_by_cols"):
            cols.extend(self.rhs.get_group_by_cols())
        return cols


class Transform(Func):
    """A function applied to a field before a lookup: ``pub_date__year=2024``."""

    lookup_name: str = ""
    arity = 1

    @property
    def lhs(self) -> Any:
        return self.source_expressions[0]

    def get_lookup(self, name: str) -> Any:
        field = self._output_field_or_none
        return field.get_lookup(name) if field is not None else None

    def get_transform(self, name: str) -> Any:
        field = self._output_field_or_none
        return field.get_transform(name) if field is not None else None


class BuiltinLookup(Lookup):
    pass


@f.Field.register_lookup
class Exact(BuiltinLookup):
    lookup_name = "exact"

    pass


class _Pattern(BuiltinLookup):
    """LIKE-based lookups: the value is escaped, then wrapped in wildcards."""

    pattern = "%s"

    def rhs_db_value(self, connection: Any) -> Any:
        value = self.rhs
        if value is None:
            return None
        return self.pattern % connection.ops.pattern_escape(str(value))

    def process_rhs(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        if self.rhs_is_expr:
            sql, params = compiler.compile(self.rhs)
            pattern = connection.ops.pattern_expr_template(self.pattern)
            return pattern % sql, params
        return "%s", [self.rhs_db_value(connection)]

    def get_prep_lookup(self) -> Any:
        return (
            self.rhs
            if hasattr(self.rhs, "as_sql")
            else (None if self.rhs is None else str(self.rhs))
        )


@f.Field.register_lookup
class IExact(_Pattern):
    lookup_name = "iexact"


@f.Field.register_lookup
class Contains(_Pattern):
    lookup_name = "contains"
    pattern = "%%%s%%"


@f.Field.register_lookup
class IContains(Contains):
    lookup_name = "icontains"


@f.Field.register_lookup
class StartsWith(_Pattern):
    lookup_name = "startswith"
    pattern = "%s%%"


@f.Field.register_lookup
class IStartsWith(StartsWith):
    lookup_name = "istartswith"


@f.Field.register_lookup
class EndsWith(_Pattern):
    lookup_name = "endswith"
    pattern = "%%%s"


@f.Field.register_lookup
class IEndsWith(EndsWith):
    lookup_name = "iendswith"


@f.Field.register_lookup
class GreaterThan(BuiltinLookup):
    lookup_name = "gt"


@f.Field.register_lookup
class GreaterThanOrEqual(BuiltinLookup):
    lookup_name = "gte"


@f.Field.register_lookup
class LessThan(BuiltinLookup):
    lookup_name = "lt"


@f.Field.register_lookup
class LessThanOrEqual(BuiltinLookup):
    lookup_name = "lte"


@f.Field.register_lookup
class In(BuiltinLookup):
    lookup_name = "in"

    def get_prep_lookup(self) -> Any:
        if isinstance(self.rhs, (str, bytes)) or not hasattr(self.rhs, "__iter__"):
            raise TypeError(
                f"The 'in' lookup needs an iterable of values, got {type(self.rhs).__name__}."
            )
        field = self.lhs_field
        values = []
        seen: set[Any] = set()
        for value in self.rhs:
            if value is None:
                continue  # NULL never matches IN (as Django)
            if field is not None:
                value = field.get_prep_value(value)
            try:
                if value in seen:
                    continue
                seen.add(value)
            except TypeError:
                pass
            values.append(value)
        return values

    def rhs_db_value(self, connection: Any) -> Any:
        field = self.lhs_field
        if field is None:
            return list(self.rhs)
        return [field.get_db_prep_value(v, connection, prepared=True) for v in self.rhs]

    def process_rhs(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        if self.rhs_is_expr:
            sql, params = compiler.compile(self.rhs)
            return (sql if sql.startswith("(") else f"({sql})"), params
        if not self.rhs:
            raise EmptyResultSet
        values = self.rhs_db_value(connection)
        return "(" + ", ".join(["%s"] * len(values)) + ")", values

    def rhs_params(self, compiler: Any, connection: Any) -> list[Any]:
        if self.rhs_is_expr:
            return self.rhs.collect_params(compiler, connection)  # type: ignore[no-any-return]
        if not self.rhs:
            raise EmptyResultSet
        return self.rhs_db_value(connection)  # type: ignore[no-any-return]

    def rhs_shape(self) -> Any:
        return ("in", len(self.rhs))

    def cache_key(self) -> Any:
        # An empty IN compiles to "matches nothing", which the compiler does not cache.
        return super().cache_key() if self.rhs_is_expr or self.rhs else None

    def get_rhs_op(self, connection: Any, rhs: str) -> str:
        return f"IN {rhs}"


@f.Field.register_lookup
class Range(BuiltinLookup):
    lookup_name = "range"

    def get_prep_lookup(self) -> Any:
        try:
            low, high = self.rhs
        except (TypeError, ValueError):
            raise TypeError("The 'range' lookup needs a (low, high) pair.") from None
        field = self.lhs_field
        if field is not None:
            return (field.get_prep_value(low), field.get_prep_value(high))
        return (low, high)

    def rhs_db_value(self, connection: Any) -> Any:
        field = self.lhs_field
        if field is None:
            return list(self.rhs)
        return [field.get_db_prep_value(v, connection, prepared=True) for v in self.rhs]

    def process_rhs(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        return "%s AND %s", self.rhs_db_value(connection)

    def rhs_params(self, compiler: Any, connection: Any) -> list[Any]:
        return self.rhs_db_value(connection)  # type: ignore[no-any-return]

    def get_rhs_op(self, connection: Any, rhs: str) -> str:
        return f"BETWEEN {rhs}"


@f.Field.register_lookup
class IsNull(BuiltinLookup):
    lookup_name = "isnull"
    prepare_rhs = False
    can_use_none_as_rhs = False

    def get_prep_lookup(self) -> Any:
        if not isinstance(self.rhs, bool):
            raise ValueError("The QuerySet value for an isnull lookup must be True or False.")
        return self.rhs

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        sql, params = self.process_lhs(compiler, connection)
        return f"{sql} IS {'' if self.rhs else 'NOT '}NULL", params

    def rhs_shape(self) -> Any:
        return ("isnull", self.rhs)

    def rhs_params(self, compiler: Any, connection: Any) -> list[Any]:
        return []


@f.Field.register_lookup
class Regex(BuiltinLookup):
    lookup_name = "regex"
    prepare_rhs = False

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        lhs_sql, lhs_params = self.process_lhs(compiler, connection)
        rhs_sql, rhs_params = self.process_rhs(compiler, connection)
        template = connection.ops.regex_lookup(self.lookup_name)
        return template % (lhs_sql, rhs_sql), [*lhs_params, *rhs_params]


@f.Field.register_lookup
class IRegex(Regex):
    lookup_name = "iregex"


# Date and time transforms ---------------------------------------------------------------


class Extract(Transform):
    """``EXTRACT(<lookup_name> FROM expr)`` through the backend's ``date_extract_sql``."""

    lookup_type = ""

    def __init__(self, expression: Any, lookup_name: str | None = None, **extra: Any) -> None:
        if lookup_name is not None:
            self.lookup_type = lookup_name
        elif not self.lookup_type:
            self.lookup_type = self.lookup_name
        super().__init__(expression, output_field=f.IntegerField(), **extra)

    def as_sql(self, compiler: Any, connection: Any, **kwargs: Any) -> tuple[str, list[Any]]:
        sql, params = compiler.compile(self.lhs)
        return connection.ops.date_extract_sql(self.lookup_type, sql), params

    def cache_key(self) -> Any:
        key = self.lhs.cache_key()
        return None if key is None else ("Extract", self.lookup_type, key)


class ExtractYear(Extract):
    lookup_name = "year"


class ExtractMonth(Extract):
    lookup_name = "month"


class ExtractDay(Extract):
    lookup_name = "day"


class ExtractWeekDay(Extract):
    lookup_name = "week_day"


class ExtractIsoWeekDay(Extract):
    lookup_name = "iso_week_day"


class ExtractWeek(Extract):
    lookup_name = "week"


class ExtractQuarter(Extract):
    lookup_name = "quarter"


class ExtractIsoYear(Extract):
    lookup_name = "iso_year"


class ExtractHour(Extract):
    lookup_name = "hour"


class ExtractMinute(Extract):
    lookup_name = "minute"


class ExtractSecond(Extract):
    lookup_name = "second"


class TruncDate(Transform):
    lookup_name = "date"

    def __init__(self, expression: Any, **extra: Any) -> None:
        super().__init__(expression, output_field=f.DateField(), **extra)

    def as_sql(self, compiler: Any, connection: Any, **kwargs: Any) -> tuple[str, list[Any]]:
        sql, params = compiler.compile(self.lhs)
        return connection.ops.datetime_cast_date_sql(sql), params

    def cache_key(self) -> Any:
        key = self.lhs.cache_key()
        return None if key is None else ("TruncDate", key)


class TruncTime(Transform):
    lookup_name = "time"

    def __init__(self, expression: Any, **extra: Any) -> None:
        super().__init__(expression, output_field=f.TimeField(), **extra)

    def as_sql(self, compiler: Any, connection: Any, **kwargs: Any) -> tuple[str, list[Any]]:
        sql, params = compiler.compile(self.lhs)
        return connection.ops.datetime_cast_time_sql(sql), params

    def cache_key(self) -> Any:
        key = self.lhs.cache_key()
        return None if key is None else ("TruncTime", key)


for _cls in (
    ExtractYear,
    ExtractMonth,
    ExtractDay,
    ExtractWeekDay,
    ExtractIsoWeekDay,
    ExtractWeek,
    ExtractQuarter,
    ExtractIsoYear,
):
    f.DateField.register_lookup(_cls)
for _cls in (ExtractHour, ExtractMinute, ExtractSecond, TruncDate, TruncTime):
    f.DateTimeField.register_lookup(_cls)
for _cls in (ExtractHour, ExtractMinute, ExtractSecond):
    f.TimeField.register_lookup(_cls)


# JSON key transforms --------------------------------------------------------------------


class KeyTransform(Transform):
    """``data__key__sub``: the JSON value at a key path, via the backend's ``json_key_sql``."""

    def __init__(self, key_name: str, expression: Any, **extra: Any) -> None:
        super().__init__(expression, output_field=f.JSONField(), **extra)
        self.key_name = str(key_name)

    def key_path(self) -> tuple[Any, list[str]]:
        keys = [self.key_name]
        lhs = self.lhs
        while isinstance(lhs, KeyTransform):
            keys.insert(0, lhs.key_name)
            lhs = lhs.lhs
        return lhs, keys

    def as_sql(self, compiler: Any, connection: Any, **kwargs: Any) -> tuple[str, list[Any]]:
        base, keys = self.key_path()
        sql, params = compiler.compile(base)
        key_sql, key_params = connection.ops.json_key_sql(sql, keys)
        return key_sql, [*params, *key_params]

    def cache_key(self) -> Any:
        base, keys = self.key_path()
        key = base.cache_key()
        return None if key is None else ("KeyTransform", key, len(keys))

    def get_lookup(self, name: str) -> Any:
        return _JSON_KEY_LOOKUPS.get(name) or super().get_lookup(name)


class KeyTransformFactory:
    def __init__(self, key_name: str) -> None:
        self.key_name = key_name

    def __call__(self, *args: Any, **kwargs: Any) -> KeyTransform:
        return KeyTransform(self.key_name, *args, **kwargs)


class _JSONValueMixin:
    """Compare a JSON key's value with a Python value encoded as JSON on the database side."""

    def rhs_db_value(self, connection: Any) -> Any:  # type: ignore[misc]
        return connection.ops.json_key_value_param(self.rhs)  # type: ignore[attr-defined]

    def process_rhs(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:  # type: ignore[misc]
        return connection.ops.json_key_value_sql(), [self.rhs_db_value(connection)]

    def get_prep_lookup(self) -> Any:  # type: ignore[misc]
        return self.rhs  # type: ignore[attr-defined]


class KeyTransformExact(_JSONValueMixin, Exact):
    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        if self.rhs is None:
            # data__key=None matches a JSON null at that key (as Django).
            lhs_sql, params = self.process_lhs(compiler, connection)
            return connection.ops.json_key_is_json_null_sql(lhs_sql), params
        return super().as_sql(compiler, connection)

    can_use_none_as_rhs = True

    def rhs_params(self, compiler: Any, connection: Any) -> list[Any]:
        return [] if self.rhs is None else [self.rhs_db_value(connection)]

    def rhs_shape(self) -> Any:
        return ("json", self.rhs is None)


class KeyTransformIsNull(IsNull):
    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        lhs = self.lhs
        assert isinstance(lhs, KeyTransform)
        base, keys = lhs.key_path()
        sql, params = compiler.compile(base)
        has_sql, has_params = connection.ops.json_has_key_sql(sql, keys)
        if self.rhs:
            return f"NOT ({has_sql})", [*params, *has_params]
        return has_sql, [*params, *has_params]


class _KeyText:
    """Lookups on a JSON key compare its text value."""

    def process_lhs(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:  # type: ignore[misc]
        lhs = self.lhs  # type: ignore[attr-defined]
        base, keys = lhs.key_path()
        sql, params = compiler.compile(base)
        text_sql, text_params = connection.ops.json_key_text_sql(sql, keys)
        return text_sql, [*params, *text_params]

    @property
    def lhs_field(self) -> Any:
        return None


def _key_text(base: type) -> type:
    return type(f"KeyText{base.__name__}", (_KeyText, base), {})


_JSON_KEY_LOOKUPS: dict[str, type] = {
    "exact": KeyTransformExact,
    "isnull": KeyTransformIsNull,
}
for _base in (
    IExact,
    Contains,
    IContains,
    StartsWith,
    IStartsWith,
    EndsWith,
    IEndsWith,
    Regex,
    IRegex,
):
    _JSON_KEY_LOOKUPS[_base.lookup_name] = _key_text(_base)


class _NumericKey(_KeyText):
    def rhs_db_value(self, connection: Any) -> Any:  # type: ignore[misc]
        return self.rhs  # type: ignore[attr-defined]

    def get_prep_lookup(self) -> Any:  # type: ignore[misc]
        return self.rhs  # type: ignore[attr-defined]

    def process_lhs(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:  # type: ignore[misc]
        lhs = self.lhs  # type: ignore[attr-defined]
        base, keys = lhs.key_path()
        sql, params = compiler.compile(base)
        val_sql, val_params = connection.ops.json_key_scalar_sql(sql, keys, self.rhs)  # type: ignore[attr-defined]
        return val_sql, [*params, *val_params]


for _base in (GreaterThan, GreaterThanOrEqual, LessThan, LessThanOrEqual):
    _JSON_KEY_LOOKUPS[_base.lookup_name] = type(
        f"KeyNumeric{_base.__name__}", (_NumericKey, _base), {}
    )


class _KeyIn(_NumericKey, In):
    def get_prep_lookup(self) -> Any:
        return list(self.rhs)

    def rhs_db_value(self, connection: Any) -> Any:
        return list(self.rhs)

    def process_lhs(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        lhs = self.lhs
        base, keys = lhs.key_path()
        sql, params = compiler.compile(base)
        sample = self.rhs[0] if self.rhs else ""
        val_sql, val_params = connection.ops.json_key_scalar_sql(sql, keys, sample)
        return val_sql, [*params, *val_params]


_JSON_KEY_LOOKUPS["in"] = _KeyIn


@f.JSONField.register_lookup
class HasKey(BuiltinLookup):
    lookup_name = "has_key"
    prepare_rhs = False

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        sql, params = compiler.compile(self.lhs)
        has_sql, has_params = connection.ops.json_has_key_sql(sql, [str(self.rhs)])
        return has_sql, [*params, *has_params]

    def collect_params(self, compiler: Any, connection: Any) -> list[Any]:
        return self.as_sql(compiler, connection)[1]


class _JSONContainment(BuiltinLookup):
    """JSON containment through ``ops.json_contains_sql`` / ``ops.json_contained_by_sql``;
    a backend without a containment operator raises ``NotSupportedError`` (as Django on
    SQLite)."""

    prepare_rhs = False
    ops_method = ""

    def get_prep_lookup(self) -> Any:
        return self.rhs

    def rhs_db_value(self, connection: Any) -> Any:
        return connection.ops.adapt_jsonfield_value(
            self.rhs, getattr(self.lhs_field, "encoder", None)
        )

    def process_rhs(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        if self.rhs_is_expr:
            return super().process_rhs(compiler, connection)
        return connection.ops.json_value_sql(), [self.rhs_db_value(connection)]

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        lhs_sql, lhs_params = self.process_lhs(compiler, connection)
        rhs_sql, rhs_params = self.process_rhs(compiler, connection)
        sql = getattr(connection.ops, self.ops_method)(lhs_sql, rhs_sql)
        return sql, [*lhs_params, *rhs_params]


@f.JSONField.register_lookup
class JSONContains(_JSONContainment):
    """``data__contains={"a": 1}``: the document contains the given one (jsonb ``@>``)."""

    lookup_name = "contains"
    ops_method = "json_contains_sql"


@f.JSONField.register_lookup
class JSONContainedBy(_JSONContainment):
    """``data__contained_by={...}``: the document is contained in the given one (``<@``)."""

    lookup_name = "contained_by"
    ops_method = "json_contained_by_sql"


@f.JSONField.register_lookup
class JSONExact(Exact):
    lookup_name = "exact"
    can_use_none_as_rhs = True

    def rhs_db_value(self, connection: Any) -> Any:
        return connection.ops.adapt_jsonfield_value(
            self.rhs, getattr(self.lhs_field, "encoder", None)
        )

    def process_rhs(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        if self.rhs_is_expr:
            return super().process_rhs(compiler, connection)
        return connection.ops.json_value_sql(), [self.rhs_db_value(connection)]

    def process_lhs(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        sql, params = super().process_lhs(compiler, connection)
        return connection.ops.json_column_sql(sql), params

    def get_prep_lookup(self) -> Any:
        return self.rhs


__all__ = [
    "Contains",
    "EndsWith",
    "Exact",
    "Extract",
    "GreaterThan",
    "GreaterThanOrEqual",
    "IContains",
    "IEndsWith",
    "IExact",
    "IRegex",
    "IStartsWith",
    "In",
    "IsNull",
    "KeyTransform",
    "LessThan",
    "LessThanOrEqual",
    "Lookup",
    "Range",
    "Regex",
    "StartsWith",
    "Transform",
    "Value",
    "json",
]
