"""PostgreSQL DDL.

Transactional (``can_rollback_ddl``: a failed migration leaves nothing half-built), tables
dropped with ``CASCADE``, literals quoted by psycopg, ``ALTER COLUMN ... TYPE ... USING`` so
type changes convert existing values, and a ``*_pattern_ops`` companion index for every
indexed ``varchar``/``text`` column so ``LIKE 'abc%'`` can use an index under any collation
(as Django does).
"""

from __future__ import annotations

from typing import Any

from psycopg import sql as pgsql

from dorm.db.backends.base.schema import BaseDatabaseSchemaEditor, DbObject
from dorm_postgres.driver import ADAPTERS


class DatabaseSchemaEditor(BaseDatabaseSchemaEditor):
    sql_delete_table = "DROP TABLE %(table)s CASCADE"
    sql_alter_column_type = "ALTER COLUMN %(column)s TYPE %(type)s USING %(column)s::%(type)s"
    sql_create_like_index = "CREATE INDEX %(name)s ON %(table)s (%(column)s %(opclass)s)"

    def quote_value(self, value: Any) -> str:
        """A value as an SQL literal, for DDL (defaults, CHECK constraints)."""
        if isinstance(value, (bytes, bytearray, memoryview)):
            return f"'\\x{bytes(value).hex()}'::bytea"
        return pgsql.quote(value, ADAPTERS)

    def _like_opclass(self, field: Any) -> str | None:
        db_type = field.db_type(self.connection) or ""
        if db_type.startswith("varchar") and not db_type.endswith("]"):
            return "varchar_pattern_ops"
        if db_type == "text":
            return "text_pattern_ops"
        return None

    def field_db_objects(
        self, model: Any, field: Any, table: str | None = None
    ) -> dict[str, DbObject]:
        objs = super().field_db_objects(model, field, table=table)
        if (field.db_index or field.unique) and not field.primary_key:
            opclass = self._like_opclass(field)
            if opclass is not None:
                table = table or model._meta.db_table
                qn = self.quote_name
                name = self.field_object_name(table, field.column, "like")
                objs["like"] = DbObject(
                    "like",
                    name,
                    opclass,
                    self.sql_create_like_index
                    % {
                        "name": qn(name),
                        "table": qn(table),
                        "column": qn(field.column),
                        "opclass": opclass,
                    },
                    self.sql_delete_index % {"name": qn(name)},
                    is_index=True,
                )
        return objs
