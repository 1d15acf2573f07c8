"""SQLite dialect: value adaptation and conversion, date functions."""

from __future__ import annotations

import datetime
import decimal
import json
import uuid
from typing import Any

from dorm.conf import settings
from dorm.db.backends.base import BaseDatabaseOperations
from dorm.db.backends.base.operations import Converter
from dorm.exceptions import NotSupportedError

_EXTRACT = {
    "year": "%Y",
    "month": "%m",
    "day": "%d",
    "hour": "%H",
    "minute": "%M",
    "second": "%S",
    "week": "%W",
    "week_day": "%w",
    "iso_week_day": "%u",
    "doy": "%j",
}

_TRUNC = {
    "year": "%Y-01-01",
    "month": "%Y-%m-01",
    "day": "%Y-%m-%d",
    "hour": "%Y-%m-%d %H:00:00",
    "minute": "%Y-%m-%d %H:%M:00",
    "second": "%Y-%m-%d %H:%M:%S",
}


def _right_sql(func: Any, compiler: Any) -> tuple[str, list[Any]]:
    expr_sql, expr_params = compiler.compile(func.source_expressions[0])
    len_sql, len_params = compiler.compile(func.source_expressions[1])
    return f"SUBSTR({expr_sql}, -({len_sql}))", [*expr_params, *len_params]


def _cast_sql(func: Any, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
    sql, params = compiler.compile(func.source_expressions[0])
    internal = func.output_field.get_internal_type()
    # CAST(... AS date) would give NUMERIC affinity in SQLite; use its date functions.
    if internal == "DateField":
        return f"date({sql})", params
    if internal == "DateTimeField":
        return f"datetime({sql})", params
    if internal == "TimeField":
        return f"time({sql})", params
    return f"CAST({sql} AS {connection.ops.cast_type(func.output_field)})", params


def _parse_temporal(value: Any) -> tuple[datetime.datetime, str]:
    """An ISO date, datetime or time text as a datetime, and which of the three it was."""
    text = str(value)
    if len(text) == 10 and text[4] == "-":
        return datetime.datetime.fromisoformat(text), "date"
    if len(text) >= 8 and text[2] == ":":
        time = datetime.time.fromisoformat(text)
        return datetime.datetime.combine(datetime.date(2000, 1, 1), time), "time"
    return datetime.datetime.fromisoformat(text).replace(tzinfo=None), "datetime"


def temporal_add(value: Any, microseconds: Any) -> str | None:
    """SQL function ``dorm_temporal_add(date|datetime|time, microseconds)``: a date gives a
    datetime (as Django: date + interval is a timestamp), a time stays a time."""
    if value is None or microseconds is None:
        return None
    moment, kind = _parse_temporal(value)
    moment += datetime.timedelta(microseconds=int(microseconds))
    if kind == "time":
        return moment.time().isoformat()
    return moment.isoformat(" ")


def temporal_diff(lhs: Any, rhs: Any) -> int | None:
    """SQL function ``dorm_temporal_diff(a, b)``: ``a - b`` in microseconds."""
    if lhs is None or rhs is None:
        return None
    delta = _parse_temporal(lhs)[0] - _parse_temporal(rhs)[0]
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


def _parse_datetime(value: Any) -> Any:
    if value is None or isinstance(value, datetime.datetime):
        return value
    return datetime.datetime.fromisoformat(value)


def _parse_datetime_utc(value: Any) -> Any:
    if value is None:
        return None
    if not isinstance(value, datetime.datetime):
        value = datetime.datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.UTC)
    return value


def _parse_date(value: Any) -> Any:
    if value is None or isinstance(value, datetime.date):
        return value
    return datetime.date.fromisoformat(value[:10])


def _parse_time(value: Any) -> Any:
    if value is None or isinstance(value, datetime.time):
        return value
    return datetime.time.fromisoformat(value)


def _parse_bool(value: Any) -> Any:
    return value if value is None else bool(value)


_DECIMAL_CONTEXT = decimal.Context(prec=15)


def _parse_decimal(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, float):
        # SQLite computes in doubles: keep the 15 significant digits a double holds, so
        # AVG/SUM/arithmetic results carry no binary noise (as Django).
        return _DECIMAL_CONTEXT.create_decimal_from_float(value)
    return decimal.Decimal(str(value)) if not isinstance(value, decimal.Decimal) else value


def _parse_uuid(value: Any) -> Any:
    if value is None or isinstance(value, uuid.UUID):
        return value
    return uuid.UUID(value)


def _parse_duration(value: Any) -> Any:
    if value is None:
        return None
    return datetime.timedelta(microseconds=int(value))


def _parse_json(value: Any) -> Any:
    if value is None:
        return None
    return json.loads(value)


