"""PostgreSQL dialect: lookups, JSON (``jsonb``) operators, dates, value adaptation."""

from __future__ import annotations

import datetime
import json
import re
import uuid
import zoneinfo
from collections.abc import Sequence
from typing import Any

from dorm.conf import settings
from dorm.db.backends.base import BaseDatabaseOperations
from dorm.db.backends.base.operations import Converter
from dorm.exceptions import NotSupportedError
from dorm.models.fields import is_dorm_class
from dorm_postgres.driver import JsonbText

#: Extract lookups -> the EXTRACT field; each result is cast to integer (EXTRACT returns
#: numeric since PostgreSQL 14).
_EXTRACT = {
    "year": "YEAR",
    "month": "MONTH",
    "day": "DAY",
    "hour": "HOUR",
    "minute": "MINUTE",
    "week": "WEEK",  # ISO 8601 week number, as Django
    "quarter": "QUARTER",
    "iso_year": "ISOYEAR",
    "iso_week_day": "ISODOW",  # 1 = Monday ... 7 = Sunday
    "doy": "DOY",
}

_TRUNC = {"year", "quarter", "month", "week", "day", "hour", "minute", "second"}

#: LIKE lookups whose left-hand side is compared as text (``%s::text``), and upper-cased
#: for the case-insensitive ones (Django's ``lookup_cast``).
_TEXT_LOOKUPS = ("contains", "startswith", "endswith")
_UPPER_LOOKUPS = ("iexact", "icontains", "istartswith", "iendswith")


def _load_json(value: Any) -> Any:
    if isinstance(value, str):
        return json.loads(value)
    return value


def _round_sql(func: Any, compiler: Any) -> tuple[str, list[Any]]:
    # ROUND(x, n) exists for numeric only: round floats through numeric and back.
    expr, precision = func.source_expressions
    sql, params = compiler.compile(expr)
    p_sql, p_params = compiler.compile(precision)
    source = expr._output_field_or_none
    internal = source.get_internal_type() if source is not None else ""
    if internal == "DecimalField":
        return f"ROUND({sql}, {p_sql})", [*params, *p_params]
    if internal.endswith("IntegerField") or internal.endswith("AutoField"):
        return f"CAST(ROUND(CAST({sql} AS numeric), {p_sql}) AS bigint)", [*params, *p_params]
    return (
        f"CAST(ROUND(CAST({sql} AS numeric), {p_sql}) AS double precision)",
        [*params, *p_params],
    )


#: Internal types whose values psycopg binds inside an array as it binds them alone: the
#: columns ``bulk_insert_array_types`` passes as one array each.
_ARRAY_SAFE_TYPES = frozenset(
    {
        "AutoField",
        "BigAutoField",
        "SmallAutoField",
        "BooleanField",
        "CharField",
        "DateField",
        "DateTimeField",
        "DecimalField",
        "DurationField",
        "FloatField",
        "IntegerField",
        "BigIntegerField",
        "SmallIntegerField",
        "PositiveIntegerField",
        "PositiveBigIntegerField",
        "PositiveSmallIntegerField",
        "TextField",
        "TimeField",
        "UUIDField",
    }
)


_TYPMOD = re.compile(r"\s*\([^)]*\)")
#: What decides a column's type and the values bound for it.
_COLUMN_METHODS = ("db_type", "cast_db_type", "get_db_prep_value", "get_db_prep_save")


def _stock_column(field: Any) -> bool:
    """Whether dorm's own code decides ``field``'s column type and values (a project's
    subclass may change them: its values then keep a placeholder each)."""
    mro = type(field).__mro__
    for name in _COLUMN_METHODS:
        owner = next((k for k in mro if name in k.__dict__), None)
        if owner is not None and not is_dorm_class(owner):
            return False
    return True


