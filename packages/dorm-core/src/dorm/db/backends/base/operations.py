"""Dialect operations: quoting, placeholders, pagination, value adaptation and conversion.

Pure code shared by a backend's sync and async wrappers.
"""

from __future__ import annotations

import datetime
import decimal
import json
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from dorm.exceptions import NotSupportedError

Converter = Callable[[Any], Any]


class BaseDatabaseOperations:
    """Dialect-specific SQL fragments and value handling."""

    #: Lookup name -> SQL template; ``%s`` is the right-hand side (already a placeholder).
    operators: dict[str, str] = {
        "exact": "= %s",
        "iexact": "LIKE %s ESCAPE '\\'",
        "contains": "LIKE %s ESCAPE '\\'",
        "icontains": "LIKE %s ESCAPE '\\'",
        "gt": "> %s",
        "gte": ">= %s",
        "lt": "< %s",
        "lte": "<= %s",
        "startswith": "LIKE %s ESCAPE '\\'",
        "endswith": "LIKE %s ESCAPE '\\'",
        "istartswith": "LIKE %s ESCAPE '\\'",
        "iendswith": "LIKE %s ESCAPE '\\'",
    }
    #: Lookups whose left-hand side is wrapped (e.g. ``UPPER(%s)``) before the operator.
    lookup_lhs: dict[str, str] = {}
    compiler_module = "dorm.sql.compiler"
    cast_char_field_without_max_length = "text"

    def __init__(self, connection: Any) -> None:
        self.connection = connection

    # Identifiers ---------------------------------------------------------------------

    def quote_name(self, name: str) -> str:
        """Quote an identifier (table, column, index, channel, ...)."""
        if name.startswith('"') and name.endswith('"') and len(name) > 1:
            return name
        if "\x00" in name:
            raise ValueError(f"Identifier {name!r} contains a NUL byte.")
        return '"' + name.replace('"', '""') + '"'

    def max_name_length(self) -> int | None:
        return None

    # Parameters and pagination ----------------------------------------------------------

    def limit_offset_sql(self, low_mark: int, high_mark: int | None) -> str:
        """``LIMIT``/``OFFSET`` clause for a slice; values are ints, inlined safely."""
        parts = []
        if high_mark is not None:
            parts.append(f"LIMIT {int(high_mark) - int(low_mark)}")
        elif low_mark:
            parts.append(f"LIMIT {self.no_limit_value()}")
        if low_mark:
            parts.append(f"OFFSET {int(low_mark)}")
        return " ".join(parts)

    def no_limit_value(self) -> int | str:
        return -1

    def random_function_sql(self) -> str:
        return "RANDOM()"

    def for_update_sql(
        self,
        nowait: bool = False,
        skip_locked: bool = False,
        of: tuple[str, ...] = (),
        no_key: bool = False,
    ) -> str:
        sql = "FOR NO KEY UPDATE" if no_key else "FOR UPDATE"
        if of:
            sql += " OF " + ", ".join(of)
        if nowait:
            sql += " NOWAIT"
        elif skip_locked:
            sql += " SKIP LOCKED"
        return sql

    def pattern_escape(self, value: str) -> str:
        """Escape LIKE wildcards in a user value."""
        return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")

    def regex_lookup(self, lookup_type: str) -> str:
        raise NotSupportedError(f"{type(self.connection).__name__} does not support regex lookups.")

    def bulk_batch_size(self, num_fields: int, num_objs: int) -> int:
        limit = self.connection.features.max_query_params
        if not limit or not num_fields:
            return num_objs
        return max(1, limit // num_fields)

    def insert_statement(self, on_conflict: str | None = None) -> str:
        return "INSERT INTO"

    def bulk_insert_array_types(self, fields: Sequence[Any]) -> list[str] | None:
        """The array types a multi-row INSERT of ``fields`` may bind one parameter per column
        with (``INSERT ... SELECT * FROM UNNEST(%s::type[], ...)``: one short statement to
        parse and plan whatever the number of rows); None keeps a placeholder per value."""
        return None

    def on_conflict_suffix_sql(
        self, on_conflict: str | None, update_fields: list[str], unique_fields: list[str]
    ) -> str:
        if on_conflict == "ignore":
            return "ON CONFLICT DO NOTHING"
        if on_conflict == "update":
            target = ", ".join(self.quote_name(f) for f in unique_fields)
            sets = ", ".join(
                f"{self.quote_name(f)} = EXCLUDED.{self.quote_name(f)}" for f in update_fields
            )
            return f"ON CONFLICT({target}) DO UPDATE SET {sets}"
        return ""

    def return_insert_columns(self, columns: list[str]) -> str:
        return "RETURNING " + ", ".join(self.quote_name(c) for c in columns) if columns else ""

    def pattern_expr_template(self, pattern: str) -> str:
        """LIKE pattern around an expression (``contains=F("other")``)."""
        parts = pattern.split("%s")
        wrapped = ["'%%'" if p == "%%" else "" for p in parts]
        sql = "%s"
        if wrapped[0]:
            sql = f"{wrapped[0]} || {sql}"
        if wrapped[-1]:
            sql = f"{sql} || {wrapped[-1]}"
        return sql

    # JSON (JSON1-style defaults; PostgreSQL overrides) ------------------------------------

    @staticmethod
    def json_path(keys: list[str]) -> str:
        path = "$"
        for key in keys:
            if key.isdigit():
                path += f"[{key}]"
            else:
                path += '."' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'
        return path

    def json_key_sql(self, sql: str, keys: list[str]) -> tuple[str, list[Any]]:
        return f"JSON_EXTRACT({sql}, %s)", [self.json_path(keys)]

    def json_key_text_sql(self, sql: str, keys: list[str]) -> tuple[str, list[Any]]:
        return f"JSON_EXTRACT({sql}, %s)", [self.json_path(keys)]

    def json_key_scalar_sql(self, sql: str, keys: list[str], sample: Any) -> tuple[str, list[Any]]:
        return f"JSON_EXTRACT({sql}, %s)", [self.json_path(keys)]

    def json_has_key_sql(self, sql: str, keys: list[str]) -> tuple[str, list[Any]]:
        return f"JSON_TYPE({sql}, %s) IS NOT NULL", [self.json_path(keys)]

    def json_key_is_json_null_sql(self, sql: str) -> str:
        # `sql` is the JSON_EXTRACT of the key; a JSON null extracts to SQL NULL, so ask
        # JSON_TYPE instead (SQL NULL when the key is missing). The key path parameter is
        # used once, as in `sql`.
        return f"JSON_TYPE({sql[len('JSON_EXTRACT(') : -1]}) = 'null'"

    def json_key_value_sql(self) -> str:
        return "JSON_EXTRACT(%s, '$')"

    def json_key_value_param(self, value: Any) -> Any:
        return json.dumps(value)

    def json_value_sql(self) -> str:
        return "JSON(%s)"

    def json_column_sql(self, sql: str) -> str:
        return f"JSON({sql})"

    def json_contains_sql(self, lhs: str, rhs: str) -> str:
        """``JSONField`` ``contains``: SQL true when document ``lhs`` contains ``rhs``."""
        raise NotSupportedError("contains lookup is not supported on this database backend.")

    def json_contained_by_sql(self, lhs: str, rhs: str) -> str:
        """``JSONField`` ``contained_by``: SQL true when ``lhs`` is contained in ``rhs``."""
        raise NotSupportedError("contained_by lookup is not supported on this database backend.")

    # Dates --------------------------------------------------------------------------

    def date_extract_sql(self, lookup_type: str, sql: str) -> str:
        raise NotSupportedError(f"Extracting {lookup_type!r} is not supported by this backend.")

    def datetime_cast_date_sql(self, sql: str) -> str:
        return f"CAST({sql} AS date)"

    def datetime_cast_time_sql(self, sql: str) -> str:
        return f"CAST({sql} AS time)"

    def date_trunc_sql(self, lookup_type: str, sql: str, is_datetime: bool = True) -> str:
        raise NotSupportedError(f"Truncating to {lookup_type!r} is not supported by this backend.")

    def time_trunc_sql(self, lookup_type: str, sql: str) -> str:
        """A time truncated to ``hour``/``minute``/``second`` (``DATE_TRUNC`` by default)."""
        return f"CAST({self.date_trunc_sql(lookup_type, sql, is_datetime=True)} AS time)"

    # Functions ------------------------------------------------------------------------

    #: Function class name -> SQL template (``%(expressions)s``) or a callable
    #: ``(func, compiler, connection) -> (sql, params)`` replacing the default SQL.
    function_templates: dict[str, Any] = {}

    def concat_sql(self, parts: list[str]) -> str:
        return "(" + " || ".join(parts) + ")"

    def now_sql(self) -> str:
        return "CURRENT_TIMESTAMP"

    def combine_duration_expression(self, connector: str, lhs: str, rhs: str) -> str:
        """A date, datetime or time (``lhs``) plus or minus a duration (``rhs``)."""
        return f"({lhs} {connector} {rhs})"

    def subtract_temporals(self, internal_type: str, lhs: str, rhs: str) -> str:
        """The duration between two dates, datetimes or times of ``internal_type``."""
        if internal_type == "DateField":
            # date - date is a number of days in SQL; a duration is an interval.
            return f"(INTERVAL '1 day' * ({lhs} - {rhs}))"
        return f"({lhs} - {rhs})"

    def decimal_dividend_sql(self, sql: str) -> str:
        """The left operand of a division whose result is a decimal; unchanged by default."""
        return sql

    def computed_lookup_lhs_sql(self, sql: str, internal_type: str) -> str:
        """The left-hand side of a lookup on a computed value (not a plain column) whose
        output field is ``internal_type``; unchanged by default."""
        return sql

    def cast_type(self, field: Any) -> str:
        """The type name used in ``CAST(... AS <type>)`` for ``field``."""
        return str(field.cast_db_type(self.connection))

    # Values going in ------------------------------------------------------------------

    def adapt_datefield_value(self, value: Any) -> Any:
        return value

    def adapt_datetimefield_value(self, value: Any) -> Any:
        return value

    def adapt_timefield_value(self, value: Any) -> Any:
        return value

    def adapt_decimalfield_value(self, value: Any) -> Any:
        return value

    def adapt_durationfield_value(self, value: Any) -> Any:
        return value

    def adapt_uuidfield_value(self, value: Any) -> Any:
        return value

    def adapt_jsonfield_value(self, value: Any, encoder: type[json.JSONEncoder] | None) -> Any:
        return json.dumps(value, cls=encoder)

    def adapt_booleanfield_value(self, value: Any) -> Any:
        return value

    def adapt_ipaddressfield_value(self, value: Any) -> Any:
        return value or None

    # Values coming out ----------------------------------------------------------------

    def get_db_converters(self, internal_type: str) -> list[Converter]:
        """Converters applied to raw column values of a field type; empty when none needed."""
        return []

    # Shared helpers -------------------------------------------------------------------

    @staticmethod
    def parse_decimal(value: Any) -> decimal.Decimal | None:
        if value is None or isinstance(value, decimal.Decimal):
            return value
        return decimal.Decimal(str(value))

    @staticmethod
    def parse_uuid(value: Any) -> uuid.UUID | None:
        if value is None or isinstance(value, uuid.UUID):
            return value
        return uuid.UUID(value) if isinstance(value, str) else uuid.UUID(bytes=bytes(value))

    @staticmethod
    def duration_microseconds(delta: datetime.timedelta) -> int:
        return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds
