"""PostgreSQL ``COPY``: load model instances and read query results at COPY speed.

::

    from dorm.contrib.bulk_copy import bulk_copy_from, copy_to

    n = bulk_copy_from(Author, (Author(name=f"a-{i}", age=i) for i in range(10_000_000)))

    for row in copy_to('SELECT id, name FROM "authors" WHERE age > %s', [30]):
        ...                                   # tuples of Python values, streamed
    for row in copy_to(Author.objects.filter(age__gt=30)):
        ...                                   # the QuerySet's SQL, values as the fields give

    await abulk_copy_from(Author, agen())     # lists, iterables and async iterables
    async for row in acopy_to(sql): ...

**bulk_copy_from** streams: rows are converted and written while the source is iterated,
never collected, so a generator of any length runs in bounded memory. Each value goes
through its model field exactly as ``bulk_create`` does (``pre_save`` — ``auto_now`` /
``auto_now_add`` —, then ``get_db_prep_save``: JSON, UUID, Decimal, datetimes, arrays,
foreign keys); defaults are the instances' own (``Model.__init__`` applied them); a
``db_default`` left to the database and an auto-increment primary key left unset are not
sent (the server fills them). Instances are not modified otherwise: no primary keys are set
on them (``COPY`` returns none).

The ``COPY`` is binary when every column's type and field allow it (PostgreSQL parses no
text then), text otherwise (e.g. a custom field, an ``inet`` column). Integers are range
checked on the client in binary mode, so an out-of-range value is a ``DataError`` in both
formats.

Transactions: inside ``atomic()`` / ``aatomic()`` (or ``pinned_connection()``) the copy runs
in that transaction (in a savepoint, like ``bulk_create``); outside one it runs in a
transaction of its own and a failing row (say a ``NOT NULL`` violation, an
``IntegrityError`` naming the column) leaves no row behind. A source that is not a list or
tuple may itself run queries on the same database while it is iterated: outside a
transaction the copy streams on a connection of its own. Inside a transaction the copy holds
the transaction's connection while it streams, so a statement issued from the source on
that alias (same thread, or same task) raises ``ProgrammingError`` instead of deadlocking —
materialize such a source first.

``batch_size``: at most that many rows per ``COPY`` statement (all in the one transaction);
``None`` (default): one statement for the whole source.

**copy_to** runs ``COPY (query) TO STDOUT`` and yields tuples converted to Python values (the
values ``connection.fetchall()`` gives for raw SQL; for a QuerySet, the values its fields
give: decoded JSON, quantized decimals, ...), streamed. ``params`` are bound client-side
by psycopg (``COPY`` takes no server-side parameters), never formatted into the SQL by dorm.
Outside a transaction the copy streams on a connection of its own; inside one it reads the
transaction's snapshot on its connection (so, while it streams, that alias cannot run other
statements in the same thread/task). Leaving the loop early closes the dedicated connection
(outside a transaction) or reads and discards the rest (inside one, keeping it usable).

Both run every ``COPY`` statement through the alias' execution hooks (``sql`` is the COPY
statement, ``params`` is ``None``); a hook must not retry it, the source is consumed once.
On any other backend they raise ``NotSupportedError``.
"""

from __future__ import annotations

import contextlib
import datetime
import decimal
import itertools
import uuid
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    Callable,
    Generator,
    Iterable,
    Iterator,
)
from typing import Any

import psycopg
from psycopg.adapt import Dumper
from psycopg.pq import Format

from dorm.conf import DEFAULT_DB_ALIAS, settings
from dorm.db import async_connections, connections, hooks, router
from dorm.exceptions import DataError, EmptyResultSet, NotSupportedError, ProgrammingError
from dorm.models import fields as dorm_fields
from dorm.models.fields import DATABASE_DEFAULT, AutoField, Field
from dorm.models.related import ForeignKey
from dorm.transaction import aatomic, atomic
from dorm_postgres.base import PostgresInfo
from dorm_postgres.fields import ArrayField

__all__ = ["abulk_copy_from", "acopy_to", "bulk_copy_from", "copy_to"]

_END: Any = object()  # "the source is exhausted" / "no pending object"

#: Columns of a table: name, type oid, type name, array element type name.
_COLUMNS_SQL = (
    "SELECT a.attname, a.atttypid::int, t.typname, e.typname "
    "FROM pg_catalog.pg_attribute a "
    "JOIN pg_catalog.pg_type t ON t.oid = a.atttypid "
    "LEFT JOIN pg_catalog.pg_type e ON e.oid = t.typelem AND t.typcategory = 'A' "
    "WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 AND NOT a.attisdropped"
)

_INT_RANGES = {
    "int2": (-(2**15), 2**15 - 1),
    "int4": (-(2**31), 2**31 - 1),
    "int8": (-(2**63), 2**63 - 1),
}

