"""The PostgreSQL migration operations without a server: import through the core's
entry-point group, SQL, describe(), validation, the migration writer, and the
NotSupportedError other backends raise at migrate time (here: SQLite).

Running them on PostgreSQL is tested in ``tests-integration/test_pg_schema_ops.py``.
"""

from __future__ import annotations

import io
import re
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import dorm
from dorm import migrations
from dorm.apps import apps
from dorm.cli import CommandError
from dorm.db import close_all, connections
from dorm.exceptions import NotSupportedError
from dorm_postgres import migration_operations as ops
from dorm_postgres.views import arefresh_materialized_view, refresh_materialized_view

NAMES = (
    "CreateMaterializedView",
    "RefreshMaterializedView",
    "DropMaterializedView",
    "CreatePartitionedTable",
    "CreatePartition",
    "AttachPartition",
    "DetachPartition",
)

SEED_VIEWS = """
from dorm.migrations.operations import (
    CreateMaterializedView,
    RefreshMaterializedView,
    DropMaterializedView,
)

operations = [
    CreateMaterializedView(
        "active_authors",
        'SELECT id, name FROM "authors" WHERE is_active = true',
    ),
    RefreshMaterializedView("active_authors", concurrently=False),
]
"""

SEED_PARTITIONS = """
from dorm.migrations.operations import (
    CreatePartitionedTable,
    CreatePartition,
    AttachPartition,
    DetachPartition,
)

operations = [
    CreatePartitionedTable(
        "events",
        columns_sql=(
            'id BIGSERIAL, occurred_at TIMESTAMPTZ NOT NULL, '
            'payload JSONB, PRIMARY KEY (id, occurred_at)'
        ),
        method="RANGE",
        key="occurred_at",
    ),
    CreatePartition(
        parent="events",
        name="events_2026_q1",
        for_values="FROM ('2026-01-01') TO ('2026-04-01')",
    ),
]
"""


def seed_operations(source: str) -> list[Any]:
    namespace: dict[str, Any] = {}
    exec(textwrap.dedent(source), namespace)
    return namespace["operations"]


# Import ------------------------------------------------------------------------------------


def test_importable_from_the_core() -> None:
    from dorm.migrations import operations as core_ops

    registered = core_ops.plugin_operations()
    for name in NAMES:
        cls = getattr(ops, name)
        assert getattr(core_ops, name) is cls
        assert getattr(migrations, name) is cls
        assert registered[name] == f"dorm_postgres.migration_operations:{name}"
        assert issubclass(cls, migrations.Operation)
    from dorm.migrations.operations import CreateMaterializedView, DetachPartition

    assert CreateMaterializedView is ops.CreateMaterializedView
    assert DetachPartition is ops.DetachPartition


def test_seed_examples_build() -> None:
    views = seed_operations(SEED_VIEWS)
    parts = seed_operations(SEED_PARTITIONS)
    assert [type(o).__name__ for o in views] == [
        "CreateMaterializedView",
        "RefreshMaterializedView",
    ]
    assert [type(o).__name__ for o in parts] == ["CreatePartitionedTable", "CreatePartition"]


# SQL and describe() ---------------------------------------------------------------------------


def test_materialized_view_sql() -> None:
    create, refresh = seed_operations(SEED_VIEWS)
    assert create.forwards_statements() == [
        'CREATE MATERIALIZED VIEW "active_authors" AS '
        'SELECT id, name FROM "authors" WHERE is_active = true'
    ]
    assert create.backwards_statements() == ['DROP MATERIALIZED VIEW "active_authors"']
    assert refresh.forwards_statements() == ['REFRESH MATERIALIZED VIEW "active_authors"']
    assert refresh.backwards_statements() == []
    assert create.reversible and refresh.reversible

    indexed = ops.CreateMaterializedView(
        "top",
        "SELECT id, name, score FROM t;  ",
        with_data=False,
        indexes=[
            dorm.UniqueConstraint(fields=["id"], name="top_id_uniq"),
            dorm.Index(fields=["-score", "name"], opclasses=["", "text_pattern_ops"]),
            dorm.Index(fields=["name"], name="top_name", include=["score"]),
        ],
    )
    assert indexed.forwards_statements() == [
        'CREATE MATERIALIZED VIEW "top" AS SELECT id, name, score FROM t WITH NO DATA',
        'CREATE UNIQUE INDEX "top_id_uniq" ON "top" ("id")',
        'CREATE INDEX "top_score_name_idx" ON "top" ("score" DESC, "name" text_pattern_ops)',
        'CREATE INDEX "top_name" ON "top" ("name") INCLUDE ("score")',
    ]

    concurrent = ops.RefreshMaterializedView("top", concurrently=True)
    (sql,) = concurrent.forwards_statements()
    assert 'REFRESH MATERIALIZED VIEW CONCURRENTLY "top";' in sql
    assert sql.startswith("DO $dorm$") and "needs a unique index" in sql
    assert "object_not_in_prerequisite_state" in sql and "SQLERRM" in sql

    drop = ops.DropMaterializedView("top")
    assert drop.forwards_statements() == ['DROP MATERIALIZED VIEW IF EXISTS "top"']
    assert not drop.reversible
    with pytest.raises(migrations.IrreversibleError, match="sql="):
        drop.backwards_statements()
    strict = ops.DropMaterializedView("top", if_exists=False, sql="SELECT 1 AS id")
    assert strict.forwards_statements() == ['DROP MATERIALIZED VIEW "top"']
    assert strict.reversible
    assert strict.backwards_statements() == ['CREATE MATERIALIZED VIEW "top" AS SELECT 1 AS id']


