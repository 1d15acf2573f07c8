"""The schema editor: DDL for models, written once and run on a sync or async connection.

Methods build statements into ``self.deferred``/execute them through ``execute``; the async
editor collects the same statements and runs them with ``await``.
"""

from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass
from typing import Any

from dorm.exceptions import FieldError, NotSupportedError


@dataclass(frozen=True)
class DbObject:
    """A named index or constraint that belongs to one column (see ``field_db_objects``).

    ``key`` is what defines the object apart from its name: two objects of one kind with
    equal keys are the same object (maybe under another name, after a rename).
    """

    kind: str
    name: str
    key: Any
    create_sql: str
    drop_sql: str
    is_index: bool = False


class BaseDatabaseSchemaEditor:
    """DDL generation; sync use: ``with connection.schema_editor() as editor:``."""

    sql_create_table = "CREATE TABLE %(table)s (%(definition)s)"
    sql_delete_table = "DROP TABLE %(table)s"
    sql_create_index = "CREATE %(unique)sINDEX %(name)s ON %(table)s (%(columns)s)%(condition)s"
    sql_delete_index = "DROP INDEX %(name)s"
    sql_unique_constraint = "CONSTRAINT %(name)s UNIQUE (%(columns)s)"
    sql_check_constraint = "CONSTRAINT %(name)s CHECK (%(check)s)"

    def __init__(self, connection: Any, collect_sql: bool = False, atomic: bool = True) -> None:
        self.connection = connection
        self.collect_sql = collect_sql
        self.collected_sql: list[str] = []
        self.deferred_sql: list[tuple[str, list[Any]]] = []
        self.atomic_migration = atomic and connection.features.can_rollback_ddl
        self._atomic: Any = None
        # When a list, statements are appended to it instead of run (see ``statements_for``).
        self._buffer: list[tuple[str, list[Any]]] | None = None

    # Sync context ----------------------------------------------------------------------

    def __enter__(self) -> BaseDatabaseSchemaEditor:
        self.deferred_sql = []
        if not self.collect_sql and not self.connection.is_async:
            self._run_envelope(self.prologue_statements())
        if self.atomic_migration and not self.connection.is_async:
            from dorm.transaction import atomic

            self._atomic = atomic(self.connection.alias)
            self._atomic.__enter__()
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        try:
            try:
                if exc_type is None:
                    for sql, params in self.deferred_sql:
                        self.execute(sql, params)
                    if not self.collect_sql and not self.connection.is_async:
                        for sql in self.check_statements():
                            self.check_result(sql, self.connection.fetchall(sql))
            except BaseException:
                if self._atomic is not None:
                    exc_info = sys.exc_info()
                    self._atomic.__exit__(*exc_info)
                    self._atomic = None
                raise
            if self._atomic is not None:
                self._atomic.__exit__(exc_type, exc, tb)
        finally:
            if not self.collect_sql and not self.connection.is_async:
                self._run_envelope(self.epilogue_statements())

    def _run_envelope(self, statements: list[str]) -> None:
        for sql in statements:
            self.connection.execute(sql)

    # Hooks around a batch of DDL (backends override) ------------------------------------

    def prologue_statements(self) -> list[str]:
        """Run before the DDL transaction starts (SQLite: switch foreign keys off)."""
        return []

    def epilogue_statements(self) -> list[str]:
        """Run after it ended, whatever the outcome (SQLite: switch them back on)."""
        return []

    def check_statements(self) -> list[str]:
        """Queries run before commit whose rows, if any, mean the DDL broke data integrity."""
        return []

    def check_result(self, sql: str, rows: list[Any]) -> None:
        """Raise when a :meth:`check_statements` query returned rows."""
        if rows:
            from dorm.exceptions import IntegrityError

            raise IntegrityError(f"Schema change left invalid rows ({sql}): {rows[:5]!r}")

    def execute(self, sql: str, params: Any = None) -> None:
        if self._buffer is not None:
            self._buffer.append((sql, list(params) if params else []))
            return
        if self.collect_sql:
            self.collected_sql.append(sql + ";")
            return
        self.connection.execute(sql, params)

    def quote_name(self, name: str) -> str:
        return self.connection.ops.quote_name(name)  # type: ignore[no-any-return]

    # Statement builders (pure) ---------------------------------------------------------

    def column_sql(
        self, model: Any, field: Any, include_default: bool = False, table: str | None = None
    ) -> tuple[str | None, list[Any]]:
        """The column definition; ``include_default`` inlines the field's effective default
        (for adding a NOT NULL column to a table that has rows)."""
        db_type = field.db_type(self.connection)
        if db_type is None:
            return None, []
        table = table or model._meta.db_table
        parts = [db_type]
        params: list[Any] = []
        if field.null and not field.primary_key:
            parts.append("NULL")
        else:
            parts.append("NOT NULL")
        if field.primary_key:
            parts.append("PRIMARY KEY")
        elif field.unique:
            name = self.field_object_name(table, field.column, "key")
            parts.append(f"CONSTRAINT {self.quote_name(name)} UNIQUE")
        suffix = field.db_type_suffix(self.connection)
        if suffix:
            parts.append(suffix)
        if field.has_db_default():
            default_sql, default_params = self.db_default_sql(field)
            parts.append(f"DEFAULT {default_sql}")
            params.extend(default_params)
        elif include_default:
            default = self.effective_default(field)
            if default is not None:
                parts.append(f"DEFAULT {self.quote_value(default)}")
        check = field.db_check(self.connection)
        if check:
            name = self.field_object_name(table, field.column, "check")
            parts.append(f"CONSTRAINT {self.quote_name(name)} CHECK ({check})")
        return " ".join(parts), params

    def db_default_sql(self, field: Any) -> tuple[str, list[Any]]:
        value = field.db_default
        if hasattr(value, "resolve_expression"):
            from dorm.sql.query import Query

            query = Query(field.model)
            expr = value.resolve_expression(query)
            sql, params = query.get_compiler(self.connection).compile(expr)
            return f"({sql})", params
        # DDL cannot take bound parameters on every backend: inline a quoted literal.
        return self.quote_value(field.get_db_prep_save(value, self.connection)), []

    def quote_value(self, value: Any) -> str:
        if value is None:
            return "NULL"
        if isinstance(value, bool):
            return "1" if value else "0"
        if isinstance(value, (int, float)):
            return repr(value)
        if isinstance(value, bytes):
            return "X'" + value.hex() + "'"
        return "'" + str(value).replace("'", "''") + "'"

    def table_sql(self, model: Any) -> tuple[str, list[Any]]:
        meta = model._meta
        return self.table_definition_sql(
            model,
            meta.db_table,
            meta.local_fields,
            meta.unique_together,
            meta.constraints,
        )

    def table_definition_sql(
        self,
        model: Any,
        table: str,
        fields: Any,
        unique_together: Any,
        constraints: Any,
        create_as: str | None = None,
    ) -> tuple[str, list[Any]]:
        """``CREATE TABLE`` for ``table`` with these fields and constraints (names derive from
        ``table``; ``create_as`` creates it under another name, for table rebuilds)."""
        by_name = {f.name: f for f in fields}
        definitions, params = [], []
        for field in fields:
            col_sql, col_params = self.column_sql(model, field, table=table)
            if col_sql is None:
                continue
            definitions.append(f"{self.quote_name(field.column)} {col_sql}")
            params.extend(col_params)
            fk_sql = self.column_fk_sql(field, table=table)
            if fk_sql:
                definitions[-1] += " " + fk_sql
        for names in unique_together:
            columns = [by_name[f].column for f in names]
            definitions.append(self.unique_together_sql(table, columns))
        for constraint in constraints:
            sql = self.constraint_sql(model, constraint)
            if sql:
                definitions.append(sql)
        return self.sql_create_table % {
            "table": self.quote_name(create_as or table),
            "definition": ", ".join(definitions),
        }, params

    def unique_together_sql(self, table: str, columns: list[str]) -> str:
        return self.sql_unique_constraint % {
            "name": self.quote_name(self._constraint_name(table, columns, "uniq")),
            "columns": ", ".join(self.quote_name(c) for c in columns),
        }

    def column_fk_sql(self, field: Any, table: str | None = None) -> str:
        remote = getattr(field, "remote_field", None)
        if (
            remote is None
            or not getattr(field, "db_constraint", True)
            or not self.connection.features.supports_foreign_keys
        ):
            return ""
        target = field.target_field
        table = table or field.model._meta.db_table
        name = self.field_object_name(table, field.column, "fk")
        return (
            f"CONSTRAINT {self.quote_name(name)} "
            f"REFERENCES {self.quote_name(target.model._meta.db_table)} "
            f"({self.quote_name(target.column)}) DEFERRABLE INITIALLY DEFERRED"
        )

    def constraint_sql(self, model: Any, constraint: Any) -> str | None:
        from dorm.models.constraints import CheckConstraint, UniqueConstraint

        meta = model._meta
        if isinstance(constraint, UniqueConstraint):
            if constraint.condition is not None:
                return None  # created as a partial unique index
            columns = [meta.get_field(f).column for f in constraint.fields]
            return self.sql_unique_constraint % {
                "name": self.quote_name(constraint.name),
                "columns": ", ".join(self.quote_name(c) for c in columns),
            }
        if isinstance(constraint, CheckConstraint):
            return self.sql_check_constraint % {
                "name": self.quote_name(constraint.name),
                "check": self._check_sql(model, constraint.condition),
            }
        raise FieldError(f"Unknown constraint type {type(constraint).__name__}.")

    def _check_sql(self, model: Any, condition: Any) -> str:
        from dorm.sql.query import Query

        query = Query(model)
        where = query.build_where(condition)
        compiler = query.get_compiler(self.connection)
        sql, params = compiler.compile(where)
        # Column references unqualified and values inlined: DDL takes no parameters.
        sql = sql.replace(f"{self.quote_name(model._meta.db_table)}.", "")
        return sql % tuple(self.quote_value(p) for p in params)

    def index_sql(self, model: Any, index: Any) -> str:
        meta = model._meta
        cols = []
        for name in index.fields:
            desc = name.startswith("-")
            column = meta.get_field(name.lstrip("-")).column
            cols.append(self.quote_name(column) + (" DESC" if desc else ""))
        condition = ""
        if index.condition is not None:
            condition = " WHERE " + self._check_sql(model, index.condition)
        return self.sql_create_index % {
            "unique": "",
            "name": self.quote_name(index.name),
            "table": self.quote_name(meta.db_table),
            "columns": ", ".join(cols),
            "condition": condition,
        }

    def partial_unique_sql(self, model: Any, constraint: Any) -> str:
        meta = model._meta
        return self.sql_create_index % {
            "unique": "UNIQUE ",
            "name": self.quote_name(constraint.name),
            "table": self.quote_name(meta.db_table),
            "columns": ", ".join(
                self.quote_name(meta.get_field(f).column) for f in constraint.fields
            ),
            "condition": " WHERE " + self._check_sql(model, constraint.condition),
        }

    def _constraint_name(self, table: str, columns: list[str], suffix: str) -> str:
        import hashlib

        digest = hashlib.md5(
            "_".join([table, *columns]).encode(), usedforsecurity=False
        ).hexdigest()[:8]
        return f"{table}_{'_'.join(columns)}_{digest}_{suffix}"[:63]

    def create_model_statements(self, model: Any) -> list[tuple[str, list[Any]]]:
        """Every statement that creates ``model``'s table, indexes and M2M tables."""
        meta = model._meta
        statements = [self.table_sql(model)]
        for field in meta.local_fields:
            for obj in self.field_db_objects(model, field).values():
                if obj.is_index:
                    statements.append((obj.create_sql, []))
        for index in meta.indexes:
            statements.append((self.index_sql(model, index), []))
        from dorm.models.constraints import UniqueConstraint

        for constraint in meta.constraints:
            if isinstance(constraint, UniqueConstraint) and constraint.condition is not None:
                statements.append((self.partial_unique_sql(model, constraint), []))
        for field in meta.local_many_to_many:
            through = field.remote_field.through
            if through._meta.auto_created:
                statements.extend(self.create_model_statements(through))
        return statements

    def delete_model_statements(self, model: Any) -> list[tuple[str, list[Any]]]:
        statements = []
        for field in model._meta.local_many_to_many:
            through = field.remote_field.through
            if through._meta.auto_created:
                statements.extend(self.delete_model_statements(through))
        statements.append(
            (self.sql_delete_table % {"table": self.quote_name(model._meta.db_table)}, [])
        )
        return statements

    # Operations (sync) -----------------------------------------------------------------

    def create_model(self, model: Any) -> None:
        for sql, params in self.create_model_statements(model):
            self.execute(sql, params or None)

    def delete_model(self, model: Any) -> None:
        for sql, params in self.delete_model_statements(model):
            self.execute(sql, params or None)

    def add_index(self, model: Any, index: Any) -> None:
        self.execute(self.index_sql(model, index))

    def remove_index(self, model: Any, index: Any) -> None:
        self.execute(self.sql_delete_index % {"name": self.quote_name(index.name)})

    # Schema changes (migrations) -------------------------------------------------------
    #
    # Each change is written once as ``<change>_statements(...)`` (pure: a list of
    # ``(sql, params)``), and run by the method of the same name without the suffix. The
    # async editor and ``sqlmigrate`` use the same builders. Objects owned by one column
    # (its unique constraint, index, CHECK and foreign key) have deterministic names
    # (:meth:`field_object_name`), so they can be found again without introspection.

    sql_rename_table = "ALTER TABLE %(old_table)s RENAME TO %(new_table)s"
    sql_create_column = "ALTER TABLE %(table)s ADD COLUMN %(column)s %(definition)s"
    sql_delete_column = "ALTER TABLE %(table)s DROP COLUMN %(column)s"
    sql_rename_column = "ALTER TABLE %(table)s RENAME COLUMN %(old_column)s TO %(new_column)s"
    sql_alter_column = "ALTER TABLE %(table)s %(changes)s"
    sql_alter_column_type = "ALTER COLUMN %(column)s TYPE %(type)s"
    sql_alter_column_null = "ALTER COLUMN %(column)s DROP NOT NULL"
    sql_alter_column_not_null = "ALTER COLUMN %(column)s SET NOT NULL"
    sql_alter_column_default = "ALTER COLUMN %(column)s SET DEFAULT %(default)s"
    sql_alter_column_no_default = "ALTER COLUMN %(column)s DROP DEFAULT"
    sql_update_with_default = (
        "UPDATE %(table)s SET %(column)s = %(default)s WHERE %(column)s IS NULL"
    )
    sql_create_constraint = "ALTER TABLE %(table)s ADD %(constraint)s"
    sql_delete_constraint = "ALTER TABLE %(table)s DROP CONSTRAINT %(name)s"
    sql_rename_constraint = "ALTER TABLE %(table)s RENAME CONSTRAINT %(old_name)s TO %(new_name)s"
    sql_rename_index = "ALTER INDEX %(old_name)s RENAME TO %(new_name)s"
    sql_create_fk = (
        "CONSTRAINT %(name)s FOREIGN KEY (%(column)s) REFERENCES %(to_table)s (%(to_column)s)"
        " DEFERRABLE INITIALLY DEFERRED"
    )
    max_name_length = 63

    def field_object_name(self, table: str, column: str, suffix: str) -> str:
        """``<table>_<column>_<hash>_<suffix>``, cut to :attr:`max_name_length` keeping the
        hash and suffix (so names of different kinds never collide)."""
        digest = hashlib.md5(
            f"{table}.{column}.{suffix}".encode(), usedforsecurity=False
        ).hexdigest()[:8]
        tail = f"_{digest}_{suffix}"
        return f"{table}_{column}"[: self.max_name_length - len(tail)] + tail

    def effective_default(self, field: Any) -> Any:
        """The database value existing rows get when ``field``'s column is added (or made
        NOT NULL); ``None`` when there is none."""
        if field.has_default():
            value = field.get_default()
        elif getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            from dorm.utils import now

            value = now()
            internal = field.get_internal_type()
            if internal == "DateField":
                value = value.date()
            elif internal == "TimeField":
                value = value.time().replace(tzinfo=None)
        elif not field.null and field.blank and field.empty_strings_allowed:
            value = b"" if field.get_internal_type() == "BinaryField" else ""
        else:
            return None
        if value is None:
            return None
        return field.get_db_prep_save(value, self.connection)

    def field_db_objects(
        self, model: Any, field: Any, table: str | None = None
    ) -> dict[str, DbObject]:
        """The named constraints and indexes ``field``'s column owns, by kind.

        Backends with more per-column objects (PostgreSQL's ``*_pattern_ops`` indexes) add
        them here; ``alter_field``/``alter_db_table`` then drop, create and rename them.
        """
        conn = self.connection
        if field.db_type(conn) is None:
            return {}
        table = table or model._meta.db_table
        qn = self.quote_name
        qt, qc = qn(table), qn(field.column)
        objs: dict[str, DbObject] = {}
        if field.unique and not field.primary_key:
            name = self.field_object_name(table, field.column, "key")
            objs["unique"] = DbObject(
                "unique",
                name,
                None,
                self.sql_create_constraint
                % {"table": qt, "constraint": f"CONSTRAINT {qn(name)} UNIQUE ({qc})"},
                self.sql_delete_constraint % {"table": qt, "name": qn(name)},
            )
        if field.db_index and not field.unique:
            name = self.field_object_name(table, field.column, "idx")
            objs["index"] = DbObject(
                "index",
                name,
                None,
                self.sql_create_index
                % {"unique": "", "name": qn(name), "table": qt, "columns": qc, "condition": ""},
                self.sql_delete_index % {"name": qn(name)},
                is_index=True,
            )
        check = field.db_check(conn)
        if check:
            name = self.field_object_name(table, field.column, "check")
            objs["check"] = DbObject(
                "check",
                name,
                check,
                self.sql_create_constraint
                % {"table": qt, "constraint": f"CONSTRAINT {qn(name)} CHECK ({check})"},
                self.sql_delete_constraint % {"table": qt, "name": qn(name)},
            )
        if self.column_fk_sql(field, table=table):
            target = field.target_field
            to_table = target.model._meta.db_table
            name = self.field_object_name(table, field.column, "fk")
            fk = self.sql_create_fk % {
                "name": qn(name),
                "column": qc,
                "to_table": qn(to_table),
                "to_column": qn(target.column),
            }
            objs["fk"] = DbObject(
                "fk",
                name,
                (to_table, target.column),
                self.sql_create_constraint % {"table": qt, "constraint": fk},
                self.sql_delete_constraint % {"table": qt, "name": qn(name)},
            )
        return objs

    def rename_db_object_statements(
        self, table: str, old: DbObject, new: DbObject
    ) -> list[tuple[str, list[Any]]]:
        qn = self.quote_name
        if old.is_index:
            sql = self.sql_rename_index % {"old_name": qn(old.name), "new_name": qn(new.name)}
        else:
            sql = self.sql_rename_constraint % {
                "table": qn(table),
                "old_name": qn(old.name),
                "new_name": qn(new.name),
            }
        return [(sql, [])]

    def _auto_through(self, field: Any) -> Any:
        through = field.remote_field.through
        if through is not None and not isinstance(through, str) and through._meta.auto_created:
            return through
        return None

    def add_field_statements(self, model: Any, field: Any) -> list[tuple[str, list[Any]]]:
        """Add ``field``'s column (or its auto-created M2M table) to ``model``'s table."""
        if field.many_to_many:
            through = self._auto_through(field)
            return self.create_model_statements(through) if through is not None else []
        table = model._meta.db_table
        col_sql, params = self.column_sql(model, field, include_default=True, table=table)
        if col_sql is None:
            return []
        fk_sql = self.column_fk_sql(field, table=table)
        qt, qc = self.quote_name(table), self.quote_name(field.column)
        statements = [
            (
                self.sql_create_column
                % {
                    "table": qt,
                    "column": qc,
                    "definition": col_sql + (" " + fk_sql if fk_sql else ""),
                },
                params,
            )
        ]
        if not field.has_db_default() and self.effective_default(field) is not None:
            # The default only filled existing rows; new rows get Python's default.
            statements.append(
                (
                    self.sql_alter_column
                    % {"table": qt, "changes": self.sql_alter_column_no_default % {"column": qc}},
                    [],
                )
            )
        for obj in self.field_db_objects(model, field, table=table).values():
            if obj.is_index:
                statements.append((obj.create_sql, []))
        return statements

    def remove_field_statements(self, model: Any, field: Any) -> list[tuple[str, list[Any]]]:
        if field.many_to_many:
            through = self._auto_through(field)
            return self.delete_model_statements(through) if through is not None else []
        if field.db_type(self.connection) is None:
            return []
        statements: list[tuple[str, list[Any]]] = [
            (obj.drop_sql, [])
            for obj in self.field_db_objects(model, field).values()
            if obj.kind == "fk"
        ]
        statements.append(
            (
                self.sql_delete_column
                % {
                    "table": self.quote_name(model._meta.db_table),
                    "column": self.quote_name(field.column),
                },
                [],
            )
        )
        return statements

    def alter_field_statements(
        self, model: Any, old_field: Any, new_field: Any
    ) -> list[tuple[str, list[Any]]]:
        """Change ``old_field``'s column into ``new_field``'s (``new_field`` is bound to the
        model of the new state)."""
        conn = self.connection
        old_type, new_type = old_field.db_type(conn), new_field.db_type(conn)
        label = f"{model._meta.label}.{old_field.name}"
        if old_type is None and new_type is None:
            return self._alter_many_to_many_statements(model, old_field, new_field)
        if old_type is None or new_type is None:
            raise NotSupportedError(
                f"Cannot alter {label} between a many-to-many and a column field; remove the "
                "field and add a new one instead."
            )
        if old_field.primary_key != new_field.primary_key:
            raise NotSupportedError(
                f"Changing the primary key of {model._meta.label} ({label}) is not supported "
                "on this backend."
            )
        table = model._meta.db_table
        new_model = new_field.model or model
        qn = self.quote_name
        qt = qn(table)
        old_objs = self.field_db_objects(model, old_field, table=table)
        new_objs = self.field_db_objects(new_model, new_field, table=table)
        statements: list[tuple[str, list[Any]]] = []
        for kind, obj in old_objs.items():
            new = new_objs.get(kind)
            if new is None or new.key != obj.key:
                statements.append((obj.drop_sql, []))
        if old_field.column != new_field.column:
            statements.append(
                (
                    self.sql_rename_column
                    % {
                        "table": qt,
                        "old_column": qn(old_field.column),
                        "new_column": qn(new_field.column),
                    },
                    [],
                )
            )
            statements.extend(
                self._rename_unique_together_statements(model, new_model, old_field, new_field)
            )
        qc = qn(new_field.column)
        changes: list[tuple[str, list[Any]]] = []
        if old_type != new_type:
            changes.append((self.sql_alter_column_type % {"column": qc, "type": new_type}, []))
        old_default = self.db_default_sql(old_field) if old_field.has_db_default() else None
        new_default = self.db_default_sql(new_field) if new_field.has_db_default() else None
        if old_field.null and not new_field.null:
            fill = new_default
            if fill is None:
                value = self.effective_default(new_field)
                fill = (self.quote_value(value), []) if value is not None else None
            if fill is not None:
                statements.append(
                    (
                        self.sql_update_with_default
                        % {"table": qt, "column": qc, "default": fill[0]},
                        list(fill[1]),
                    )
                )
        if old_field.null != new_field.null:
            template = (
                self.sql_alter_column_null if new_field.null else self.sql_alter_column_not_null
            )
            changes.append((template % {"column": qc}, []))
        if old_default != new_default:
            if new_default is None:
                changes.append((self.sql_alter_column_no_default % {"column": qc}, []))
            else:
                changes.append(
                    (
                        self.sql_alter_column_default % {"column": qc, "default": new_default[0]},
                        list(new_default[1]),
                    )
                )
        for change, params in changes:
            statements.append((self.sql_alter_column % {"table": qt, "changes": change}, params))
        for kind, obj in new_objs.items():
            old = old_objs.get(kind)
            if old is not None and old.key == obj.key:
                if old.name != obj.name:
                    statements.extend(self.rename_db_object_statements(table, old, obj))
            else:
                statements.append((obj.create_sql, []))
        return statements

    def _rename_unique_together_statements(
        self, model: Any, new_model: Any, old_field: Any, new_field: Any
    ) -> list[tuple[str, list[Any]]]:
        """unique_together constraints are named after their columns: follow a rename."""
        old_meta, new_meta = model._meta, new_model._meta
        table = old_meta.db_table
        statements: list[tuple[str, list[Any]]] = []
        for names in old_meta.unique_together:
            if old_field.name not in names:
                continue
            renamed = tuple(new_field.name if n == old_field.name else n for n in names)
            if renamed not in [tuple(u) for u in new_meta.unique_together]:
                continue  # the unique_together change drops or re-creates it
            old_columns = [old_meta.get_field(n).column for n in names]
            new_columns = [new_meta.get_field(n).column for n in renamed]
            old_name = self._constraint_name(table, old_columns, "uniq")
            new_name = self._constraint_name(table, new_columns, "uniq")
            if old_name != new_name:
                statements.append(
                    (
                        self.sql_rename_constraint
                        % {
                            "table": self.quote_name(table),
                            "old_name": self.quote_name(old_name),
                            "new_name": self.quote_name(new_name),
                        },
                        [],
                    )
                )
        return statements

    def _alter_many_to_many_statements(
        self, model: Any, old_field: Any, new_field: Any
    ) -> list[tuple[str, list[Any]]]:
        old_through, new_through = self._auto_through(old_field), self._auto_through(new_field)
        if old_through is None and new_through is None:
            return []  # an explicit through model: its own operations change its table
        if old_through is None or new_through is None:
            raise NotSupportedError(
                f"Cannot switch {model._meta.label}.{old_field.name} between an auto-created "
                "and an explicit through model; remove the field and add a new one."
            )
        return self.alter_db_table_statements(
            new_through, old_through._meta.db_table, new_through._meta.db_table
        )

    def alter_db_table_statements(
        self, model: Any, old_db_table: str, new_db_table: str
    ) -> list[tuple[str, list[Any]]]:
        """Rename a table, and the column-owned objects whose names derive from it."""
        if old_db_table == new_db_table:
            return []
        qn = self.quote_name
        statements: list[tuple[str, list[Any]]] = [
            (
                self.sql_rename_table
                % {"old_table": qn(old_db_table), "new_table": qn(new_db_table)},
                [],
            )
        ]
        meta = model._meta
        for field in meta.local_fields:
            old_objs = self.field_db_objects(model, field, table=old_db_table)
            new_objs = self.field_db_objects(model, field, table=new_db_table)
            for kind, old in old_objs.items():
                new = new_objs.get(kind)
                if new is not None and new.name != old.name:
                    statements.extend(self.rename_db_object_statements(new_db_table, old, new))
        for names in meta.unique_together:
            columns = [meta.get_field(n).column for n in names]
            old_name = self._constraint_name(old_db_table, columns, "uniq")
            new_name = self._constraint_name(new_db_table, columns, "uniq")
            statements.append(
                (
                    self.sql_rename_constraint
                    % {
                        "table": qn(new_db_table),
                        "old_name": qn(old_name),
                        "new_name": qn(new_name),
                    },
                    [],
                )
            )
        return statements

    def add_constraint_statements(self, model: Any, constraint: Any) -> list[tuple[str, list[Any]]]:
        from dorm.models.constraints import UniqueConstraint

        if isinstance(constraint, UniqueConstraint) and constraint.condition is not None:
            return [(self.partial_unique_sql(model, constraint), [])]
        sql = self.constraint_sql(model, constraint)
        if not sql:
            return []
        return [
            (
                self.sql_create_constraint
                % {"table": self.quote_name(model._meta.db_table), "constraint": sql},
                [],
            )
        ]

    def remove_constraint_statements(
        self, model: Any, constraint: Any
    ) -> list[tuple[str, list[Any]]]:
        from dorm.models.constraints import UniqueConstraint

        if isinstance(constraint, UniqueConstraint) and constraint.condition is not None:
            return [(self.sql_delete_index % {"name": self.quote_name(constraint.name)}, [])]
        return [
            (
                self.sql_delete_constraint
                % {
                    "table": self.quote_name(model._meta.db_table),
                    "name": self.quote_name(constraint.name),
                },
                [],
            )
        ]

    def alter_unique_together_statements(
        self, model: Any, old_unique_together: Any, new_unique_together: Any
    ) -> list[tuple[str, list[Any]]]:
        meta = model._meta
        table = meta.db_table
        olds = [tuple(u) for u in old_unique_together or ()]
        news = [tuple(u) for u in new_unique_together or ()]
        statements: list[tuple[str, list[Any]]] = []
        for names in olds:
            if names not in news:
                columns = [meta.get_field(n).column for n in names]
                name = self._constraint_name(table, columns, "uniq")
                statements.append(
                    (
                        self.sql_delete_constraint
                        % {"table": self.quote_name(table), "name": self.quote_name(name)},
                        [],
                    )
                )
        for names in news:
            if names not in olds:
                columns = [meta.get_field(n).column for n in names]
                statements.append(
                    (
                        self.sql_create_constraint
                        % {
                            "table": self.quote_name(table),
                            "constraint": self.unique_together_sql(table, columns),
                        },
                        [],
                    )
                )
        return statements

    def add_index_statements(self, model: Any, index: Any) -> list[tuple[str, list[Any]]]:
        return [(self.index_sql(model, index), [])]

    def remove_index_statements(self, model: Any, index: Any) -> list[tuple[str, list[Any]]]:
        return [(self.sql_delete_index % {"name": self.quote_name(index.name)}, [])]

    def _run(self, statements: list[tuple[str, list[Any]]]) -> None:
        for sql, params in statements:
            self.execute(sql, params or None)

    def add_field(self, model: Any, field: Any) -> None:
        self._run(self.add_field_statements(model, field))

    def remove_field(self, model: Any, field: Any) -> None:
        self._run(self.remove_field_statements(model, field))

    def alter_field(self, model: Any, old_field: Any, new_field: Any, strict: bool = False) -> None:
        self._run(self.alter_field_statements(model, old_field, new_field))

    def alter_db_table(self, model: Any, old_db_table: str, new_db_table: str) -> None:
        self._run(self.alter_db_table_statements(model, old_db_table, new_db_table))

    def add_constraint(self, model: Any, constraint: Any) -> None:
        self._run(self.add_constraint_statements(model, constraint))

    def remove_constraint(self, model: Any, constraint: Any) -> None:
        self._run(self.remove_constraint_statements(model, constraint))

    def alter_unique_together(
        self, model: Any, old_unique_together: Any, new_unique_together: Any
    ) -> None:
        self._run(
            self.alter_unique_together_statements(model, old_unique_together, new_unique_together)
        )

    def collect(self, func: Any, *args: Any, **kwargs: Any) -> list[tuple[str, list[Any]]]:
        """Call an editor method (or any callable using this editor) and return the
        statements it would run, without running them."""
        saved, self._buffer = self._buffer, []
        try:
            func(*args, **kwargs)
            return self._buffer
        finally:
            self._buffer = saved


