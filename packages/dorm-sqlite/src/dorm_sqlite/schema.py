"""SQLite DDL: the table-rebuild procedure for what ``ALTER TABLE`` cannot do.

SQLite's ``ALTER TABLE`` only renames tables and columns and adds simple columns. Every
other change (altering or removing a column, adding a NOT NULL or unique column, adding or
removing a table constraint) rebuilds the table, following SQLite's documented procedure:

1. foreign key enforcement is switched off *before* the transaction (``PRAGMA foreign_keys``
   is a no-op inside one) — see :meth:`DatabaseSchemaEditor.prologue_statements`;
2. ``CREATE TABLE "new__t"`` with the new definition, ``INSERT INTO "new__t" SELECT ... FROM
   "t"``, ``DROP TABLE "t"``, ``ALTER TABLE "new__t" RENAME TO "t"``, then the indexes again;
3. ``PRAGMA foreign_key_check`` before commit: any row left pointing nowhere fails the
   change (and rolls it back);
4. foreign keys are switched back on after the transaction.

Every statement is built from the migration state (no introspection), so ``sqlmigrate``
shows exactly what ``migrate`` runs.
"""

from __future__ import annotations

from typing import Any

from dorm.db.backends.base.schema import BaseDatabaseSchemaEditor, DbObject
from dorm.exceptions import IntegrityError, NotSupportedError

Statements = list[tuple[str, list[Any]]]