def test_partition_sql() -> None:
    table, q1 = seed_operations(SEED_PARTITIONS)
    assert table.forwards_statements() == [
        'CREATE TABLE "events" (id BIGSERIAL, occurred_at TIMESTAMPTZ NOT NULL, payload JSONB, '
        'PRIMARY KEY (id, occurred_at)) PARTITION BY RANGE ("occurred_at")'
    ]
    assert table.backwards_statements() == ['DROP TABLE "events"']
    assert q1.forwards_statements() == [
        'CREATE TABLE "events_2026_q1" PARTITION OF "events" '
        "FOR VALUES FROM ('2026-01-01') TO ('2026-04-01')"
    ]
    assert q1.backwards_statements() == ['DROP TABLE "events_2026_q1"']

    listed = ops.CreatePartitionedTable(
        "orders", columns_sql=["id bigint", "region text"], method="list", key=["region", "id"]
    )
    assert listed.forwards_statements() == [
        'CREATE TABLE "orders" (id bigint, region text) PARTITION BY LIST ("region", "id")'
    ]
    expr = ops.CreatePartitionedTable(
        "logs", columns_sql="at timestamptz", method="HASH", key="(date_trunc('day', at))"
    )
    assert expr.forwards_statements()[0].endswith("PARTITION BY HASH ((date_trunc('day', at)))")

    def bound(**kw: Any) -> str:
        return ops.CreatePartition(parent="p", name="c", **kw).forwards_statements()[0]

    assert (
        bound(for_values="IN ('eu')") == 'CREATE TABLE "c" PARTITION OF "p" FOR VALUES IN (\'eu\')'
    )
    assert bound(for_values="for values IN (1)").endswith("FOR VALUES IN (1)")
    assert bound(default=True) == 'CREATE TABLE "c" PARTITION OF "p" DEFAULT'
    assert bound(modulus=4, remainder=3).endswith("FOR VALUES WITH (MODULUS 4, REMAINDER 3)")
    assert bound(for_values="WITH (MODULUS 2, REMAINDER 0)").endswith(
        "FOR VALUES WITH (MODULUS 2, REMAINDER 0)"
    )

    attach = ops.AttachPartition(parent="p", name="c", for_values="IN (1)")
    assert attach.forwards_statements() == [
        'ALTER TABLE "p" ATTACH PARTITION "c" FOR VALUES IN (1)'
    ]
    assert attach.backwards_statements() == ['ALTER TABLE "p" DETACH PARTITION "c"']
    detach = ops.DetachPartition(parent="p", name="c", default=True)
    assert detach.forwards_statements() == ['ALTER TABLE "p" DETACH PARTITION "c"']
    assert detach.backwards_statements() == ['ALTER TABLE "p" ATTACH PARTITION "c" DEFAULT']
    assert detach.reversible
    concurrent = ops.DetachPartition(parent="p", name="c", concurrently=True)
    assert concurrent.forwards_statements() == ['ALTER TABLE "p" DETACH PARTITION "c" CONCURRENTLY']
    assert not concurrent.reversible
    with pytest.raises(migrations.IrreversibleError, match="for_values="):
        concurrent.backwards_statements()