class AsyncSchemaEditor:
    """``async with aconnection.schema_editor() as editor: await editor.create_model(M)``."""

    def __init__(self, connection: Any, editor_class: type[BaseDatabaseSchemaEditor]) -> None:
        self.connection = connection
        self.editor = editor_class(connection, collect_sql=True)
        self._atomic: Any = None

    async def __aenter__(self) -> AsyncSchemaEditor:
        # One driver connection for the whole block: the prologue (e.g. SQLite's PRAGMA)
        # must apply to the connection that runs the DDL.
        self._binding = await self.connection.bind()
        try:
            for sql in self.editor.prologue_statements():
                await self.connection.execute(sql)
            if self.connection.features.can_rollback_ddl:
                from dorm.transaction import aatomic

                self._atomic = aatomic(self.connection.alias)
                await self._atomic.__aenter__()
        except BaseException:
            await self._finish()
            raise
        return self

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        try:
            try:
                if exc_type is None:
                    for sql in self.editor.check_statements():
                        self.editor.check_result(sql, await self.connection.fetchall(sql))
            except BaseException:
                if self._atomic is not None:
                    atomic, self._atomic = self._atomic, None
                    await atomic.__aexit__(*sys.exc_info())
                raise
            if self._atomic is not None:
                await self._atomic.__aexit__(exc_type, exc, tb)
        finally:
            await self._finish()

    async def _finish(self) -> None:
        try:
            for sql in self.editor.epilogue_statements():
                await self.connection.execute(sql)
        finally:
            self.connection.unbind(self._binding)

    async def _run(self, statements: list[tuple[str, list[Any]]]) -> None:
        for sql, params in statements:
            await self.connection.execute(sql, params or None)

    async def create_model(self, model: Any) -> None:
        await self._run(self.editor.create_model_statements(model))

    async def delete_model(self, model: Any) -> None:
        await self._run(self.editor.delete_model_statements(model))

    def __getattr__(self, name: str) -> Any:
        """Every other sync editor change (``add_field``, ``alter_field``, ...) as a coroutine:
        the statements are built by the sync editor and run here."""
        method = getattr(self.editor, name)
        if name.startswith("_") or not callable(method):
            raise AttributeError(name)

        async def run(*args: Any, **kwargs: Any) -> None:
            await self._run(self.editor.collect(method, *args, **kwargs))

        return run
