"""The ``dorm_migrations`` table: which migrations are applied on a database."""

from __future__ import annotations

from typing import Any

from dorm.apps import Apps
from dorm.migrations.graph import Key

TABLE = "dorm_migrations"

_registry = Apps()
_model: Any = None


def migration_record_model() -> Any:
    """The model of the recorder table (in a private registry, never the project's)."""
    global _model
    if _model is None:
        import dorm

        class Meta:
            db_table = TABLE
            app_label = "dorm_migrations"
            apps = _registry

        _model = type(
            "MigrationRecord",
            (dorm.Model,),
            {
                "__module__": __name__,
                "Meta": Meta,
                "id": dorm.BigAutoField(primary_key=True),
                "app": dorm.CharField(max_length=255),
                "name": dorm.CharField(max_length=255),
                "applied": dorm.DateTimeField(auto_now_add=True),
            },
        )
    return _model


class MigrationRecorder:
    """Reads and writes the recorder table of one alias (``app``, ``name``, ``applied``).

    Every method has an async twin (``a`` prefix). The table is created on first use
    (``CREATE TABLE IF NOT EXISTS``).
    """

    def __init__(self, using: str = "default") -> None:
        self.using = using
        self.Migration = migration_record_model()
        self._ensured = False

    def _create_sql(self, connection: Any) -> str:
        from dorm.db.backends.base.schema import BaseDatabaseSchemaEditor

        editor_class = connection.schema_editor_class or BaseDatabaseSchemaEditor
        sql, _ = editor_class(connection, collect_sql=True).table_sql(self.Migration)
        return sql.replace("CREATE TABLE", "CREATE TABLE IF NOT EXISTS", 1)

    def _qs(self) -> Any:
        return self.Migration.objects.using(self.using)

    # Sync ------------------------------------------------------------------------------

    def ensure_schema(self) -> None:
        from dorm.db import connections

        connection = connections[self.using]
        connection.execute(self._create_sql(connection))
        self._ensured = True

    def applied_migrations(self) -> set[Key]:
        self.ensure_schema()
        return {(app, name) for app, name in self._qs().values_list("app", "name")}

    def record_applied(self, app: str, name: str) -> None:
        if not self._ensured:
            self.ensure_schema()
        self._qs().create(app=app, name=name)

    def record_unapplied(self, app: str, name: str) -> None:
        if not self._ensured:
            self.ensure_schema()
        self._qs().filter(app=app, name=name).delete()

    def flush(self) -> None:
        self.ensure_schema()
        self._qs().all().delete()

    # Async -----------------------------------------------------------------------------

    async def aensure_schema(self) -> None:
        from dorm.db import async_connections

        connection = async_connections[self.using]
        await connection.execute(self._create_sql(connection))
        self._ensured = True

    async def aapplied_migrations(self) -> set[Key]:
        await self.aensure_schema()
        return {(app, name) async for app, name in self._qs().values_list("app", "name")}

    async def arecord_applied(self, app: str, name: str) -> None:
        if not self._ensured:
            await self.aensure_schema()
        await self._qs().acreate(app=app, name=name)

    async def arecord_unapplied(self, app: str, name: str) -> None:
        if not self._ensured:
            await self.aensure_schema()
        await self._qs().filter(app=app, name=name).adelete()

    async def aflush(self) -> None:
        await self.aensure_schema()
        await self._qs().all().adelete()