def test_identifiers_are_quoted() -> None:
    table = ops.CreatePartitionedTable('we"ird', columns_sql='"a b" int', key="a b")
    assert table.forwards_statements() == [
        'CREATE TABLE "we""ird" ("a b" int) PARTITION BY RANGE ("a b")'
    ]
    # Statements travel in "format" style: a % in an identifier is doubled.
    part = ops.CreatePartition(parent="p", name="100%", default=True)
    assert part.forwards_statements() == ['CREATE TABLE "100%%" PARTITION OF "p" DEFAULT']
    view = ops.CreateMaterializedView("x; DROP TABLE y", "SELECT 1")
    assert view.forwards_statements()[0].startswith('CREATE MATERIALIZED VIEW "x; DROP TABLE y"')


def test_describe() -> None:
    create, refresh = seed_operations(SEED_VIEWS)
    table, q1 = seed_operations(SEED_PARTITIONS)
    described = {
        create: "Create materialized view active_authors",
        refresh: "Refresh materialized view active_authors",
        ops.RefreshMaterializedView("v", concurrently=True): "Refresh materialized view v "
        "concurrently",
        ops.CreateMaterializedView(
            "v", "SELECT 1 AS id", indexes=[dorm.UniqueConstraint(fields=["id"], name="v_id")]
        ): "Create materialized view v with 1 index",
        ops.CreateMaterializedView("v", "SELECT 1", with_data=False): (
            "Create materialized view v (with no data)"
        ),
        ops.DropMaterializedView("v"): "Drop materialized view v",
        table: "Create partitioned table events (partition by RANGE on occurred_at)",
        q1: "Create partition events_2026_q1 of events FOR VALUES FROM ('2026-01-01') TO "
        "('2026-04-01')",
        ops.CreatePartition(parent="events", name="events_other", default=True): (
            "Create default partition events_other of events"
        ),
        ops.CreatePartition(parent="h", name="h0", modulus=2, remainder=0): (
            "Create partition h0 of h FOR VALUES WITH (MODULUS 2, REMAINDER 0)"
        ),
        ops.AttachPartition(parent="events", name="e", for_values="IN (1)"): (
            "Attach partition e to events FOR VALUES IN (1)"
        ),
        ops.DetachPartition(parent="events", name="e"): "Detach partition e from events",
        ops.DetachPartition(parent="events", name="e", concurrently=True): (
            "Detach partition e from events concurrently"
        ),
    }
    for operation, text in described.items():
        assert operation.describe() == text
    assert create.migration_name_fragment == "active_authors"
    assert refresh.migration_name_fragment == "refresh_active_authors"
    assert ops.DetachPartition(parent="p", name="c").migration_name_fragment == "detach_c"


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (
            lambda: ops.CreatePartitionedTable("t", columns_sql="a int", method="TREE", key="a"),
            "method must be one of RANGE, LIST, HASH",
        ),
        (lambda: ops.CreatePartitionedTable("t", columns_sql="a int", key=""), "key must be"),
        (lambda: ops.CreatePartitionedTable("t", columns_sql="", key="a"), "columns_sql"),
        (lambda: ops.CreatePartitionedTable("", columns_sql="a int", key="a"), "name must be"),
        (lambda: ops.CreatePartition(parent="p", name="c"), "needs its bounds"),
        (
            lambda: ops.CreatePartition(parent="p", name="c", for_values="IN (1)", default=True),
            "only one of",
        ),
        (
            lambda: ops.CreatePartition(parent="p", name="c", modulus=4, remainder=4),
            "0 <= remainder < modulus",
        ),
        (lambda: ops.CreatePartition(parent="p", name="c", modulus=4), "remainder"),
        (lambda: ops.AttachPartition(parent="p", name="c"), "needs its bounds"),
        (lambda: ops.CreatePartition(parent="p", name="c" * 64, default=True), "63-byte"),
        (lambda: ops.CreateMaterializedView("v", "SELECT 'a%' AS x"), "write a literal % as %%"),
        (lambda: ops.CreateMaterializedView("v", "SELECT 1", indexes=["id"]), "dorm.Index"),
        (
            lambda: ops.CreateMaterializedView(
                "v", "SELECT 1 AS id", indexes=[dorm.Index(fields=["id"], condition=dorm.Q(id=1))]
            ),
            "partial indexes",
        ),
        (lambda: ops.DropMaterializedView("v", indexes=[dorm.Index(fields=["id"])]), "sql="),
    ],
)
def test_validation(build: Any, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        build()


def test_raw_sql_in_format_style() -> None:
    view = ops.CreateMaterializedView("v", "SELECT name FROM t WHERE name LIKE 'a%%'")
    assert view.forwards_statements()[0].endswith("LIKE 'a%%'")


def test_statements_through_the_postgresql_schema_editor(pg: Any) -> None:
    """What migrate hands to the server: the editor's quote_name, no parameters."""
    editor = pg.schema_editor(collect_sql=True)
    table, q1 = seed_operations(SEED_PARTITIONS)
    for operation in (table, q1):
        operation.database_forwards("app", editor, None, None)
    ops.DetachPartition(parent="events", name="events_2026_q1").database_forwards(
        "app", editor, None, None
    )
    assert editor.collected_sql == [
        table.forwards_statements()[0] + ";",
        q1.forwards_statements()[0] + ";",
        'ALTER TABLE "events" DETACH PARTITION "events_2026_q1";',
    ]
    buffered = editor.collect(
        ops.RefreshMaterializedView("v").database_backwards, "app", editor, None, None
    )
    assert buffered == []


def test_detach_concurrently_refuses_an_atomic_migration(pg: Any) -> None:
    operation = ops.DetachPartition(parent="p", name="c", concurrently=True)
    atomic = pg.schema_editor(collect_sql=True)
    assert atomic.atomic_migration
    with pytest.raises(migrations.MigrationError, match="atomic = False"):
        operation.database_forwards("app", atomic, None, None)
    outside = pg.schema_editor(collect_sql=True, atomic=False)
    operation.database_forwards("app", outside, None, None)
    assert outside.collected_sql == ['ALTER TABLE "p" DETACH PARTITION "c" CONCURRENTLY;']


# The migration writer ---------------------------------------------------------------------------


def test_writer_serializes_the_operations() -> None:
    from dorm.migrations.writer import MigrationWriter

    operations = [
        *seed_operations(SEED_VIEWS),
        ops.CreateMaterializedView(
            "top",
            "SELECT id FROM t",
            with_data=False,
            indexes=[dorm.UniqueConstraint(fields=["id"], name="top_id_uniq")],
        ),
        ops.RefreshMaterializedView("top", concurrently=True),
        ops.DropMaterializedView("top", sql="SELECT id FROM t", if_exists=False),
        *seed_operations(SEED_PARTITIONS),
        ops.CreatePartition(parent="events", name="events_other", default=True),
        ops.CreatePartition(parent="h", name="h0", modulus=4, remainder=0),
        ops.AttachPartition(parent="events", name="e", for_values="IN (1)"),
        ops.DetachPartition(parent="events", name="e", concurrently=True, for_values="IN (1)"),
        ops.CreatePartitionedTable("l", columns_sql=["a int"], method="LIST", key=["a"]),
    ]
    cls = type("Migration", (migrations.Migration,), {"operations": operations})
    source = MigrationWriter(cls("0002_schema", "shop")).as_string()
    assert "from dorm import migrations" in source
    assert "migrations.CreateMaterializedView(" in source
    assert "migrations.DetachPartition(" in source
    assert "dorm_postgres" not in source  # written through the entry-point names
    namespace: dict[str, Any] = {}
    exec(compile(source, "0002_schema.py", "exec"), namespace)
    rebuilt = namespace["Migration"].operations
    assert [o.deconstruct() for o in rebuilt] == [o.deconstruct() for o in operations]
    assert [o.forwards_statements() for o in rebuilt] == [
        o.forwards_statements() for o in operations
    ]


# Other backends: NotSupportedError at migrate time ---------------------------------------------

LABEL = "pgops_unit"


@pytest.fixture
def sqlite_project(tmp_path: Path) -> Iterator[Any]:
    """An app whose migrations hold the seed's operations, on SQLite."""
    root = tmp_path / "project"
    package = root / LABEL
    (package / "migrations").mkdir(parents=True)
    (package / "__init__.py").touch()
    (package / "migrations" / "__init__.py").touch()
    (package / "models.py").write_text("import dorm\n", encoding="utf-8")

    def write(name: str, body: str, deps: list[str] = ()) -> None:  # type: ignore[assignment]
        dependencies = ", ".join(f"({LABEL!r}, {d!r})" for d in deps)
        (package / "migrations" / f"{name}.py").write_text(
            "from dorm import migrations\n"
            + textwrap.dedent(body)
            + f"\n\nclass Migration(migrations.Migration):\n    dependencies = [{dependencies}]\n"
            "    operations = operations\n",
            encoding="utf-8",
        )

    write(
        "0001_authors",
        "operations = [migrations.RunSQL('CREATE TABLE authors (id integer, name text, "
        "is_active bool)', 'DROP TABLE authors')]\n",
    )
    write("0002_views", SEED_VIEWS, ["0001_authors"])
    write("0003_events", SEED_PARTITIONS, ["0002_views"])
    sys.path.insert(0, str(root))
    close_all()
    dorm.configure(
        DATABASES={"default": {"ENGINE": "sqlite", "NAME": str(tmp_path / "db.sqlite3")}},
        INSTALLED_APPS=[LABEL],
    )

    def call(name: str, *args: Any, **options: Any) -> str:
        out = io.StringIO()
        dorm.call_command(name, *args, stdout=out, **options)
        return out.getvalue()

    try:
        yield call
    finally:
        close_all()
        sys.path.remove(str(root))
        apps.all_models.pop(LABEL, None)
        for module in [m for m in sys.modules if m == LABEL or m.startswith(LABEL + ".")]:
            del sys.modules[module]


def applied() -> list[str]:
    from dorm.migrations.recorder import MigrationRecorder

    return sorted(n for a, n in MigrationRecorder("default").applied_migrations() if a == LABEL)


def test_other_backends_raise_at_migrate_time(sqlite_project: Any) -> None:
    # Loading the migrations (imports of the operations) and planning work anywhere.
    plan = sqlite_project("migrate", plan=True)
    assert "    Create materialized view active_authors\n" in plan
    assert "    Create partitioned table events (partition by RANGE on occurred_at)\n" in plan
    assert "    Create partition events_2026_q1 of events FOR VALUES FROM" in plan

    with pytest.raises(CommandError) as info:
        sqlite_project("migrate")
    message = str(info.value)
    assert message.startswith("NotSupportedError: CreateMaterializedView needs materialized views")
    assert "'sqlite'" in message and "'default'" in message and "PostgreSQL" in message
    assert isinstance(info.value.__cause__, NotSupportedError)
    assert applied() == ["0001_authors"]  # 0002 rolled back, not recorded
    assert not connections["default"].fetchall(
        "SELECT name FROM sqlite_master WHERE name = 'active_authors'"
    )

    with pytest.raises(
        CommandError,
        match=r"CreatePartitionedTable needs declarative table partitioning, which the "
        r"SQLite backend \('sqlite'\) of database 'default' does not support",
    ):
        sqlite_project("sqlmigrate", LABEL, "0003")


async def test_other_backends_raise_at_migrate_time_async(sqlite_project: Any) -> None:
    out = io.StringIO()
    with pytest.raises(CommandError, match="NotSupportedError: CreateMaterializedView"):
        await dorm.acall_command("migrate", stdout=out)
    from dorm.db import aclose_all

    await aclose_all()
    assert applied() == ["0001_authors"]


class NoViewsHere:
    """A router that keeps the ``pgops_unit`` migrations' PostgreSQL steps off SQLite."""

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool | None:
        return False if hints.get("postgresql_only") else None


def test_routers_can_keep_them_off_other_backends(sqlite_project: Any, tmp_path: Path) -> None:
    migrations_dir = tmp_path / "project" / LABEL / "migrations"
    for path in migrations_dir.glob("000[23]_*.py"):
        source = path.read_text(encoding="utf-8")
        source = source.replace(
            "operations = operations",
            "operations = operations\n"
            "    for _op in operations:\n"
            "        _op.hints['postgresql_only'] = True\n",
        )
        path.write_text(source, encoding="utf-8")
    dorm.configure(
        DATABASES={"default": {"ENGINE": "sqlite", "NAME": str(tmp_path / "db.sqlite3")}},
        INSTALLED_APPS=[LABEL],
        DATABASE_ROUTERS=[NoViewsHere()],
    )
    assert "Applying pgops_unit.0003_events... OK" in sqlite_project("migrate")
    assert applied() == ["0001_authors", "0002_views", "0003_events"]
    sqlite_project("migrate", LABEL, "zero")
    assert applied() == []


def test_runtime_helpers_raise_on_other_backends(sqlite_project: Any) -> None:
    with pytest.raises(NotSupportedError, match=r"refresh_materialized_view\(\) needs"):
        refresh_materialized_view("active_authors")
    with pytest.raises(TypeError, match="view name or a model"):
        refresh_materialized_view(42)


async def test_async_runtime_helper_raises_on_other_backends(sqlite_project: Any) -> None:
    from dorm.db import aclose_all

    try:
        with pytest.raises(NotSupportedError, match=r"arefresh_materialized_view\(\) needs"):
            await arefresh_materialized_view("active_authors", concurrently=True)
    finally:
        await aclose_all()