#: Field kind -> column types it can be written to in binary. The kind says which Python
#: type the field's conversion produces; binary dumpers are chosen by column type.
_BINARY_COLUMNS: dict[str, frozenset[str]] = {
    "int": frozenset(_INT_RANGES),
    "float": frozenset({"float8"}),
    "decimal": frozenset({"numeric"}),
    "bool": frozenset({"bool"}),
    "text": frozenset({"varchar", "text", "bpchar"}),
    "date": frozenset({"date"}),
    "datetime": frozenset({"timestamptz"}),  # and only with USE_TZ (aware values)
    "time": frozenset({"time"}),
    "duration": frozenset({"interval"}),
    "uuid": frozenset({"uuid"}),
    "bytes": frozenset({"bytea"}),
    "json": frozenset({"jsonb"}),
}

#: Stock field classes (most specific first) -> kind. A subclass keeps the kind only while
#: it inherits the stock conversion methods unchanged.
_STOCK: tuple[tuple[type[Field[Any]], str], ...] = (
    (dorm_fields.BooleanField, "bool"),
    (dorm_fields.IntegerField, "int"),  # AutoField, BigIntegerField, Positive*, ...
    (dorm_fields.FloatField, "float"),
    (dorm_fields.DecimalField, "decimal"),
    (dorm_fields.CharField, "text"),  # EmailField, SlugField, URLField
    (dorm_fields.TextField, "text"),
    (dorm_fields.DateTimeField, "datetime"),
    (dorm_fields.DateField, "date"),
    (dorm_fields.TimeField, "time"),
    (dorm_fields.DurationField, "duration"),
    (dorm_fields.UUIDField, "uuid"),
    (dorm_fields.BinaryField, "bytes"),
    (dorm_fields.JSONField, "json"),
    (ArrayField, "array"),
    (ForeignKey, "fk"),
)
_CONVERSION_METHODS = ("get_prep_value", "get_db_prep_value", "get_db_prep_save")

#: Column types whose binary COPY output loads to the same Python values as text output.
_BINARY_OUT_TYPES = [
    "int2",
    "int4",
    "int8",
    "float8",
    "numeric",
    "bool",
    "text",
    "varchar",
    "bpchar",
    "name",
    "bytea",
    "date",
    "time",
    "timestamp",
    "timestamptz",
    "interval",
    "uuid",
    "oid",
]


def _oids(names: Iterable[str]) -> frozenset[int]:
    oids: set[int] = set()
    for name in names:
        info = psycopg.postgres.types.get(name)
        if info is not None:
            oids.update(o for o in (info.oid, info.array_oid) if o)
    return frozenset(oids)


_BINARY_OUT_OIDS = _oids(_BINARY_OUT_TYPES)


class _JsonbBinary(str):
    """Marker type: registers the binary ``jsonb`` dumper below for lookups by oid."""


class _JsonbBinaryDumper(Dumper):
    """A serialized JSON document (``str``) as binary ``jsonb``: version 1, then the text."""

    format = Format.BINARY
    oid = psycopg.postgres.types["jsonb"].oid

    def dump(self, obj: Any) -> bytes:
        return b"\x01" + str(obj).encode()


# Checks ---------------------------------------------------------------------------------


def _require_postgres(conn: Any, what: str) -> None:
    if not isinstance(conn, PostgresInfo):
        raise NotSupportedError(
            f"{what} needs PostgreSQL (COPY): alias {conn.alias!r} uses the "
            f"{getattr(conn, 'display_name', conn.vendor)} backend. Use bulk_create() / "
            "iterator() there, or point the call at a PostgreSQL alias with using=..."
        )


def _check_batch_size(batch_size: int | None) -> None:
    if batch_size is not None and (
        not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size <= 0
    ):
        raise ValueError(f"batch_size must be a positive integer or None, got {batch_size!r}.")


def _reentrant_error(alias: str, what: str) -> ProgrammingError:
    return ProgrammingError(
        f"{what} is streaming a COPY on the transaction's connection of alias {alias!r}; "
        "another statement on that connection now would deadlock. Don't query that alias "
        "from the row source or the loop body while it runs inside a transaction: "
        "materialize the source first (list(...)), or run the copy outside the atomic block "
        "(it then streams on a connection of its own)."
    )


# Execution hooks ------------------------------------------------------------------------


def _run_hooked(conn: Any, sql: str, inner: Callable[[], Any]) -> Any:
    """Run ``inner()`` as the statement ``sql`` through the alias' sync execution hooks."""
    chain = hooks.sync_wrappers(conn.alias) + list(getattr(conn, "_local_wrappers", ()))
    if not chain:
        return inner()

    def innermost(sql: str, params: Any, many: bool, context: Any) -> Any:
        return inner()

    call: Callable[..., Any] = innermost
    for wrapper in reversed(chain):
        call = _bind(wrapper, call)
    return call(sql, None, False, hooks.ExecuteContext(conn.alias, conn, False))


