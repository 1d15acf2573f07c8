"""The schema editor: DDL for models, written once and run on a sync or async connection.

Methods build statements into ``self.deferred``/execute them through ``execute``; the async
editor collects the same statements and runs them with ``await``.
"""

from __future__ import annotations

from typing import Any

from dorm.exceptions import FieldError


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

    # Sync context ----------------------------------------------------------------------

    def __enter__(self) -> BaseDatabaseSchemaEditor:
        self.deferred_sql = []
        if self.atomic_migration and not self.connection.is_async:
            from dorm.transaction import atomic

            self._atomic = atomic(self.connection.alias)
            self._atomic.__enter__()
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            for sql, params in self.deferred_sql:
                self.execute(sql, params)
        if self._atomic is not None:
            self._atomic.__exit__(exc_type, exc, tb)

    def execute(self, sql: str, params: Any = None) -> None:
        if self.collect_sql:
            self.collected_sql.append(sql + ";")
            return
        self.connection.execute(sql, params)

    def quote_name(self, name: str) -> str:
        return self.connection.ops.quote_name(name)  # type: ignore[no-any-return]

    # Statement builders (pure) ---------------------------------------------------------

    def column_sql(
        self, model: Any, field: Any, include_default: bool = False
    ) -> tuple[str | None, list[Any]]:
        db_type = field.db_type(self.connection)
        if db_type is None:
            return None, []
        parts = [db_type]
        params: list[Any] = []
        if field.null and not field.primary_key:
            parts.append("NULL")
        else:
            parts.append("NOT NULL")
        if field.primary_key:
            parts.append("PRIMARY KEY")
        elif field.unique:
            parts.append("UNIQUE")
        suffix = field.db_type_suffix(self.connection)
        if suffix:
            parts.append(suffix)
        if field.has_db_default():
            default_sql, default_params = self.db_default_sql(field)
            parts.append(f"DEFAULT {default_sql}")
            params.extend(default_params)
        check = field.db_check(self.connection)
        if check:
            parts.append(f"CHECK ({check})")
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
        definitions, params = [], []
        for field in meta.local_fields:
            col_sql, col_params = self.column_sql(model, field)
            if col_sql is None:
                continue
            definitions.append(f"{self.quote_name(field.column)} {col_sql}")
            params.extend(col_params)
            fk_sql = self.column_fk_sql(field)
            if fk_sql:
                definitions[-1] += " " + fk_sql
        for fields in meta.unique_together:
            columns = [meta.get_field(f).column for f in fields]
            name = self._constraint_name(meta.db_table, columns, "uniq")
            definitions.append(
                self.sql_unique_constraint
                % {
                    "name": self.quote_name(name),
                    "columns": ", ".join(self.quote_name(c) for c in columns),
                }
            )
        for constraint in meta.constraints:
            sql = self.constraint_sql(model, constraint)
            if sql:
                definitions.append(sql)
        return self.sql_create_table % {
            "table": self.quote_name(meta.db_table),
            "definition": ", ".join(definitions),
        }, params

    def column_fk_sql(self, field: Any) -> str:
        remote = getattr(field, "remote_field", None)
        if (
            remote is None
            or not getattr(field, "db_constraint", True)
            or not self.connection.features.supports_foreign_keys
        ):
            return ""
        target = field.target_field
        return (
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
            if field.db_index and not field.unique:
                name = self._constraint_name(meta.db_table, [field.column], "idx")
                statements.append(
                    (
                        self.sql_create_index
                        % {
                            "unique": "",
                            "name": self.quote_name(name),
                            "table": self.quote_name(meta.db_table),
                            "columns": self.quote_name(field.column),
                            "condition": "",
                        },
                        [],
                    )
                )
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


class AsyncSchemaEditor:
    """``async with aconnection.schema_editor() as editor: await editor.create_model(M)``."""

    def __init__(self, connection: Any, editor_class: type[BaseDatabaseSchemaEditor]) -> None:
        self.connection = connection
        self.editor = editor_class(connection, collect_sql=True)
        self._atomic: Any = None

    async def __aenter__(self) -> AsyncSchemaEditor:
        if self.connection.features.can_rollback_ddl:
            from dorm.transaction import aatomic

            self._atomic = aatomic(self.connection.alias)
            await self._atomic.__aenter__()
        return self

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if self._atomic is not None:
            await self._atomic.__aexit__(exc_type, exc, tb)

    async def _run(self, statements: list[tuple[str, list[Any]]]) -> None:
        for sql, params in statements:
            await self.connection.execute(sql, params or None)

    async def create_model(self, model: Any) -> None:
        await self._run(self.editor.create_model_statements(model))

    async def delete_model(self, model: Any) -> None:
        await self._run(self.editor.delete_model_statements(model))