class DatabaseOperations(BaseDatabaseOperations):
    operators = {
        **BaseDatabaseOperations.operators,
        "regex": "REGEXP %s",
        "iregex": "REGEXP '(?i)' || %s",
    }

    function_templates = {
        # SQLite's multi-argument MAX/MIN are GREATEST/LEAST (NULL if any argument is NULL).
        "Greatest": "MAX(%(expressions)s)",
        "Least": "MIN(%(expressions)s)",
        "Right": lambda func, compiler, connection: _right_sql(func, compiler),
        "Cast": lambda func, compiler, connection: _cast_sql(func, compiler, connection),
    }

    def now_sql(self) -> str:
        return "STRFTIME('%%Y-%%m-%%d %%H:%%M:%%f', 'NOW')"

    def combine_duration_expression(self, connector: str, lhs: str, rhs: str) -> str:
        # Dates/times are ISO text and durations integer microseconds: computed by the
        # dorm_temporal_add() function every connection registers (see base.py).
        sign = "-" if connector == "-" else ""
        return f"dorm_temporal_add({lhs}, {sign}({rhs}))"

    def subtract_temporals(self, internal_type: str, lhs: str, rhs: str) -> str:
        return f"dorm_temporal_diff({lhs}, {rhs})"

    def decimal_dividend_sql(self, sql: str) -> str:
        # NUMERIC affinity stores 45.00 as the integer 45: divide as a real number.
        return f"CAST({sql} AS REAL)"

    def computed_lookup_lhs_sql(self, sql: str, internal_type: str) -> str:
        # Decimals are bound as text; a computed value has no column affinity, so without the
        # cast SQLite would compare a number with a string (as Django's SQLiteNumericMixin).
        if internal_type == "DecimalField":
            return f"CAST({sql} AS NUMERIC)"
        return sql

    def regex_lookup(self, lookup_type: str) -> str:
        return "%s REGEXP %s" if lookup_type == "regex" else "%s REGEXP '(?i)' || %s"

    def date_extract_sql(self, lookup_type: str, sql: str) -> str:
        # ISO-8601 week, weekday and year computed portably: %V, %u and %G need SQLite 3.46.
        # The ISO week/year of a date are those of the Thursday of its (Monday-first) week.
        thursday = f"date({sql}, '-3 days', 'weekday 4')"
        if lookup_type == "week":
            return f"((CAST(strftime('%%j', {thursday}) AS INTEGER) - 1) / 7 + 1)"
        if lookup_type == "iso_year":
            return f"CAST(strftime('%%Y', {thursday}) AS INTEGER)"
        if lookup_type == "iso_week_day":
            return f"((CAST(strftime('%%w', {sql}) AS INTEGER) + 6) %% 7 + 1)"
        fmt = _EXTRACT.get(lookup_type)
        if fmt is None:
            if lookup_type == "quarter":
                return f"((CAST(strftime('%%m', {sql}) AS INTEGER) + 2) / 3)"
            raise NotSupportedError(f"SQLite cannot extract {lookup_type!r}.")
        expr = f"CAST(strftime('{fmt.replace('%', '%%')}', {sql}) AS INTEGER)"
        if lookup_type == "week_day":
            # Django's week_day: 1 = Sunday ... 7 = Saturday.
            expr = f"({expr} + 1)"
        return expr

    def date_trunc_sql(self, lookup_type: str, sql: str, is_datetime: bool = True) -> str:
        if lookup_type == "quarter":
            return (
                f"strftime('%%Y-', {sql}) || printf('%%02d', "
                f"((CAST(strftime('%%m', {sql}) AS INTEGER) - 1) / 3) * 3 + 1) || '-01'"
            )
        if lookup_type == "week":
            return f"date({sql}, 'weekday 0', '-6 days')"
        fmt = _TRUNC.get(lookup_type)
        if fmt is None:
            raise NotSupportedError(f"SQLite cannot truncate to {lookup_type!r}.")
        return f"strftime('{fmt.replace('%', '%%')}', {sql})"

    def time_trunc_sql(self, lookup_type: str, sql: str) -> str:
        fmt = {"hour": "%H:00:00", "minute": "%H:%M:00", "second": "%H:%M:%S"}.get(lookup_type)
        if fmt is None:
            raise NotSupportedError(f"SQLite cannot truncate a time to {lookup_type!r}.")
        return f"strftime('{fmt.replace('%', '%%')}', {sql})"

    def datetime_cast_date_sql(self, sql: str) -> str:
        return f"date({sql})"

    def datetime_cast_time_sql(self, sql: str) -> str:
        return f"time({sql})"

    # Values going in -----------------------------------------------------------------

    def adapt_datetimefield_value(self, value: Any) -> Any:
        if value is None or isinstance(value, str):
            return value
        if isinstance(value, datetime.datetime) and value.tzinfo is not None:
            if settings.USE_TZ:
                value = value.astimezone(datetime.UTC).replace(tzinfo=None)
            else:
                raise ValueError(
                    "SQLite backend does not support timezone-aware datetimes when USE_TZ is False."
                )
        return value.isoformat(" ")

    def adapt_datefield_value(self, value: Any) -> Any:
        if value is None or isinstance(value, str):
            return value
        return value.isoformat()

    def adapt_timefield_value(self, value: Any) -> Any:
        if value is None or isinstance(value, str):
            return value
        if getattr(value, "tzinfo", None) is not None:
            raise ValueError("SQLite backend does not support timezone-aware times.")
        return value.isoformat()

    def adapt_decimalfield_value(self, value: Any) -> Any:
        return None if value is None else str(value)

    def adapt_durationfield_value(self, value: Any) -> Any:
        if value is None or isinstance(value, int):
            return value
        return self.duration_microseconds(value)

    def adapt_uuidfield_value(self, value: Any) -> Any:
        if value is None:
            return None
        return value.hex if isinstance(value, uuid.UUID) else uuid.UUID(str(value)).hex

    def adapt_booleanfield_value(self, value: Any) -> Any:
        return None if value is None else int(bool(value))

    # Values coming out ----------------------------------------------------------------

    def get_db_converters(self, internal_type: str) -> list[Converter]:
        if internal_type == "DateTimeField":
            return [_parse_datetime_utc if settings.USE_TZ else _parse_datetime]
        converter = _CONVERTERS.get(internal_type)
        return [converter] if converter else []


_CONVERTERS: dict[str, Converter] = {
    "DateField": _parse_date,
    "TimeField": _parse_time,
    "BooleanField": _parse_bool,
    "NullBooleanField": _parse_bool,
    "DecimalField": _parse_decimal,
    "UUIDField": _parse_uuid,
    "DurationField": _parse_duration,
    "JSONField": _parse_json,
}