class DatabaseSchemaEditor(BaseDatabaseSchemaEditor):
    sql_delete_table = "DROP TABLE %(table)s"
    sql_remake_prefix = "new__"

    def __init__(self, connection: Any, collect_sql: bool = False, atomic: bool = True) -> None:
        super().__init__(connection, collect_sql=collect_sql, atomic=atomic)
        # Whether the DDL runs inside a transaction the caller opened: the PRAGMA that
        # switches foreign keys off is then a no-op, and a table rebuild would fail at
        # commit. (Set by __enter__, and by the migration executor.)
        self.outer_atomic = False

    # The envelope around a batch of DDL ------------------------------------------------

    def _foreign_keys_configured(self) -> bool:
        from dorm_sqlite.base import sqlite_options

        return bool(sqlite_options(self.connection.settings_dict)["foreign_keys"])

    def prologue_statements(self) -> list[str]:
        return ["PRAGMA foreign_keys = OFF"] if self._foreign_keys_configured() else []

    def epilogue_statements(self) -> list[str]:
        return ["PRAGMA foreign_keys = ON"] if self._foreign_keys_configured() else []

    def check_statements(self) -> list[str]:
        return ["PRAGMA foreign_key_check"]

    def check_result(self, sql: str, rows: list[Any]) -> None:
        if rows:
            details = ", ".join(
                f"{row[0]} row {row[1]} -> {row[2]}" for row in rows[:5] if len(row) >= 3
            )
            raise IntegrityError(
                f"The schema change leaves rows referencing missing rows ({details}"
                f"{', ...' if len(rows) > 5 else ''}). Fix or delete those rows first."
            )

    def __enter__(self) -> DatabaseSchemaEditor:
        if not self.collect_sql:
            self.outer_atomic = self.connection.tx.in_atomic_block
        super().__enter__()
        return self

    # The rebuild -------------------------------------------------------------------------

    def remake_table_statements(
        self,
        model: Any,
        *,
        create_field: Any = None,
        delete_field: Any = None,
        alter_field: tuple[Any, Any] | None = None,
        unique_together: Any = None,
        constraints: Any = None,
        new_model: Any = None,
    ) -> Statements:
        """Rebuild ``model``'s table with one change applied.

        ``new_model`` (default: the model ``create_field``/the new ``alter_field`` is bound
        to, else ``model``) supplies the table's constraints, unique_together and indexes.
        """
        if self.outer_atomic and self._foreign_keys_configured():
            raise NotSupportedError(
                f"Rebuilding the SQLite table {model._meta.db_table!r} inside an atomic() "
                "block needs foreign key checks off, and SQLite cannot switch them off inside "
                "a transaction. Run the schema change outside atomic() (migrations do)."
            )
        meta = model._meta
        table = meta.db_table
        qn = self.quote_name
        if new_model is None:
            bound = create_field if create_field is not None else (alter_field or (None, None))[1]
            new_model = getattr(bound, "model", None) or model
        body: list[Any] = []
        mapping: dict[str, str] = {}
        for field in meta.local_fields:
            if delete_field is not None and field.name == delete_field.name:
                continue
            if alter_field is not None and field.name == alter_field[0].name:
                old, new = alter_field
                body.append(new)
                expr = qn(old.column)
                if old.null and not new.null:
                    fill = self._fill_sql(new)
                    if fill is not None:
                        expr = f"coalesce({expr}, {fill})"
                mapping[new.column] = expr
                continue
            body.append(field)
            mapping[field.column] = qn(field.column)
        if create_field is not None:
            body.append(create_field)
            if not create_field.has_db_default():
                default = self.effective_default(create_field)
                if default is not None:
                    mapping[create_field.column] = self.quote_value(default)
        nm = new_model._meta
        names = {f.name for f in body}
        if unique_together is None:
            unique_together = nm.unique_together
        unique_together = [tuple(u) for u in unique_together if set(u) <= names]
        if constraints is None:
            constraints = nm.constraints
        constraints = [c for c in constraints if set(getattr(c, "fields", ()) or ()) <= names]
        temp = self.sql_remake_prefix + table
        create_sql, params = self.table_definition_sql(
            new_model, table, body, unique_together, constraints, create_as=temp
        )
        columns = list(mapping)
        statements: Statements = [
            (create_sql, params),
            (
                f"INSERT INTO {qn(temp)} ({', '.join(qn(c) for c in columns)}) "
                f"SELECT {', '.join(mapping[c] for c in columns)} FROM {qn(table)}",
                [],
            ),
            (self.sql_delete_table % {"table": qn(table)}, []),
            (self.sql_rename_table % {"old_table": qn(temp), "new_table": qn(table)}, []),
        ]
        for field in body:
            for obj in self.field_db_objects(new_model, field, table=table).values():
                if obj.is_index:
                    statements.append((obj.create_sql, []))
        for index in nm.indexes:
            if {f.lstrip("-") for f in index.fields} <= names:
                statements.append((self.index_sql(new_model, index), []))
        from dorm.models.constraints import UniqueConstraint

        for constraint in constraints:
            if isinstance(constraint, UniqueConstraint) and constraint.condition is not None:
                statements.append((self.partial_unique_sql(new_model, constraint), []))
        return statements

    def _fill_sql(self, field: Any) -> str | None:
        if field.has_db_default():
            sql, params = self.db_default_sql(field)
            return None if params else sql
        value = self.effective_default(field)
        return None if value is None else self.quote_value(value)

    # Changes -------------------------------------------------------------------------------

    def add_field_statements(self, model: Any, field: Any) -> Statements:
        if field.many_to_many:
            return super().add_field_statements(model, field)
        simple = (
            field.null
            and not field.unique
            and not field.primary_key
            and not field.has_db_default()
            and self.effective_default(field) is None
        )
        if simple:
            # ALTER TABLE ... ADD COLUMN takes a nullable column without default (also a
            # foreign key: its implicit default is NULL).
            return super().add_field_statements(model, field)
        return self.remake_table_statements(model, create_field=field)

    def remove_field_statements(self, model: Any, field: Any) -> Statements:
        if field.many_to_many or field.db_type(self.connection) is None:
            return super().remove_field_statements(model, field)
        return self.remake_table_statements(model, delete_field=field, new_model=model)

    def alter_field_statements(self, model: Any, old_field: Any, new_field: Any) -> Statements:
        conn = self.connection
        if old_field.db_type(conn) is None or new_field.db_type(conn) is None:
            return super().alter_field_statements(model, old_field, new_field)
        table = model._meta.db_table
        new_model = new_field.model or model
        if old_field.column == new_field.column and self._definition(
            model, old_field, table
        ) == self._definition(new_model, new_field, table):
            return []  # only Python-side attributes changed (choices, help_text, ...)
        return self.remake_table_statements(model, alter_field=(old_field, new_field))

    def _definition(self, model: Any, field: Any, table: str) -> tuple[Any, ...]:
        objects = self.field_db_objects(model, field, table=table)
        return (
            self.column_sql(model, field, table=table),
            self.column_fk_sql(field, table=table),
            sorted((k, o.name, repr(o.key)) for k, o in objects.items()),
        )

    def alter_db_table_statements(
        self, model: Any, old_db_table: str, new_db_table: str
    ) -> Statements:
        if old_db_table == new_db_table:
            return []
        qn = self.quote_name
        statements: Statements = [
            (
                self.sql_rename_table
                % {"old_table": qn(old_db_table), "new_table": qn(new_db_table)},
                [],
            )
        ]
        # Constraint names live inside the table's SQL (not a namespace in SQLite); only the
        # per-column indexes are schema objects named after the table.
        for field in model._meta.local_fields:
            old_objs = self.field_db_objects(model, field, table=old_db_table)
            new_objs = self.field_db_objects(model, field, table=new_db_table)
            for kind, old in old_objs.items():
                new = new_objs.get(kind)
                if old.is_index and new is not None and new.name != old.name:
                    statements.extend(self.rename_db_object_statements(new_db_table, old, new))
        return statements

    def rename_db_object_statements(self, table: str, old: DbObject, new: DbObject) -> Statements:
        if old.is_index:  # SQLite has no ALTER INDEX ... RENAME
            return [(old.drop_sql, []), (new.create_sql, [])]
        return []

    def add_constraint_statements(self, model: Any, constraint: Any) -> Statements:
        from dorm.models.constraints import UniqueConstraint

        if isinstance(constraint, UniqueConstraint) and constraint.condition is not None:
            return super().add_constraint_statements(model, constraint)
        constraints = [c for c in model._meta.constraints if c.name != constraint.name]
        return self.remake_table_statements(
            model, constraints=[*constraints, constraint], new_model=model
        )

    def remove_constraint_statements(self, model: Any, constraint: Any) -> Statements:
        from dorm.models.constraints import UniqueConstraint

        if isinstance(constraint, UniqueConstraint) and constraint.condition is not None:
            return super().remove_constraint_statements(model, constraint)
        constraints = [c for c in model._meta.constraints if c.name != constraint.name]
        return self.remake_table_statements(model, constraints=constraints, new_model=model)

    def alter_unique_together_statements(
        self, model: Any, old_unique_together: Any, new_unique_together: Any
    ) -> Statements:
        return self.remake_table_statements(
            model, unique_together=list(new_unique_together or ()), new_model=model
        )
