"""PostgreSQL schema features as migration operations: materialized views and declarative
partitioning.

Published in the ``djanorm.migration_operations`` entry-point group, so a migration file
imports them from the core like any other operation::

    from dorm.migrations.operations import CreateMaterializedView, CreatePartition

    # or: from dorm import migrations; migrations.CreateMaterializedView(...)

Each operation builds its DDL once (pure code, the ``*_statements()`` methods) and emits it
through ``schema_editor.execute()``, so ``migrate`` (sync or async), ``sqlmigrate`` and
``migrate --plan`` all see the same statements. None of them changes the project state:
a model that reads a view or a partitioned table is declared with ``Meta.managed = False``
(its ``CreateModel`` then creates nothing).

Identifiers (view, table, partition, index and key column names) are quoted. Three
arguments are raw SQL by design, like ``RunSQL``: the view's query (``sql``), the table's
column definitions (``columns_sql``) and a partition's bounds (``for_values``). As
everywhere in dorm, raw SQL is written in the DB-API "format" style, so a literal ``%`` is
written ``%%`` (a lone ``%`` is rejected when the operation is built).

On a database that is not PostgreSQL the operations raise
:class:`~dorm.exceptions.NotSupportedError` when a migration runs them (never on import),
unless the routers' ``allow_migrate`` excludes the migration from that database. A backend
may declare support explicitly with the ``supports_materialized_views`` /
``supports_table_partitioning`` feature flags.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from dorm.exceptions import NotSupportedError
from dorm.migrations.exceptions import IrreversibleError, MigrationError
from dorm.migrations.operations.base import Operation

__all__ = [
    "AttachPartition",
    "CreateMaterializedView",
    "CreatePartition",
    "CreatePartitionedTable",
    "DetachPartition",
    "DropMaterializedView",
    "PostgresOperation",
    "RefreshMaterializedView",
    "quote_identifier",
    "refresh_materialized_view_sql",
]

#: The partitioning methods of ``PARTITION BY``.
PARTITION_METHODS = ("RANGE", "LIST", "HASH")
#: PostgreSQL truncates longer identifiers (NAMEDATALEN - 1 bytes).
MAX_IDENTIFIER_BYTES = 63

Quote = Callable[[str], str]


# Pure helpers ---------------------------------------------------------------------------------


def quote_identifier(name: str) -> str:
    """``name`` as a PostgreSQL quoted identifier (``"my ""odd"" name"``)."""
    if name.startswith('"') and name.endswith('"') and len(name) > 1:
        return name
    return '"' + name.replace('"', '""') + '"'


def _format_safe(sql: str) -> str:
    """Statements travel in DB-API "format" style: a ``%`` in an identifier is ``%%``."""
    return sql.replace("%", "%%")


def _check_name(operation: str, argument: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{operation}: {argument} must be a non-empty string, got {value!r}.")
    if "\x00" in value:
        raise ValueError(f"{operation}: {argument} {value!r} contains a NUL byte.")
    bare = value[1:-1] if value.startswith('"') and value.endswith('"') else value
    if len(bare.encode("utf-8")) > MAX_IDENTIFIER_BYTES:
        raise ValueError(
            f"{operation}: {argument} {value!r} is longer than PostgreSQL's "
            f"{MAX_IDENTIFIER_BYTES}-byte limit for identifiers (it would be truncated); "
            "choose a shorter name."
        )
    return value


def _check_raw_sql(operation: str, argument: str, value: Any) -> str:
    if isinstance(value, (list, tuple)) and argument == "columns_sql":
        if not value or not all(isinstance(v, str) and v.strip() for v in value):
            raise ValueError(
                f"{operation}: columns_sql must be a string or a list of non-empty strings."
            )
        value = ", ".join(v.strip() for v in value)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{operation}: {argument} must be non-empty SQL, got {value!r}.")
    if "%" in value.replace("%%", ""):
        raise ValueError(
            f"{operation}: {argument} contains a lone '%'. Raw SQL in dorm is written in the "
            "DB-API 'format' style (as in RunSQL and raw()): write a literal % as %%."
        )
    return value.strip().rstrip(";").rstrip()


def _fragment(name: str) -> str:
    """A migration-name fragment for an identifier."""
    return re.sub(r"\W+", "_", name.strip('"').lower()).strip("_")


def _sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def refresh_materialized_view_sql(
    name: str, concurrently: bool = False, quote_name: Quote = quote_identifier
) -> str:
    """The statement that refreshes the materialized view ``name``.

    With ``concurrently=True`` the ``REFRESH ... CONCURRENTLY`` runs in a ``DO`` block that
    turns PostgreSQL's "needs a unique index" error (SQLSTATE 55000) into a message that
    says what to do, keeping the SQLSTATE and PostgreSQL's own message.
    """
    view = quote_name(name)
    if not concurrently:
        return _format_safe(f"REFRESH MATERIALIZED VIEW {view}")
    message = (
        f"Cannot refresh materialized view {view} CONCURRENTLY: it needs a unique index. "
        "PostgreSQL refreshes a materialized view concurrently only when it has a UNIQUE "
        "index on plain columns, without a WHERE clause. Add one (CreateMaterializedView(..., "
        "indexes=[dorm.UniqueConstraint(fields=[...], name=...)]) or CREATE UNIQUE INDEX ... "
        f"ON {view} (...)), or refresh with concurrently=False. PostgreSQL said: "
    )
    return _format_safe(
        "DO $dorm$\n"
        "BEGIN\n"
        f"    REFRESH MATERIALIZED VIEW CONCURRENTLY {view};\n"
        "EXCEPTION WHEN object_not_in_prerequisite_state THEN\n"
        "    RAISE EXCEPTION USING ERRCODE = SQLSTATE,\n"
        f"        MESSAGE = {_sql_literal(message)} || SQLERRM,\n"
        "        HINT = 'Create a unique index with no WHERE clause on one or more columns "
        "of the materialized view.';\n"
        "END\n"
        "$dorm$"
    )


def _index_statement(view: str, index: Any, quote_name: Quote, operation: str) -> str:
    """``CREATE [UNIQUE] INDEX`` on a materialized view from a ``dorm.Index`` or a
    ``dorm.UniqueConstraint`` (which becomes a unique index: views have no constraints)."""
    from dorm.models.constraints import Index, UniqueConstraint

    if isinstance(index, UniqueConstraint):
        unique, suffix = True, "uniq"
        columns = [(f, "") for f in index.fields]
        include: list[str] = []
    elif isinstance(index, Index):
        unique, suffix = False, "idx"
        opclasses = list(index.opclasses) + [""] * len(index.fields)
        columns = [
            (f.lstrip("-"), (f" {oc}" if oc else "") + (" DESC" if f.startswith("-") else ""))
            for f, oc in zip(index.fields, opclasses, strict=False)
        ]
        include = list(index.include)
    else:
        raise ValueError(
            f"{operation}: indexes takes dorm.Index and dorm.UniqueConstraint objects (columns "
            f"of the view), got {index!r}."
        )
    if getattr(index, "condition", None) is not None:
        raise ValueError(
            f"{operation}: index {index.name or index!r} has a condition; partial indexes on a "
            "materialized view need RunSQL (and cannot serve REFRESH ... CONCURRENTLY)."
        )
    if index.name:
        name = _check_name(operation, "index", index.name)
    else:
        bare = view.strip('"')
        name = f"{bare}_{'_'.join(c for c, _ in columns)}_{suffix}"
        name = name.encode()[:MAX_IDENTIFIER_BYTES].decode(errors="ignore")
    cols = ", ".join(f"{quote_name(col)}{extra}" for col, extra in columns)
    sql = (
        f"CREATE {'UNIQUE ' if unique else ''}INDEX {quote_name(name)} "
        f"ON {quote_name(view)} ({cols})"
    )
    if include:
        sql += f" INCLUDE ({', '.join(quote_name(c) for c in include)})"
    if unique and getattr(index, "nulls_distinct", None) is False:
        sql += " NULLS NOT DISTINCT"
    return _format_safe(sql)


def _partition_key(operation: str, key: Any) -> list[str]:
    keys = [key] if isinstance(key, str) else list(key) if isinstance(key, (list, tuple)) else []
    if not keys or not all(isinstance(k, str) and k.strip() for k in keys):
        raise ValueError(
            f"{operation}: key must be a column name or a list of them (an expression in "
            f"parentheses, like '(lower(name))', is used as is), got {key!r}."
        )
    for k in keys:
        if k.lstrip().startswith("("):
            _check_raw_sql(operation, "key", k)
        else:
            _check_name(operation, "key", k)
    return keys


def _render_key(keys: Sequence[str], quote_name: Quote) -> str:
    parts = []
    for k in keys:
        if k.lstrip().startswith("("):
            parts.append(k.strip())  # raw expression, already % -checked
        else:
            parts.append(_format_safe(quote_name(k)))
    return ", ".join(parts)


class _Bound:
    """A partition bound: ``for_values`` (raw SQL), ``default=True`` or HASH
    ``modulus``/``remainder``."""

    def __init__(
        self,
        operation: str,
        for_values: str | None,
        default: bool,
        modulus: int | None,
        remainder: int | None,
        required: bool = True,
    ) -> None:
        hashed = modulus is not None or remainder is not None
        given = [for_values is not None, bool(default), hashed]
        if sum(given) > 1:
            raise ValueError(
                f"{operation}: give only one of for_values=, default=True, or "
                "modulus=/remainder= (HASH)."
            )
        if required and not any(given):
            raise ValueError(
                f'{operation}: the partition needs its bounds: for_values="FROM (...) TO (...)" '
                '(RANGE), "IN (...)" (LIST), "WITH (MODULUS m, REMAINDER r)" (HASH) or '
                "modulus=/remainder=, or default=True for the DEFAULT partition."
            )
        if not isinstance(default, bool):
            raise ValueError(f"{operation}: default must be True or False, got {default!r}.")
        self.clause: str | None = None
        if for_values is not None:
            sql = _check_raw_sql(operation, "for_values", for_values)
            if re.match(r"(?is)\s*FOR\s+VALUES\b", sql):
                sql = re.sub(r"(?is)^\s*FOR\s+VALUES\s+", "", sql)
            if sql.strip().upper() == "DEFAULT":
                self.clause = "DEFAULT"
            else:
                self.clause = f"FOR VALUES {sql}"
        elif default:
            self.clause = "DEFAULT"
        elif hashed:
            if not (
                isinstance(modulus, int)
                and isinstance(remainder, int)
                and not isinstance(modulus, bool)
                and not isinstance(remainder, bool)
                and modulus > 0
                and 0 <= remainder < modulus
            ):
                raise ValueError(
                    f"{operation}: a HASH partition needs integers modulus > 0 and "
                    f"0 <= remainder < modulus, got modulus={modulus!r}, remainder={remainder!r}."
                )
            self.clause = f"FOR VALUES WITH (MODULUS {modulus}, REMAINDER {remainder})"

    def __bool__(self) -> bool:
        return self.clause is not None


# The operations ---------------------------------------------------------------------------------


class PostgresOperation(Operation):
    """Base of the PostgreSQL schema operations: database-only, checked at migrate time."""

    #: The ``features`` flag a backend may set to declare support (else: PostgreSQL only).
    feature_flag = ""
    #: What the operation needs, for the NotSupportedError message.
    feature_name = ""

    hints: dict[str, Any]

    def state_forwards(self, app_label: str, state: Any) -> None:
        """Nothing: views and partitions are not models (map a model with managed=False)."""

    def _supported(self, connection: Any) -> bool:
        flag = getattr(getattr(connection, "features", None), self.feature_flag, None)
        if flag is not None:
            return bool(flag)
        return getattr(connection, "vendor", None) == "postgresql"

    def _allowed(self, app_label: str, schema_editor: Any) -> bool:
        """Whether to run here: routers first, then the backend (NotSupportedError)."""
        from dorm.db import router

        connection = schema_editor.connection
        if not router.allow_migrate(connection.alias, app_label, **self.hints):
            return False
        if not self._supported(connection):
            vendor = getattr(connection, "display_name", None) or getattr(
                connection, "vendor", "unknown"
            )
            raise NotSupportedError(
                f"{type(self).__name__} needs {self.feature_name}, which the "
                f"{vendor!s} backend ({getattr(connection, 'vendor', 'unknown')!r}) of database "
                f"{connection.alias!r} does not support: it is a PostgreSQL operation "
                "(dorm-postgres). Run this migration on a PostgreSQL database, or keep it off "
                "this one with a router's allow_migrate()."
            )
        return True

    def _run(
        self, app_label: str, schema_editor: Any, statements: Callable[[Quote], list[str]]
    ) -> None:
        if self._allowed(app_label, schema_editor):
            for sql in statements(schema_editor.quote_name):
                schema_editor.execute(sql)

    def database_forwards(
        self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any
    ) -> None:
        self._run(app_label, schema_editor, self.forwards_statements)

    def database_backwards(
        self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any
    ) -> None:
        if not self.reversible:
            raise IrreversibleError(f"{self.describe()} is irreversible.")
        self._run(app_label, schema_editor, self.backwards_statements)

    def forwards_statements(self, quote_name: Quote = quote_identifier) -> list[str]:
        """The statements ``migrate`` runs (pure: no connection needed)."""
        raise NotImplementedError(f"{type(self).__name__} must implement forwards_statements().")

    def backwards_statements(self, quote_name: Quote = quote_identifier) -> list[str]:
        """The statements that undo :meth:`forwards_statements`."""
        raise NotImplementedError(f"{type(self).__name__} must implement backwards_statements().")


class _ViewOperation(PostgresOperation):
    feature_flag = "supports_materialized_views"
    feature_name = "materialized views"


class CreateMaterializedView(_ViewOperation):
    """``CREATE MATERIALIZED VIEW name AS sql`` (``WITH NO DATA`` when ``with_data=False``),
    then its ``indexes`` (``dorm.Index`` / ``dorm.UniqueConstraint`` on the view's columns;
    a unique one is what ``REFRESH ... CONCURRENTLY`` needs). Reversed by dropping it.
    """

    def __init__(
        self,
        name: str,
        sql: str,
        *,
        with_data: bool = True,
        indexes: Sequence[Any] = (),
        hints: dict[str, Any] | None = None,
    ) -> None:
        op = type(self).__name__
        self.name = _check_name(op, "name", name)
        self.sql = _check_raw_sql(op, "sql", sql)
        self.with_data = bool(with_data)
        self.indexes = list(indexes)
        self.hints = dict(hints or {})
        for index in self.indexes:  # validate now, not at migrate time
            _index_statement(name, index, quote_identifier, op)

    def forwards_statements(self, quote_name: Quote = quote_identifier) -> list[str]:
        view = _format_safe(quote_name(self.name))
        sql = f"CREATE MATERIALIZED VIEW {view} AS {self.sql}"
        if not self.with_data:
            sql += " WITH NO DATA"
        op = type(self).__name__
        return [sql] + [_index_statement(self.name, i, quote_name, op) for i in self.indexes]

    def backwards_statements(self, quote_name: Quote = quote_identifier) -> list[str]:
        return [_format_safe(f"DROP MATERIALIZED VIEW {quote_name(self.name)}")]

    def describe(self) -> str:
        text = f"Create materialized view {self.name}"
        if not self.with_data:
            text += " (with no data)"
        if self.indexes:
            n = len(self.indexes)
            text += f" with {n} index{'es' if n != 1 else ''}"
        return text

    @property
    def migration_name_fragment(self) -> str:
        return _fragment(self.name)


class RefreshMaterializedView(_ViewOperation):
    """``REFRESH MATERIALIZED VIEW [CONCURRENTLY] name``; backwards it does nothing.

    ``concurrently=True`` lets readers read the old rows during the refresh; PostgreSQL
    requires a unique index on the view for it (without one the migration fails with a
    message saying so).
    """

    def __init__(
        self, name: str, *, concurrently: bool = False, hints: dict[str, Any] | None = None
    ) -> None:
        self.name = _check_name(type(self).__name__, "name", name)
        self.concurrently = bool(concurrently)
        self.hints = dict(hints or {})

    def forwards_statements(self, quote_name: Quote = quote_identifier) -> list[str]:
        return [refresh_materialized_view_sql(self.name, self.concurrently, quote_name)]

    def backwards_statements(self, quote_name: Quote = quote_identifier) -> list[str]:
        return []

    def describe(self) -> str:
        how = " concurrently" if self.concurrently else ""
        return f"Refresh materialized view {self.name}{how}"

    @property
    def migration_name_fragment(self) -> str:
        return f"refresh_{_fragment(self.name)}"


class DropMaterializedView(_ViewOperation):
    """``DROP MATERIALIZED VIEW [IF EXISTS] name``.

    Irreversible unless it is given the view's definition (``sql=``, and the ``with_data``
    and ``indexes`` of its ``CreateMaterializedView``): then migrating back recreates it.
    """

    def __init__(
        self,
        name: str,
        *,
        if_exists: bool = True,
        sql: str | None = None,
        with_data: bool = True,
        indexes: Sequence[Any] = (),
        hints: dict[str, Any] | None = None,
    ) -> None:
        op = type(self).__name__
        self.name = _check_name(op, "name", name)
        self.if_exists = bool(if_exists)
        self.hints = dict(hints or {})
        self.create = (
            CreateMaterializedView(name, sql, with_data=with_data, indexes=indexes)
            if sql is not None
            else None
        )
        if sql is None and indexes:
            raise ValueError(f"{op}: indexes= only makes sense with sql= (to recreate the view).")

    @property
    def reversible(self) -> bool:  # type: ignore[override]
        return self.create is not None

    def forwards_statements(self, quote_name: Quote = quote_identifier) -> list[str]:
        exists = "IF EXISTS " if self.if_exists else ""
        return [_format_safe(f"DROP MATERIALIZED VIEW {exists}{quote_name(self.name)}")]

    def backwards_statements(self, quote_name: Quote = quote_identifier) -> list[str]:
        if self.create is None:
            raise IrreversibleError(
                f"{self.describe()} is irreversible: give DropMaterializedView the view's "
                "sql= (and indexes=) to recreate it when migrating back."
            )
        return self.create.forwards_statements(quote_name)

    def describe(self) -> str:
        return f"Drop materialized view {self.name}"

    @property
    def migration_name_fragment(self) -> str:
        return f"delete_{_fragment(self.name)}"


class _PartitionOperation(PostgresOperation):
    feature_flag = "supports_table_partitioning"
    feature_name = "declarative table partitioning"


class CreatePartitionedTable(_PartitionOperation):
    """``CREATE TABLE name (columns_sql) PARTITION BY method (key)``; reversed by dropping it
    (with its partitions).

    ``columns_sql`` is raw SQL (a string, or a list of column/constraint definitions);
    ``method`` is ``"RANGE"``, ``"LIST"`` or ``"HASH"``; ``key`` a column name or a list of
    them (quoted), or an expression in parentheses (used as is). PostgreSQL requires the
    partition key columns in every primary key and unique constraint.
    """

    def __init__(
        self,
        name: str,
        *,
        columns_sql: str | Sequence[str],
        method: str = "RANGE",
        key: str | Sequence[str],
        hints: dict[str, Any] | None = None,
    ) -> None:
        op = type(self).__name__
        self.name = _check_name(op, "name", name)
        self.columns_sql = _check_raw_sql(op, "columns_sql", columns_sql)
        if not isinstance(method, str) or method.strip().upper() not in PARTITION_METHODS:
            raise ValueError(
                f"{op}: method must be one of {', '.join(PARTITION_METHODS)}, got {method!r}."
            )
        self.method = method.strip().upper()
        self.key = _partition_key(op, key)
        self.hints = dict(hints or {})

    def forwards_statements(self, quote_name: Quote = quote_identifier) -> list[str]:
        table = _format_safe(quote_name(self.name))
        return [
            f"CREATE TABLE {table} ({self.columns_sql}) "
            f"PARTITION BY {self.method} ({_render_key(self.key, quote_name)})"
        ]

    def backwards_statements(self, quote_name: Quote = quote_identifier) -> list[str]:
        return [_format_safe(f"DROP TABLE {quote_name(self.name)}")]

    def describe(self) -> str:
        return (
            f"Create partitioned table {self.name} (partition by {self.method} on "
            f"{', '.join(self.key)})"
        )

    @property
    def migration_name_fragment(self) -> str:
        return _fragment(self.name)


class _BoundPartitionOperation(_PartitionOperation):
    """A partition of ``parent`` with bounds (shared by creating and attaching one)."""

    def __init__(
        self,
        *,
        parent: str,
        name: str,
        for_values: str | None = None,
        default: bool = False,
        modulus: int | None = None,
        remainder: int | None = None,
        hints: dict[str, Any] | None = None,
    ) -> None:
        op = type(self).__name__
        self.parent = _check_name(op, "parent", parent)
        self.name = _check_name(op, "name", name)
        self.bound = _Bound(op, for_values, default, modulus, remainder)
        self.hints = dict(hints or {})


class CreatePartition(_BoundPartitionOperation):
    """``CREATE TABLE name PARTITION OF parent FOR VALUES ...`` (or ``DEFAULT``); reversed by
    dropping it (and its rows).

    The bounds: ``for_values`` (raw SQL: ``"FROM ('2026-01-01') TO ('2026-04-01')"``,
    ``"IN ('eu', 'uk')"``, ``"WITH (MODULUS 4, REMAINDER 0)"``; a leading ``FOR VALUES`` is
    optional), ``default=True`` (rows no other partition takes), or ``modulus=``/``remainder=``
    for a HASH partition.
    """

    def forwards_statements(self, quote_name: Quote = quote_identifier) -> list[str]:
        table, parent = _format_safe(quote_name(self.name)), _format_safe(quote_name(self.parent))
        return [f"CREATE TABLE {table} PARTITION OF {parent} {self.bound.clause}"]

    def backwards_statements(self, quote_name: Quote = quote_identifier) -> list[str]:
        return [_format_safe(f"DROP TABLE {quote_name(self.name)}")]

    def describe(self) -> str:
        what = "default partition" if self.bound.clause == "DEFAULT" else "partition"
        text = f"Create {what} {self.name} of {self.parent}"
        return text if self.bound.clause == "DEFAULT" else f"{text} {self.bound.clause}"

    @property
    def migration_name_fragment(self) -> str:
        return _fragment(self.name)


class AttachPartition(_BoundPartitionOperation):
    """``ALTER TABLE parent ATTACH PARTITION name FOR VALUES ...`` (bounds as in
    :class:`CreatePartition`); reversed by detaching it (its rows stay in the table)."""

    def forwards_statements(self, quote_name: Quote = quote_identifier) -> list[str]:
        table, parent = _format_safe(quote_name(self.name)), _format_safe(quote_name(self.parent))
        return [f"ALTER TABLE {parent} ATTACH PARTITION {table} {self.bound.clause}"]

    def backwards_statements(self, quote_name: Quote = quote_identifier) -> list[str]:
        table, parent = _format_safe(quote_name(self.name)), _format_safe(quote_name(self.parent))
        return [f"ALTER TABLE {parent} DETACH PARTITION {table}"]

    def describe(self) -> str:
        return f"Attach partition {self.name} to {self.parent} {self.bound.clause}"

    @property
    def migration_name_fragment(self) -> str:
        return f"attach_{_fragment(self.name)}"


class DetachPartition(_PartitionOperation):
    """``ALTER TABLE parent DETACH PARTITION name [CONCURRENTLY]``: the partition becomes a
    plain table with its rows.

    Reversible (by attaching it again) when given its bounds: ``for_values=``,
    ``default=True`` or ``modulus=``/``remainder=``, as in :class:`CreatePartition`.
    ``concurrently=True`` (PostgreSQL >= 14) takes only a weak lock on the parent, but
    PostgreSQL cannot run it inside a transaction: put it in a migration with
    ``atomic = False``.
    """

    def __init__(
        self,
        *,
        parent: str,
        name: str,
        concurrently: bool = False,
        for_values: str | None = None,
        default: bool = False,
        modulus: int | None = None,
        remainder: int | None = None,
        hints: dict[str, Any] | None = None,
    ) -> None:
        op = type(self).__name__
        self.parent = _check_name(op, "parent", parent)
        self.name = _check_name(op, "name", name)
        self.concurrently = bool(concurrently)
        self.bound = _Bound(op, for_values, default, modulus, remainder, required=False)
        self.hints = dict(hints or {})

    @property
    def reversible(self) -> bool:  # type: ignore[override]
        return bool(self.bound)

    def database_forwards(
        self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any
    ) -> None:
        if (
            self.concurrently
            and (
                getattr(schema_editor, "atomic_migration", False)
                or getattr(schema_editor, "outer_atomic", False)
            )
            and self._allowed(app_label, schema_editor)
        ):
            raise MigrationError(
                f"DetachPartition(parent={self.parent!r}, name={self.name!r}, "
                "concurrently=True) cannot run inside a transaction (PostgreSQL forbids "
                "DETACH PARTITION ... CONCURRENTLY in a transaction block): put it in a "
                "migration with `atomic = False`, and run migrate outside atomic()."
            )
        super().database_forwards(app_label, schema_editor, from_state, to_state)

    def forwards_statements(self, quote_name: Quote = quote_identifier) -> list[str]:
        table, parent = _format_safe(quote_name(self.name)), _format_safe(quote_name(self.parent))
        how = " CONCURRENTLY" if self.concurrently else ""
        return [f"ALTER TABLE {parent} DETACH PARTITION {table}{how}"]

    def backwards_statements(self, quote_name: Quote = quote_identifier) -> list[str]:
        if not self.bound:
            raise IrreversibleError(
                f"{self.describe()} is irreversible: give DetachPartition the partition's "
                "bounds (for_values=, default=True or modulus=/remainder=) to attach it "
                "again when migrating back."
            )
        table, parent = _format_safe(quote_name(self.name)), _format_safe(quote_name(self.parent))
        return [f"ALTER TABLE {parent} ATTACH PARTITION {table} {self.bound.clause}"]

    def describe(self) -> str:
        how = " concurrently" if self.concurrently else ""
        return f"Detach partition {self.name} from {self.parent}{how}"

    @property
    def migration_name_fragment(self) -> str:
        return f"detach_{_fragment(self.name)}"