class DatabaseOperations(BaseDatabaseOperations):
    operators = {
        **BaseDatabaseOperations.operators,
        # LIKE's default escape character is already the backslash.
        "iexact": "LIKE UPPER(%s)",
        "contains": "LIKE %s",
        "icontains": "LIKE UPPER(%s)",
        "startswith": "LIKE %s",
        "endswith": "LIKE %s",
        "istartswith": "LIKE UPPER(%s)",
        "iendswith": "LIKE UPPER(%s)",
        "regex": "~ %s",
        "iregex": "~* %s",
    }
    lookup_lhs = {
        **{name: "(%s)::text" for name in _TEXT_LOOKUPS},
        **{name: "UPPER((%s)::text)" for name in _UPPER_LOOKUPS},
    }

    def bulk_insert_array_types(self, fields: Sequence[Any]) -> list[str] | None:
        # A multi-row VALUES list costs PostgreSQL a parse and plan per placeholder; UNNEST
        # of one array per column is a short statement whatever the number of rows.
        types = []
        for field in fields:
            target = field.target_field if getattr(field, "is_relation", False) else field
            if not (_stock_column(field) and _stock_column(target)):
                return None
            if target.get_internal_type() not in _ARRAY_SAFE_TYPES:
                return None
            db_type = field.cast_db_type(self.connection)
            if not db_type:
                return None
            # Without its modifier: an explicit cast to varchar(n) would truncate a longer
            # value (the column's own assignment cast rejects it, as for VALUES).
            types.append(_TYPMOD.sub("", str(db_type)))
        return types

    cast_char_field_without_max_length = "varchar"

    # Identifiers -------------------------------------------------------------------------

    def max_name_length(self) -> int:
        return 63  # NAMEDATALEN - 1

    # Pagination, locking, inserts --------------------------------------------------------

    def limit_offset_sql(self, low_mark: int, high_mark: int | None) -> str:
        parts = []
        if high_mark is not None:
            parts.append(f"LIMIT {int(high_mark) - int(low_mark)}")
        if low_mark:
            parts.append(f"OFFSET {int(low_mark)}")  # OFFSET needs no LIMIT here
        return " ".join(parts)

    def regex_lookup(self, lookup_type: str) -> str:
        if lookup_type == "regex":
            return "(%s)::text ~ %s"
        return "(%s)::text ~* %s"

    def pattern_expr_template(self, pattern: str) -> str:
        """LIKE pattern around an expression (``contains=F("other")``).

        The expression's own wildcards are escaped, then it is wrapped in ``%``. The result
        is %-formatted once by the lookup (``template % sql``) and then handed to psycopg,
        so a literal ``%`` is written ``%%%%`` here.
        """
        sql = (
            r"REPLACE(REPLACE(REPLACE((%s)::text, E'\\', E'\\\\'), "
            r"E'%%%%', E'\\%%%%'), E'_', E'\\_')"
        )
        if pattern.startswith("%%"):
            sql = f"'%%%%' || {sql}"
        if pattern.endswith("%%") and len(pattern) > 2:
            sql = f"{sql} || '%%%%'"
        return sql

    def explain_prefix(self) -> str:
        return "EXPLAIN"

    # Functions ---------------------------------------------------------------------------

    function_templates = {
        "StrIndex": "STRPOS(%(expressions)s)",
        "Round": lambda func, compiler, connection: _round_sql(func, compiler),
    }

    def concat_sql(self, parts: list[str]) -> str:
        # Each part is ``COALESCE(expr, '')``; PostgreSQL will not coerce '' to a non-text
        # type (nor infer a parameter's type there), so compare as text.
        texts = []
        for part in parts:
            if part.startswith("COALESCE(") and part.endswith(", '')"):
                part = "COALESCE((" + part[len("COALESCE(") : -len(", '')")] + ")::text, '')"
            texts.append(part)
        return "(" + " || ".join(texts) + ")"

    # JSON (jsonb) ------------------------------------------------------------------------
    #
    # Key paths travel as one text[] parameter: ``col #> %s`` is the jsonb value at the path
    # (object keys and array indexes alike), ``col #>> %s`` its text.

    def json_key_sql(self, sql: str, keys: list[str]) -> tuple[str, list[Any]]:
        return f"({sql} #> %s)", [list(keys)]

    def json_key_text_sql(self, sql: str, keys: list[str]) -> tuple[str, list[Any]]:
        return f"({sql} #>> %s)", [list(keys)]

    def json_key_scalar_sql(self, sql: str, keys: list[str], sample: Any) -> tuple[str, list[Any]]:
        """The key's value as an SQL scalar comparable with ``sample`` (numbers, booleans)."""
        path = list(keys)
        if isinstance(sample, bool):
            kind, cast = "boolean", "boolean"
        elif isinstance(sample, (int, float)) or type(sample).__name__ == "Decimal":
            kind, cast = "number", "numeric"
        else:
            return f"({sql} #>> %s)", [path]
        if "%s" in sql:  # the base expression has parameters: do not repeat it
            return f"CAST(({sql} #>> %s) AS {cast})", [path]
        # A value of another JSON type compares as NULL instead of failing the cast.
        return (
            f"(CASE WHEN jsonb_typeof({sql} #> %s) = '{kind}' "
            f"THEN CAST(({sql} #>> %s) AS {cast}) END)",
            [path, path],
        )

    def json_has_key_sql(self, sql: str, keys: list[str]) -> tuple[str, list[Any]]:
        if len(keys) == 1 and not keys[0].isdigit():
            return f"({sql} ? %s)", [keys[0]]  # the form GIN indexes on jsonb serve
        return f"(({sql} #> %s) IS NOT NULL)", [list(keys)]

    def json_key_is_json_null_sql(self, sql: str) -> str:
        return f"(jsonb_typeof({sql}) = 'null')"

    def json_key_value_sql(self) -> str:
        return "%s"

    def json_key_value_param(self, value: Any) -> Any:
        return JsonbText(json.dumps(value))

    def json_value_sql(self) -> str:
        return "%s"

    def json_column_sql(self, sql: str) -> str:
        return sql

    def json_contains_sql(self, lhs: str, rhs: str) -> str:
        return f"({lhs} @> {rhs})"

    def json_contained_by_sql(self, lhs: str, rhs: str) -> str:
        return f"({lhs} <@ {rhs})"

    # Dates -------------------------------------------------------------------------------

    def date_extract_sql(self, lookup_type: str, sql: str) -> str:
        if lookup_type == "week_day":
            # Django's week_day: 1 = Sunday ... 7 = Saturday; DOW is 0 = Sunday.
            return f"(CAST(EXTRACT(DOW FROM {sql}) AS integer) + 1)"
        if lookup_type == "second":
            return f"CAST(FLOOR(EXTRACT(SECOND FROM {sql})) AS integer)"
        field = _EXTRACT.get(lookup_type)
        if field is None:
            raise NotSupportedError(f"PostgreSQL cannot extract {lookup_type!r}.")
        return f"CAST(EXTRACT({field} FROM {sql}) AS integer)"

    def date_trunc_sql(self, lookup_type: str, sql: str, is_datetime: bool = True) -> str:
        if lookup_type not in _TRUNC:
            raise NotSupportedError(f"PostgreSQL cannot truncate to {lookup_type!r}.")
        if is_datetime:
            return f"DATE_TRUNC('{lookup_type}', {sql})"
        return f"(DATE_TRUNC('{lookup_type}', {sql}))::date"

    def datetime_cast_date_sql(self, sql: str) -> str:
        return f"({sql})::date"

    def datetime_cast_time_sql(self, sql: str) -> str:
        return f"({sql})::time"

    # Values going in (psycopg adapts dates, decimals, UUIDs, intervals, bytes natively) ----

    def adapt_uuidfield_value(self, value: Any) -> Any:
        if value is None or isinstance(value, uuid.UUID):
            return value
        return uuid.UUID(str(value))

    def adapt_jsonfield_value(self, value: Any, encoder: type[json.JSONEncoder] | None) -> Any:
        # Serialized now, so an unserializable value fails here with the field's message.
        return JsonbText(json.dumps(value, cls=encoder))

    def adapt_durationfield_value(self, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            return datetime.timedelta(microseconds=value)
        return value

    # Values coming out -------------------------------------------------------------------

    def get_db_converters(self, internal_type: str) -> list[Converter]:
        if internal_type == "JSONField":
            return [_load_json]
        if internal_type == "DateTimeField" and not settings.USE_TZ:
            zone = zoneinfo.ZoneInfo(settings.TIME_ZONE)

            def naive(value: Any) -> Any:
                if isinstance(value, datetime.datetime) and value.tzinfo is not None:
                    return value.astimezone(zone).replace(tzinfo=None)
                return value

            return [naive]
        return []