async def _arun_hooked(conn: Any, sql: str, inner: Callable[[], Any]) -> Any:
    chain = hooks.async_wrappers(conn.alias) + list(getattr(conn, "_local_wrappers", ()))
    if not chain:
        return await inner()

    async def innermost(sql: str, params: Any, many: bool, context: Any) -> Any:
        return await inner()

    call: Callable[..., Any] = innermost
    for wrapper in reversed(chain):
        call = _abind(wrapper, call)
    return await call(sql, None, False, hooks.ExecuteContext(conn.alias, conn, True))


def _bind(wrapper: Callable[..., Any], inner: Callable[..., Any]) -> Callable[..., Any]:
    def call(sql: str, params: Any, many: bool, context: Any) -> Any:
        return wrapper(inner, sql, params, many, context)

    return call


def _abind(wrapper: Callable[..., Any], inner: Callable[..., Any]) -> Callable[..., Any]:
    async def call(sql: str, params: Any, many: bool, context: Any) -> Any:
        return await wrapper(inner, sql, params, many, context)

    return call


def _sync_guard(conn: Any, what: str) -> Any:
    """Refuse (instead of deadlocking) statements of this thread on ``conn`` during a COPY."""

    def guard(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        raise _reentrant_error(conn.alias, what)

    return conn.execute_wrapper(guard)


def _async_guard(conn: Any, binding: Any, what: str) -> Any:
    """Refuse statements of the task owning ``binding`` during a COPY on its connection."""

    async def guard(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        if conn.current_binding() is binding:
            raise _reentrant_error(conn.alias, what)
        return await execute(sql, params, many, context)

    return conn.execute_wrapper(guard)


# COPY FROM: the plan -------------------------------------------------------------------


def _kind(field: Any) -> str | None:
    """What Python type ``field``'s conversion yields (``None``: unknown, a custom field)."""
    cls = type(field)
    for stock, kind in _STOCK:
        if isinstance(field, stock):
            if any(getattr(cls, m) is not getattr(stock, m) for m in _CONVERSION_METHODS):
                return None
            if kind == "fk":
                return _kind(getattr(field, "target_field"))  # noqa: B009
            return kind
    return None


class _Column:
    """One column of a COPY FROM: its field, how to read and convert the value."""

    __slots__ = ("binary", "field", "kind", "name", "oid", "typname")

    def __init__(self, field: Any, oid: int, typname: str, elem: str | None) -> None:
        self.field = field
        self.name = field.column
        self.oid = oid
        self.typname = typname
        self.kind = _kind(field)
        self.binary = self._binary_ok(elem)

    def _binary_ok(self, elem: str | None) -> bool:
        kind = self.kind
        if kind is None:
            return False
        if kind == "datetime" and not settings.USE_TZ:
            return False  # naive datetimes: only the server knows the session time zone
        if kind == "array":
            base = self.field.base_field
            base_kind = _kind(base)
            if elem is None or base_kind in (None, "array", "json"):
                return False
            if base_kind == "datetime" and not settings.USE_TZ:
                return False
            return elem in _BINARY_COLUMNS[base_kind]
        return self.typname in _BINARY_COLUMNS[kind]


def _coercer(column: _Column, binary: bool) -> Callable[[Any], Any] | None:
    """What a converted value still needs before a binary dumper takes it."""
    if not binary:
        return None
    kind, name = column.kind, column.name
    if column.kind == "array":
        kind = _kind(column.field.base_field)
        item = _scalar_coercer(kind, column.typname.lstrip("_"), name)
        if item is None:
            return None

        def each(value: Any) -> Any:
            return [None if v is None else item(v) for v in value]

        return each
    return _scalar_coercer(kind, column.typname, name)


def _scalar_coercer(kind: str | None, typname: str, column: str) -> Callable[[Any], Any] | None:
    if kind == "int":
        low, high = _INT_RANGES[typname]

        def in_range(value: Any) -> Any:
            if not low <= value <= high:
                raise DataError(
                    f"Value {value!r} is out of range for column {column!r} ({typname}: "
                    f"{low} to {high})."
                )
            return value

        return in_range
    if kind == "bytes":
        return lambda value: value.encode() if isinstance(value, str) else bytes(value)
    if kind == "time":
        return lambda value: value.replace(tzinfo=None) if value.tzinfo is not None else value
    return None


def _converter(column: _Column, conn: Any, binary: bool) -> Callable[[Any], Any]:
    """``value -> parameter``: what ``bulk_create`` does to a field's value, plus coercion."""
    field = column.field
    prep = field.get_db_prep_save
    coerce = _coercer(column, binary)
    name = field.name

    def convert(value: Any) -> Any:
        if value is None:
            return None
        value = prep(value, conn)
        if value is None:
            return None
        if hasattr(value, "resolve_expression"):
            raise TypeError(
                f"bulk_copy_from() cannot write an expression ({value!r}) to field {name!r}: "
                "COPY takes values only. Compute the value, or use bulk_create()/update()."
            )
        return coerce(value) if coerce is not None else value

    return convert


#: kind -> (the exact type that needs no conversion, extra condition template or "").
_FAST = {
    "text": ("str", ""),
    "int": ("int", ""),
    "bool": ("bool", ""),
    "float": ("float", ""),
    "decimal": ("_Decimal", ""),
    "uuid": ("_UUID", ""),
    "date": ("_date", ""),
}


class _Variant:
    """One column list of a model's COPY: its SQL, types and row maker."""

    __slots__ = ("binary", "columns", "make", "oids", "sql")

    def __init__(self, plan: _Plan, columns: list[_Column], include_pk: bool, omit: frozenset[str]):
        self.columns = columns
        self.binary = all(c.binary for c in columns)
        self.oids = [c.oid for c in columns]
        qn = plan.conn.ops.quote_name
        cols = ", ".join(qn(c.name) for c in columns)
        fmt = " (FORMAT BINARY)" if self.binary else ""
        self.sql = f"COPY {qn(plan.meta.db_table)} ({cols}) FROM STDIN{fmt}"
        self.make = self._compile(plan, include_pk, omit)

    def _compile(self, plan: _Plan, include_pk: bool, omit: frozenset[str]) -> Callable[..., Any]:
        ns: dict[str, Any] = {
            "M": plan.model,
            "check": plan.check,
            "prep_related": plan.prep_related,
            "DD": DATABASE_DEFAULT,
            "_Decimal": decimal.Decimal,
            "_UUID": uuid.UUID,
            "_date": datetime.date,
            "_datetime": datetime.datetime,
        }
        lines = [
            "def make(obj):",
            "    if obj.__class__ is not M:",
            "        check(obj)",
        ]
        if plan.prep_related is not None:
            lines.append("    prep_related(obj)")
        lines.append("    d = obj.__dict__")
        if plan.auto_pk is not None:
            test = "is None" if include_pk else "is not None"
            lines.append(f"    if d.get({plan.auto_pk.attname!r}) {test}:")
            lines.append("        return None")
        for i, field in enumerate(plan.db_default_fields):
            if field.attname in omit:
                ns[f"g{i}"] = plan.getter(field)
                lines.append(f"    if g{i}(obj) is not DD:")
                lines.append("        return None")
        names = []
        for i, column in enumerate(self.columns):
            field = column.field
            v = f"v{i}"
            names.append(v)
            if type(field).pre_save is Field.pre_save:
                lines.append(f"    {v} = d.get({field.attname!r})")
            else:
                ns[f"p{i}"] = field.pre_save
                lines.append(f"    {v} = p{i}(obj, True)")
            if field in plan.db_default_fields:
                lines.append(f"    if {v} is DD:")
                lines.append("        return None")
            ns[f"c{i}"] = _converter(column, plan.conn, self.binary)
            fast = _FAST.get(column.kind or "")
            if field.is_relation and column.kind != "int":
                fast = None  # a foreign key turns "" into NULL: always convert
            if fast is not None:
                test = f"{v}.__class__ is not {fast[0]}"
                if column.kind == "int" and self.binary:
                    low, high = _INT_RANGES[column.typname]
                    test += f" or not ({low} <= {v} <= {high})"
                lines.append(f"    if {test}:")
                lines.append(f"        {v} = c{i}({v})")
            elif column.kind == "datetime" and settings.USE_TZ:
                lines.append(f"    if {v}.__class__ is not _datetime or {v}.tzinfo is None:")
                lines.append(f"        {v} = c{i}({v})")
            else:
                lines.append(f"    {v} = c{i}({v})")
        lines.append(f"    return ({', '.join(names)}{',' if len(names) == 1 else ''})")
        source = "\n".join(lines) + "\n"
        code = compile(source, f"<bulk_copy_from {plan.meta.label}>", "exec")
        exec(code, ns)
        return ns["make"]  # type: ignore[no-any-return]


class _Plan:
    """How to COPY instances of ``model`` into its table on ``conn`` (one call's worth)."""

    def __init__(self, model: Any, conn: Any, columns: list[tuple[Any, ...]], fields: Any) -> None:
        meta = model._meta
        self.model = model
        self.meta = meta
        self.conn = conn
        table = meta.db_table
        if not columns:
            raise ProgrammingError(
                f"bulk_copy_from(): table {table!r} of {meta.label} does not exist on alias "
                f"{conn.alias!r}. Create it first (migrate, or a schema editor)."
            )
        by_name = {row[0]: row for row in columns}
        pk = meta.pk
        if fields is None:
            chosen = list(meta.concrete_fields)
            self.auto_pk = pk if isinstance(pk, AutoField) else None
        else:
            chosen = self._chosen(fields)
            self.auto_pk = None
        self.fields = chosen
        self.columns: dict[str, _Column] = {}
        for field in chosen:
            info = by_name.get(field.column)
            if info is None:
                raise ProgrammingError(
                    f"bulk_copy_from(): column {field.column!r} of {meta.label}.{field.name} "
                    f"does not exist in table {table!r} (alias {conn.alias!r}). Is the "
                    "table's schema up to date (migrations applied)?"
                )
            self.columns[field.attname] = _Column(field, info[1], info[2], info[3])
        self.db_default_fields = [f for f in chosen if f.has_db_default() and f is not pk]
        relations = any(f.is_relation for f in chosen)
        self.prep_related = (
            getattr(model, "_prepare_related_fields_for_save", None) if relations else None
        )
        self._variants: dict[tuple[bool, frozenset[str]], _Variant] = {}

    def _chosen(self, fields: Any) -> list[Any]:
        if isinstance(fields, str) or not isinstance(fields, Iterable):
            raise TypeError(f"fields must be a list of field names, got {fields!r}.")
        meta = self.meta
        chosen: list[Any] = []
        for name in fields:
            field = meta.pk if name == "pk" else meta.get_field(name)
            if not getattr(field, "concrete", False) or getattr(field, "many_to_many", False):
                raise ValueError(
                    f"bulk_copy_from(): {meta.label}.{name} is not a concrete column; "
                    "fields= takes the model's column fields."
                )
            if field not in chosen:
                chosen.append(field)
        if not chosen:
            raise ValueError("bulk_copy_from(): fields= names no field.")
        return chosen

    def check(self, obj: Any) -> None:
        meta = getattr(obj, "_meta", None)
        if meta is None or (meta is not self.meta and meta.label != self.meta.label):
            raise TypeError(
                f"bulk_copy_from() got a {type(obj).__name__}, expected "
                f"{self.meta.object_name} instances."
            )

    @staticmethod
    def getter(field: Any) -> Callable[[Any], Any]:
        if type(field).pre_save is Field.pre_save:
            attname = field.attname
            return lambda obj: obj.__dict__.get(attname)
        return lambda obj: field.pre_save(obj, True)

    def key(self, obj: Any) -> tuple[bool, frozenset[str]]:
        """Which columns ``obj`` needs: with its primary key or not, which db_defaults left out."""
        self.check(obj)
        include_pk = True
        if self.auto_pk is not None:
            include_pk = obj.__dict__.get(self.auto_pk.attname) is not None
        omit = frozenset(
            f.attname for f in self.db_default_fields if self.getter(f)(obj) is DATABASE_DEFAULT
        )
        return include_pk, omit

    def variant(self, obj: Any) -> _Variant:
        key = self.key(obj)
        variant = self._variants.get(key)
        if variant is None:
            include_pk, omit = key
            columns = [
                self.columns[f.attname]
                for f in self.fields
                if f.attname not in omit and (include_pk or f is not self.auto_pk)
            ]
            if not columns:
                raise ValueError(
                    f"bulk_copy_from(): nothing to write for {self.meta.label}: every column "
                    "is left to the database."
                )
            variant = self._variants[key] = _Variant(self, columns, include_pk, omit)
        return variant


def _table_param(conn: Any, model: Any) -> str:
    return str(conn.ops.quote_name(model._meta.db_table))


# COPY FROM: sync ------------------------------------------------------------------------


def _copy_segment(
    raw: Any, variant: _Variant, first: Any, it: Iterator[Any], limit: int | None
) -> tuple[int, Any]:
    """One COPY statement: ``first``, then rows of ``it`` until a row needs other columns
    (returned as pending), ``limit`` rows, or the end. Returns (rows, pending or _END)."""
    make = variant.make
    first_row = make(first)
    if first_row is None:  # pragma: no cover - the variant was chosen for this object
        raise RuntimeError("bulk_copy_from(): inconsistent column choice")
    pending = _END
    with raw.cursor() as cur:
        if variant.binary:
            cur.adapters.register_dumper(_JsonbBinary, _JsonbBinaryDumper)
        with cur.copy(variant.sql) as copy:
            if variant.binary:
                copy.set_types(variant.oids)
            write = copy.write_row
            write(first_row)
            source = it if limit is None else itertools.islice(it, limit - 1)
            for obj in source:
                row = make(obj)
                if row is None:
                    pending = obj
                    break
                write(row)
        count = cur.rowcount
    return count, pending


def _copy_stream(
    conn: Any,
    raw: Any,
    plan: _Plan,
    it: Iterator[Any],
    batch_size: int | None,
    guard: bool,
) -> int:
    total = 0
    pending = _END
    while True:
        if pending is _END:
            try:
                first = next(it)
            except StopIteration:
                return total
        else:
            first = pending
        variant = plan.variant(first)

        def segment(variant: _Variant = variant, first: Any = first) -> tuple[int, Any]:
            with conn.errors:
                if guard:
                    with _sync_guard(conn, "bulk_copy_from()"):
                        return _copy_segment(raw, variant, first, it, batch_size)
                return _copy_segment(raw, variant, first, it, batch_size)

        count, pending = _run_hooked(conn, variant.sql, segment)
        total += int(count)
        if pending is _END and batch_size is None:
            return total


def bulk_copy_from(
    model: Any,
    objs: Iterable[Any],
    *,
    using: str | None = None,
    fields: Iterable[str] | None = None,
    batch_size: int | None = None,
) -> int:
    """Insert ``objs`` (instances of ``model``) with ``COPY ... FROM STDIN``; returns the rows.

    ``objs``: a list, tuple or any iterable (a generator is streamed, never collected).
    ``fields``: field names to write (default: every concrete field; an auto-increment
    primary key only for instances that have one set). ``batch_size``: rows per COPY
    statement (default: one statement). ``using``: the alias (default: the router's write
    database for ``model``).
    """
    _check_batch_size(batch_size)
    alias = using or router.db_for_write(model)
    conn = connections[alias]
    _require_postgres(conn, "bulk_copy_from()")
    it = iter(objs)
    if conn.tx.in_atomic_block or isinstance(objs, (list, tuple)):
        # In the caller's transaction (a savepoint), or -- a materialized source runs no
        # code of its own while being read -- in one on this thread's connection.
        with atomic(using=alias):
            columns = conn.fetchall(_COLUMNS_SQL, [_table_param(conn, model)])
            plan = _Plan(model, conn, columns, fields)
            guard = not isinstance(objs, (list, tuple))
            return _copy_stream(conn, conn.connection, plan, it, batch_size, guard)
    # A transaction of its own on a connection of its own: the source may query freely.
    with conn.errors:
        raw = conn.get_new_connection()
    ok = False
    try:
        with conn.errors:
            raw.execute("BEGIN")
            columns = raw.execute(_COLUMNS_SQL, [_table_param(conn, model)]).fetchall()
        plan = _Plan(model, conn, columns, fields)
        total = _copy_stream(conn, raw, plan, it, batch_size, False)
        with conn.errors:
            raw.execute("COMMIT")
        ok = True
        return total
    finally:
        _release_sync(conn, raw, ok)


def _release_sync(conn: Any, raw: Any, ok: bool) -> None:
    if not ok and not raw.closed:
        try:
            raw.execute("ROLLBACK")
        except Exception:
            with contextlib.suppress(Exception):
                raw.close()
    pool = conn.pool
    if pool is None:
        with contextlib.suppress(Exception):
            raw.close()
        return
    try:
        pool.putconn(raw)
    except Exception:
        with contextlib.suppress(Exception):
            raw.close()


# COPY FROM: async -----------------------------------------------------------------------


class _Source:
    """Rows pulled one at a time from a sync or an async iterable."""

    __slots__ = ("ait", "it")

    def __init__(self, objs: Any) -> None:
        if hasattr(objs, "__aiter__"):
            self.ait: Any = objs.__aiter__()
            self.it: Any = None
        else:
            self.ait = None
            self.it = iter(objs)

    async def next(self) -> Any:
        if self.it is not None:
            return next(self.it, _END)
        try:
            return await self.ait.__anext__()
        except StopAsyncIteration:
            return _END


async def _acopy_segment(
    raw: Any, variant: _Variant, first: Any, source: _Source, limit: int | None
) -> tuple[int, Any]:
    make = variant.make
    first_row = make(first)
    if first_row is None:  # pragma: no cover
        raise RuntimeError("bulk_copy_from(): inconsistent column choice")
    pending = _END
    async with raw.cursor() as cur:
        if variant.binary:
            cur.adapters.register_dumper(_JsonbBinary, _JsonbBinaryDumper)
        async with cur.copy(variant.sql) as copy:
            if variant.binary:
                copy.set_types(variant.oids)
            write = copy.write_row
            await write(first_row)
            if source.it is not None:
                it = source.it if limit is None else itertools.islice(source.it, limit - 1)
                for obj in it:
                    row = make(obj)
                    if row is None:
                        pending = obj
                        break
                    await write(row)
            else:
                left = -1 if limit is None else limit - 1
                while left:
                    obj = await source.next()
                    if obj is _END:
                        break
                    row = make(obj)
                    if row is None:
                        pending = obj
                        break
                    await write(row)
                    left -= 1
        count = cur.rowcount
    return count, pending


async def _acopy_stream(
    conn: Any, raw: Any, plan: _Plan, source: _Source, batch_size: int | None, binding: Any
) -> int:
    total = 0
    pending = _END
    while True:
        first = await source.next() if pending is _END else pending
        if first is _END:
            return total
        variant = plan.variant(first)

        async def segment(variant: _Variant = variant, first: Any = first) -> tuple[int, Any]:
            with conn.errors:
                if binding is not None:
                    with _async_guard(conn, binding, "abulk_copy_from()"):
                        return await _acopy_segment(raw, variant, first, source, batch_size)
                return await _acopy_segment(raw, variant, first, source, batch_size)

        count, pending = await _arun_hooked(conn, variant.sql, segment)
        total += int(count)
        if pending is _END and batch_size is None:
            return total


async def abulk_copy_from(
    model: Any,
    objs: Iterable[Any] | AsyncIterable[Any],
    *,
    using: str | None = None,
    fields: Iterable[str] | None = None,
    batch_size: int | None = None,
) -> int:
    """Async :func:`bulk_copy_from`; ``objs`` may also be an async iterable."""
    _check_batch_size(batch_size)
    alias = using or router.db_for_write(model)
    conn = async_connections[alias]
    _require_postgres(conn, "abulk_copy_from()")
    source = _Source(objs)
    if conn.current_binding() is not None:
        # Inside aatomic() or pinned_connection(): on the task's connection, in a savepoint.
        async with aatomic(using=alias):
            binding = conn.current_binding()
            columns = await conn.fetchall(_COLUMNS_SQL, [_table_param(conn, model)])
            plan = _Plan(model, conn, columns, fields)
            guarded = None if isinstance(objs, (list, tuple)) else binding
            return await _acopy_stream(conn, binding.raw, plan, source, batch_size, guarded)
    raw = await conn.pool.acquire()
    ok = discard = False
    try:
        with conn.errors:
            await raw.execute("BEGIN")
            cur = await raw.execute(_COLUMNS_SQL, [_table_param(conn, model)])
            columns = await cur.fetchall()
        plan = _Plan(model, conn, columns, fields)
        total = await _acopy_stream(conn, raw, plan, source, batch_size, None)
        with conn.errors:
            await raw.execute("COMMIT")
        ok = True
        return total
    finally:
        if not ok and not raw.closed:
            try:
                await raw.execute("ROLLBACK")
            except Exception:
                discard = True
        conn.pool.release(raw, discard=discard or raw.closed)


# COPY TO ---------------------------------------------------------------------------------


class _Query:
    """What to copy out: SQL, params, and converters of a QuerySet's columns."""

    __slots__ = ("converters", "empty", "params", "sql")

    def __init__(self, query: Any, params: Any, conn: Any) -> None:
        self.empty = False
        self.converters: tuple[tuple[int, tuple[Any, ...]], ...] = ()
        if isinstance(query, str):
            self.sql = query.strip().rstrip(";").rstrip()
            self.params = list(params) if params else None
            return
        if params is not None:
            raise TypeError("copy_to(queryset) takes no params: they come from the QuerySet.")
        try:
            sql, qparams, plan = query.query.get_compiler(conn).compile_select()
        except EmptyResultSet:
            self.empty = True
            self.sql, self.params = "", None
            return
        self.sql = sql
        self.params = list(qparams) or None
        self.converters = tuple(plan.converters)

    def probe_sql(self) -> str:
        return f"SELECT * FROM ({self.sql}) AS dorm_copy_to LIMIT 0"

    def copy_sql(self, binary: bool) -> str:
        sql = self.sql if self.params else self.sql.replace("%%", "%")
        return f"COPY ({sql}) TO STDOUT" + (" (FORMAT BINARY)" if binary else "")

    def convert(self, rows: Iterator[tuple[Any, ...]]) -> Iterator[tuple[Any, ...]]:
        converters = self.converters
        if not converters:
            yield from rows
            return
        for row in rows:
            values = list(row)
            for index, funcs in converters:
                value = values[index]
                for func in funcs:
                    value = func(value)
                values[index] = value
            yield tuple(values)


def _resolve_copy_to(query: Any, params: Any, using: str | None, is_async: bool) -> Any:
    if isinstance(query, str):
        alias = using or DEFAULT_DB_ALIAS
    elif hasattr(query, "query") and hasattr(query, "model"):
        alias = using or query.db
    else:
        raise TypeError(f"copy_to() takes an SQL string or a QuerySet, got {query!r}.")
    conn = (async_connections if is_async else connections)[alias]
    _require_postgres(conn, "acopy_to()" if is_async else "copy_to()")
    return conn, _Query(query, params, conn)


def _types(description: Any) -> tuple[list[int], bool]:
    oids = [int(col.type_code) for col in description or ()]
    return oids, all(oid in _BINARY_OUT_OIDS for oid in oids)


def copy_to(
    query: Any, params: Any = None, *, using: str | None = None
) -> Generator[tuple[Any, ...], None, None]:
    """Stream the rows of ``query`` (SQL with ``%s`` placeholders, or a QuerySet) via COPY.

    ``using``: the alias (default ``"default"`` for SQL, the QuerySet's database for a
    QuerySet). Returns an iterator of tuples.
    """
    conn, q = _resolve_copy_to(query, params, using, False)
    return _copy_to(conn, q)


def _copy_to(conn: Any, q: _Query) -> Generator[tuple[Any, ...], None, None]:
    if q.empty:
        return
    if conn.tx.in_atomic_block:
        raw = conn.connection
        with conn.errors:
            description = raw.execute(q.probe_sql(), q.params or ()).description
        oids, binary = _types(description)
        guard = _sync_guard(conn, "copy_to()")
        yield from _read_copy(conn, raw, q, oids, binary, guard)
        return
    with conn.errors:
        raw = conn.get_new_connection()
    done = False
    try:
        with conn.errors:
            description = raw.execute(q.probe_sql(), q.params or ()).description
        oids, binary = _types(description)
        yield from _read_copy(conn, raw, q, oids, binary, None)
        done = True
    finally:
        if not done:
            # Left early (or failed): drop the connection rather than cancel the COPY.
            with contextlib.suppress(Exception):
                raw.close()
        _release_sync(conn, raw, True)


def _read_copy(
    conn: Any, raw: Any, q: _Query, oids: list[int], binary: bool, guard: Any
) -> Iterator[tuple[Any, ...]]:
    """Run the COPY TO and yield its rows. ``guard``: in a transaction, the block refusing
    other statements on ``raw`` while it streams (entered once the COPY has started)."""
    in_transaction = guard is not None
    sql = q.copy_sql(binary)
    cur = raw.cursor()
    try:
        ctx = cur.copy(sql, q.params)

        def start() -> Any:
            with conn.errors:
                return ctx.__enter__()

        copy = _run_hooked(conn, sql, start)
        finished = False
        stack = contextlib.ExitStack()
        try:
            if guard is not None:
                stack.enter_context(guard)
            copy.set_types(oids)
            rows = copy.rows()
            while True:
                with conn.errors:
                    chunk = list(itertools.islice(rows, 256))
                if not chunk:
                    break
                yield from q.convert(iter(chunk))
            finished = True
        finally:
            stack.close()
            if not finished and in_transaction and not raw.closed:
                # Keep the transaction usable: read the rest instead of cancelling the COPY.
                with contextlib.suppress(Exception):
                    while copy.read():
                        pass
            if raw.closed or not finished:
                with contextlib.suppress(Exception):
                    ctx.__exit__(None, None, None)
            else:
                with conn.errors:
                    ctx.__exit__(None, None, None)
    finally:
        with contextlib.suppress(Exception):
            cur.close()


def acopy_to(
    query: Any, params: Any = None, *, using: str | None = None
) -> AsyncGenerator[tuple[Any, ...], None]:
    """Async :func:`copy_to`: ``async for row in acopy_to(sql_or_queryset): ...``."""
    conn, q = _resolve_copy_to(query, params, using, True)
    return _acopy_to(conn, q)


async def _acopy_to(conn: Any, q: _Query) -> AsyncGenerator[tuple[Any, ...], None]:
    if q.empty:
        return
    binding = conn.current_binding()
    if binding is not None and binding.tx.in_atomic_block:
        raw = binding.raw
        with conn.errors:
            cur = await raw.execute(q.probe_sql(), q.params or ())
        oids, binary = _types(cur.description)
        guard = _async_guard(conn, binding, "acopy_to()")
        # aclosing: leaving early must run the reader's cleanup now (async for does not).
        async with contextlib.aclosing(_aread_copy(conn, raw, q, oids, binary, guard)) as rows:
            async for row in rows:
                yield row
        return
    raw = await conn.pool.acquire()
    done = False
    try:
        with conn.errors:
            cur = await raw.execute(q.probe_sql(), q.params or ())
        oids, binary = _types(cur.description)
        async with contextlib.aclosing(_aread_copy(conn, raw, q, oids, binary, None)) as rows:
            async for row in rows:
                yield row
        done = True
    finally:
        if not done:
            with contextlib.suppress(Exception):
                await raw.close()
        conn.pool.release(raw, discard=not done or raw.closed)


async def _aread_copy(
    conn: Any, raw: Any, q: _Query, oids: list[int], binary: bool, guard: Any
) -> AsyncGenerator[tuple[Any, ...], None]:
    in_transaction = guard is not None
    sql = q.copy_sql(binary)
    cur = raw.cursor()
    try:
        ctx = cur.copy(sql, q.params)

        async def start() -> Any:
            with conn.errors:
                return await ctx.__aenter__()

        copy = await _arun_hooked(conn, sql, start)
        finished = False
        stack = contextlib.ExitStack()
        try:
            if guard is not None:
                stack.enter_context(guard)
            copy.set_types(oids)
            read_row = copy.read_row
            convert = q.convert if q.converters else None
            while True:
                with conn.errors:
                    row = await read_row()
                if row is None:
                    break
                if convert is not None:
                    row = next(convert(iter((row,))))
                yield row
            finished = True
        finally:
            stack.close()
            if not finished and in_transaction and not raw.closed:
                with contextlib.suppress(Exception):
                    while await copy.read():
                        pass
            if raw.closed or not finished:
                with contextlib.suppress(Exception):
                    await ctx.__aexit__(None, None, None)
            else:
                with conn.errors:
                    await ctx.__aexit__(None, None, None)
    finally:
        with contextlib.suppress(Exception):
            await cur.close()
