"""PostgreSQL schema features as migration operations (dorm-postgres), on a real server.

Every test builds a real app package in a temporary directory, writes migration files
(the seed's ``operations = [...]`` lists verbatim among them), and runs them through
``dorm migrate`` (``dorm.call_command`` / ``dorm.acall_command``) on a database of its own,
then migrates back to zero and checks that nothing is left behind.
"""

from __future__ import annotations

import datetime
import io
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

import dorm
from dorm import exceptions
from dorm.apps import apps
from dorm.cli import CommandError

UTC = datetime.UTC

# The seed's examples (advanced-features-3.4, "Materialized views" and "Declarative
# partitioning"), verbatim: each becomes the body of a migration file.
SEED_MATERIALIZED_VIEWS = """
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

SEED_PARTITIONING = """
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

LABEL = "pgschema"


class SchemaProject:
    """One app (``pgschema``) in a temp directory, on a fresh database of its own."""

    def __init__(self, root: Path, dsn: str) -> None:
        self.root = root
        self.dsn = dsn
        self.package = root / LABEL
        self.package.mkdir()
        (self.package / "__init__.py").touch()
        (self.package / "migrations").mkdir()
        (self.package / "migrations" / "__init__.py").touch()
        self.admin = psycopg.connect(dsn, autocommit=True)
        self.admin.execute("SET lock_timeout = '20s'")
        self.output = ""

    def configure(self) -> None:
        dorm.configure(
            DATABASES={"default": {"ENGINE": "postgresql", "OPTIONS": {"conninfo": self.dsn}}},
            INSTALLED_APPS=[LABEL],
        )

    # Files ------------------------------------------------------------------------------

    def write_models(self, source: str) -> Any:
        (self.package / "models.py").write_text(
            "import dorm\n\n" + textwrap.dedent(source), encoding="utf-8"
        )
        apps.all_models.pop(LABEL, None)
        sys.modules.pop(f"{LABEL}.models", None)
        return __import__(f"{LABEL}.models", fromlist=["*"])

    def write_migration(
        self,
        name: str,
        operations_source: str,
        dependencies: list[str] = (),  # type: ignore[assignment]
        header: str = "",
        atomic: bool = True,
    ) -> None:
        """A migration file whose module body is ``operations_source`` (which defines
        ``operations``), e.g. one of the seed's examples verbatim."""
        deps = ", ".join(f"({LABEL!r}, {d!r})" for d in dependencies)
        source = (
            "from dorm import migrations\n"
            + textwrap.dedent(header)
            + textwrap.dedent(operations_source)
            + "\n\nclass Migration(migrations.Migration):\n"
            + f"    dependencies = [{deps}]\n"
            + ("    atomic = False\n" if not atomic else "")
            + "    operations = operations\n"
        )
        (self.package / "migrations" / f"{name}.py").write_text(source, encoding="utf-8")
        for module in [m for m in sys.modules if m.startswith(f"{LABEL}.migrations.")]:
            del sys.modules[module]

    # Commands ---------------------------------------------------------------------------

    def call(self, name: str, /, *args: Any, **options: Any) -> str:
        out = io.StringIO()
        try:
            dorm.call_command(name, *args, stdout=out, **options)
        finally:
            self.output = out.getvalue()
        return self.output

    async def acall(self, name: str, /, *args: Any, **options: Any) -> str:
        out = io.StringIO()
        try:
            await dorm.acall_command(name, *args, stdout=out, **options)
        finally:
            self.output = out.getvalue()
        return self.output

    def migrate(self, *args: str, **options: Any) -> str:
        return self.call("migrate", LABEL, *args, **options)

    # Database ---------------------------------------------------------------------------

    def fetch(self, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
        return self.admin.execute(sql, params).fetchall()

    def relations(self) -> dict[str, str]:
        """Relations of the public schema (tables, views, sequences...) -> relkind."""
        rows = self.fetch(
            "SELECT relname, relkind::text FROM pg_class "
            "WHERE relnamespace = 'public'::regnamespace "
            "AND relname NOT IN ('dorm_migrations', 'dorm_migrations_id_seq') "
            "AND relkind IN ('r', 'p', 'm', 'v', 'S')"
        )
        return dict(rows)

    def placement(self, table: str) -> dict[Any, str]:
        """``id`` -> the child table that holds the row."""
        return dict(self.fetch(f'SELECT id, tableoid::regclass::text FROM "{table}"'))

    def applied(self) -> list[str]:
        return [
            r[0]
            for r in self.fetch(
                "SELECT name FROM dorm_migrations WHERE app = %s ORDER BY name", [LABEL]
            )
        ]

    def close(self) -> None:
        self.admin.close()
        apps.all_models.pop(LABEL, None)
        for module in [m for m in sys.modules if m == LABEL or m.startswith(LABEL + ".")]:
            del sys.modules[module]


@pytest.fixture
async def project(postgres: Any, tmp_path: Path) -> Any:
    from dorm.db import aclose_all, close_all
    from dorm_postgres import close_pools

    root = tmp_path / "project"
    root.mkdir()
    sys.path.insert(0, str(root))
    close_all()
    proj = SchemaProject(root, postgres.create_database("dorm_schema"))
    proj.configure()
    try:
        yield proj
    finally:
        await aclose_all()
        close_all()
        close_pools()
        proj.close()
        sys.path.remove(str(root))


AUTHOR_MODELS = """
class Author(dorm.Model):
    name = dorm.CharField(max_length=100)
    is_active = dorm.BooleanField(default=True)

    class Meta:
        db_table = "authors"


class ActiveAuthor(dorm.Model):
    id = dorm.BigIntegerField(primary_key=True)
    name = dorm.CharField(max_length=100)

    class Meta:
        managed = False
        db_table = "active_authors"
"""


# Materialized views -------------------------------------------------------------------------


async def test_seed_materialized_view_migrates_and_back(project: SchemaProject) -> None:
    from dorm_postgres.views import arefresh_materialized_view, refresh_materialized_view

    models = project.write_models(AUTHOR_MODELS)
    out = project.call("makemigrations", LABEL)
    assert "Create model ActiveAuthor" in out
    project.write_migration("0002_active_authors", SEED_MATERIALIZED_VIEWS, ["0001_initial"])
    assert "No changes detected" in project.call("makemigrations", check=True)

    # --plan and sqlmigrate read well.
    plan = project.migrate(plan=True)
    assert "    Create materialized view active_authors\n" in plan
    assert "    Refresh materialized view active_authors\n" in plan
    sql = project.call("sqlmigrate", LABEL, "0002")
    assert (
        'CREATE MATERIALIZED VIEW "active_authors" AS '
        'SELECT id, name FROM "authors" WHERE is_active = true;'
    ) in sql
    assert 'REFRESH MATERIALIZED VIEW "active_authors";' in sql
    assert "-- Create materialized view active_authors" in sql
    assert 'DROP MATERIALIZED VIEW "active_authors";' in project.call(
        "sqlmigrate", LABEL, "0002", backwards=True
    )

    project.migrate("0001")
    Author, ActiveAuthor = models.Author, models.ActiveAuthor
    Author.objects.bulk_create(
        [Author(name="ann"), Author(name="bob", is_active=False), Author(name="cid")]
    )
    out = project.migrate()
    assert f"Applying {LABEL}.0002_active_authors... OK" in out
    assert project.relations()["active_authors"] == "m"

    # The read-only model reads the view through the ORM.
    assert list(ActiveAuthor.objects.order_by("id").values_list("name", flat=True)) == [
        "ann",
        "cid",
    ]
    assert ActiveAuthor.objects.get(name="cid").id == Author.objects.get(name="cid").id

    # New rows appear after a refresh, not before.
    Author.objects.create(name="dee")
    Author.objects.filter(name="ann").update(is_active=False)
    assert ActiveAuthor.objects.count() == 2
    refresh_materialized_view(ActiveAuthor)
    assert sorted(ActiveAuthor.objects.values_list("name", flat=True)) == ["cid", "dee"]
    await Author.objects.acreate(name="eve")
    assert await ActiveAuthor.objects.acount() == 2
    await arefresh_materialized_view("active_authors")
    assert [a.name async for a in ActiveAuthor.objects.order_by("name")] == ["cid", "dee", "eve"]

    # PostgreSQL refuses writes to the view.
    with pytest.raises(exceptions.ProgrammingError, match="cannot change materialized view"):
        ActiveAuthor.objects.create(id=99, name="nope")

    # Back to zero: the view and the table are gone, nothing is recorded.
    out = project.migrate("zero")
    assert f"Unapplying {LABEL}.0002_active_authors... OK" in out
    assert project.relations() == {}
    assert project.applied() == []


SLOW_VIEW_SETUP = """
import dorm
from dorm.migrations.operations import CreateMaterializedView, RunSQL

operations = [
    RunSQL(
        [
            'CREATE TABLE "authors" (id integer PRIMARY KEY, name text, is_active boolean)',
            "INSERT INTO \\"authors\\" VALUES (1, 'ann', true), (2, 'bob', false)",
            'CREATE TABLE "refresh_delay" (seconds double precision NOT NULL)',
            'INSERT INTO "refresh_delay" VALUES (0)',
        ],
        reverse_sql=['DROP TABLE "refresh_delay"', 'DROP TABLE "authors"'],
    ),
    # Refreshing takes refresh_delay.seconds: long enough to read while it runs.
    CreateMaterializedView(
        "slow_authors",
        'SELECT a.id, a.name FROM "authors" a WHERE a.is_active AND '
        '(SELECT count(*) FROM pg_sleep((SELECT seconds FROM "refresh_delay"))) = 1',
        indexes=[dorm.UniqueConstraint(fields=["id"], name="slow_authors_id_uniq")],
    ),
    CreateMaterializedView(
        "unindexed_authors",
        'SELECT id, name FROM "authors" WHERE is_active',
        indexes=[dorm.Index(fields=["name"], name="unindexed_authors_name")],
    ),
]
"""


def _wait_for_query(admin: psycopg.Connection[Any], needle: str, timeout: float = 10.0) -> int:
    """The pid of the (other) backend running a statement that contains ``needle``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = admin.execute(
            "SELECT pid FROM pg_stat_activity WHERE state = 'active' AND pid <> "
            "pg_backend_pid() AND query LIKE %s",
            [f"%{needle}%"],
        ).fetchone()
        if row:
            return int(row[0])
        time.sleep(0.01)
    raise AssertionError(f"no backend started {needle!r} within {timeout}s")


def _wait_for_lock(
    admin: psycopg.Connection[Any], pid: int, relation: str, mode: str, timeout: float = 10.0
) -> None:
    """Wait until backend ``pid`` holds ``mode`` on ``relation``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if admin.execute(
            "SELECT 1 FROM pg_locks WHERE pid = %s AND relation = %s::regclass "
            "AND mode = %s AND granted",
            [pid, relation, mode],
        ).fetchone():
            return
        time.sleep(0.01)
    raise AssertionError(f"backend {pid} did not get {mode} on {relation} within {timeout}s")


def _still_running(admin: psycopg.Connection[Any], pid: int) -> bool:
    row = admin.execute("SELECT state FROM pg_stat_activity WHERE pid = %s", [pid]).fetchone()
    return row is not None and row[0] == "active"


def _in_thread(target: Any) -> tuple[threading.Thread, list[BaseException]]:
    errors: list[BaseException] = []

    def run() -> None:
        from dorm.db import connections

        try:
            target()
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections["default"].close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, errors


def test_concurrent_refresh_does_not_block_readers(project: SchemaProject) -> None:
    from dorm_postgres.views import refresh_materialized_view

    project.write_migration("0001_setup", SLOW_VIEW_SETUP)
    project.write_migration(
        "0002_refresh",
        "from dorm import migrations\n\noperations = [\n"
        '    migrations.RefreshMaterializedView("slow_authors", concurrently=True),\n]\n',
        ["0001_setup"],
    )
    project.migrate("0001")
    assert project.fetch('SELECT id FROM "slow_authors"') == [(1,)]
    project.admin.execute("INSERT INTO \"authors\" VALUES (3, 'cid', true)")
    project.admin.execute('UPDATE "refresh_delay" SET seconds = 1.5')
    assert "concurrently" in project.migrate(plan=True)

    # dorm migrate refreshes concurrently in another thread; a reader is not blocked.
    reader = psycopg.connect(project.dsn, autocommit=True)
    reader.execute("SET lock_timeout = '1s'")
    try:
        thread, errors = _in_thread(lambda: project.migrate())
        pid = _wait_for_query(project.admin, "REFRESH MATERIALIZED VIEW CONCURRENTLY")
        _wait_for_lock(project.admin, pid, "slow_authors", "ExclusiveLock")
        started = time.monotonic()
        rows = reader.execute('SELECT id FROM "slow_authors" ORDER BY id').fetchall()
        elapsed = time.monotonic() - started
        assert rows == [(1,)]  # the old contents, while the refresh runs
        assert _still_running(project.admin, pid), "the refresh ended before the read"
        assert elapsed < 1.0
        thread.join(30)
        assert not thread.is_alive() and not errors, errors
        assert reader.execute('SELECT id FROM "slow_authors" ORDER BY id').fetchall() == [
            (1,),
            (3,),
        ]
        assert project.applied() == ["0001_setup", "0002_refresh"]

        # A plain refresh, by contrast, locks readers out until it ends.
        project.admin.execute("INSERT INTO \"authors\" VALUES (4, 'dee', true)")
        reader.execute("SET lock_timeout = '200ms'")
        thread, errors = _in_thread(lambda: refresh_materialized_view("slow_authors"))
        pid = _wait_for_query(project.admin, "REFRESH MATERIALIZED VIEW")
        _wait_for_lock(project.admin, pid, "slow_authors", "AccessExclusiveLock")
        with pytest.raises(psycopg.errors.LockNotAvailable):
            reader.execute('SELECT id FROM "slow_authors"').fetchall()
        thread.join(30)
        assert not errors, errors
        # ... and the concurrent helper does not.
        project.admin.execute("INSERT INTO \"authors\" VALUES (5, 'eve', true)")
        thread, errors = _in_thread(
            lambda: refresh_materialized_view("slow_authors", concurrently=True)
        )
        pid = _wait_for_query(project.admin, "REFRESH MATERIALIZED VIEW CONCURRENTLY")
        _wait_for_lock(project.admin, pid, "slow_authors", "ExclusiveLock")
        assert len(reader.execute('SELECT id FROM "slow_authors"').fetchall()) == 3
        assert _still_running(project.admin, pid)
        thread.join(30)
        assert not errors, errors
        assert len(reader.execute('SELECT id FROM "slow_authors"').fetchall()) == 4
    finally:
        reader.close()

    project.admin.execute('UPDATE "refresh_delay" SET seconds = 0')
    project.migrate("zero")
    assert project.relations() == {}


def test_concurrent_refresh_needs_a_unique_index(project: SchemaProject) -> None:
    from dorm_postgres.views import arefresh_materialized_view, refresh_materialized_view

    project.write_migration("0001_setup", SLOW_VIEW_SETUP)
    project.write_migration(
        "0002_refresh",
        "from dorm.migrations.operations import RefreshMaterializedView\n\noperations = [\n"
        '    RefreshMaterializedView("unindexed_authors", concurrently=True),\n]\n',
        ["0001_setup"],
    )
    project.migrate("0001")
    with pytest.raises(CommandError) as info:
        project.migrate()
    message = str(info.value)
    assert "needs a unique index" in message
    assert 'cannot refresh materialized view "public.unindexed_authors" concurrently' in message
    assert "FAILED" in project.output
    assert project.applied() == ["0001_setup"]  # rolled back, not recorded

    # The runtime helpers say the same, as OperationalError with the driver error as cause.
    with pytest.raises(exceptions.OperationalError, match="needs a unique index") as err:
        refresh_materialized_view("unindexed_authors", concurrently=True)
    assert isinstance(err.value.__cause__, psycopg.errors.ObjectNotInPrerequisiteState)
    refresh_materialized_view("slow_authors", concurrently=True)  # has one: fine
    refresh_materialized_view("unindexed_authors")  # not concurrently: fine

    import asyncio

    async def arefresh() -> None:
        from dorm.db import aclose_all

        try:
            with pytest.raises(exceptions.OperationalError, match="needs a unique index"):
                await arefresh_materialized_view("unindexed_authors", concurrently=True)
            await arefresh_materialized_view("slow_authors", concurrently=True)
        finally:
            await aclose_all()

    asyncio.run(arefresh())

    project.migrate("zero")
    assert project.relations() == {}


async def test_drop_materialized_view_reversible_with_its_sql(project: SchemaProject) -> None:
    project.write_migration("0001_setup", SLOW_VIEW_SETUP)
    project.write_migration(
        "0002_drop",
        """
        import dorm
        from dorm.migrations.operations import DropMaterializedView

        operations = [
            DropMaterializedView("unindexed_authors"),
            DropMaterializedView(
                "slow_authors",
                sql='SELECT id, name FROM "authors" WHERE is_active',
                indexes=[dorm.UniqueConstraint(fields=["id"], name="slow_authors_id_uniq")],
            ),
        ]
        """,
        ["0001_setup"],
    )
    assert "Drop materialized view unindexed_authors" in project.migrate(plan=True)
    await project.acall("migrate", LABEL)
    assert "slow_authors" not in project.relations()
    assert "unindexed_authors" not in project.relations()
    plan = project.migrate("0001", plan=True)
    assert "Drop materialized view unindexed_authors (IRREVERSIBLE)" in plan
    with pytest.raises(CommandError, match=r"unindexed_authors.* is not reversible"):
        project.migrate("0001")

    # Only the reversible one: migrating back recreates the view and its unique index.
    project.write_migration(
        "0002_drop",
        """
        import dorm
        from dorm.migrations.operations import DropMaterializedView

        operations = [
            DropMaterializedView(
                "slow_authors",
                sql='SELECT id, name FROM "authors" WHERE is_active',
                indexes=[dorm.UniqueConstraint(fields=["id"], name="slow_authors_id_uniq")],
            ),
        ]
        """,
        ["0001_setup"],
    )
    project.admin.execute(
        "CREATE MATERIALIZED VIEW unindexed_authors AS SELECT 1 AS id"
    )  # what 0001's reverse drops
    await project.acall("migrate", LABEL, "0001")
    assert project.relations()["slow_authors"] == "m"
    assert project.fetch(
        "SELECT indexdef FROM pg_indexes WHERE indexname = 'slow_authors_id_uniq'"
    ) == [("CREATE UNIQUE INDEX slow_authors_id_uniq ON public.slow_authors USING btree (id)",)]
    assert project.fetch('SELECT id FROM "slow_authors"') == [(1,)]
    await project.acall("migrate", LABEL, "zero")
    assert project.relations() == {}


# Partitioning -------------------------------------------------------------------------------

EVENT_MODELS = """
class Event(dorm.Model):
    id = dorm.BigAutoField(primary_key=True)
    occurred_at = dorm.DateTimeField()
    payload = dorm.JSONField(null=True)

    class Meta:
        managed = False
        db_table = "events"
"""

MORE_EVENT_PARTITIONS = """
from dorm.migrations.operations import AttachPartition, CreatePartition, RunSQL

operations = [
    CreatePartition(
        parent="events",
        name="events_2026_q2",
        for_values="FROM ('2026-04-01') TO ('2026-07-01')",
    ),
    # A plain table with rows, attached as the partition for 2025.
    RunSQL(
        [
            'CREATE TABLE "events_2025" (LIKE "events" INCLUDING DEFAULTS)',
            "INSERT INTO \\"events_2025\\" (occurred_at, payload) "
            "VALUES ('2025-06-01T12:00:00Z', '{\\"old\\": true}')",
        ],
        reverse_sql='DROP TABLE "events_2025"',
    ),
    AttachPartition(
        parent="events",
        name="events_2025",
        for_values="FROM ('2025-01-01') TO ('2026-01-01')",
    ),
]
"""

DETACH_Q1 = """
from dorm.migrations.operations import DetachPartition

operations = [
    DetachPartition(
        parent="events",
        name="events_2026_q1",
        for_values="FROM ('2026-01-01') TO ('2026-04-01')",
    ),
]
"""


async def test_seed_range_partitions_with_a_model(project: SchemaProject) -> None:
    project.write_migration("0001_events", SEED_PARTITIONING)
    models = project.write_models(EVENT_MODELS)
    assert "Create model Event" in project.call("makemigrations", LABEL)
    (second,) = [p.stem for p in (project.package / "migrations").glob("0002_*.py")]
    project.write_migration("0003_more", MORE_EVENT_PARTITIONS, [second])
    project.write_migration("0004_detach_q1", DETACH_Q1, ["0003_more"])

    plan = project.migrate(plan=True)
    assert "Create partitioned table events (partition by RANGE on occurred_at)" in plan
    assert (
        "Create partition events_2026_q1 of events FOR VALUES FROM ('2026-01-01') TO ('2026-04-01')"
    ) in plan
    assert "Attach partition events_2025 to events FOR VALUES FROM" in plan
    assert "Detach partition events_2026_q1 from events" in plan
    sql = project.call("sqlmigrate", LABEL, "0001")
    assert (
        'CREATE TABLE "events" (id BIGSERIAL, occurred_at TIMESTAMPTZ NOT NULL, payload JSONB, '
        'PRIMARY KEY (id, occurred_at)) PARTITION BY RANGE ("occurred_at");'
    ) in sql
    assert (
        'CREATE TABLE "events_2026_q1" PARTITION OF "events" '
        "FOR VALUES FROM ('2026-01-01') TO ('2026-04-01');"
    ) in sql
    assert 'ALTER TABLE "events" DETACH PARTITION "events_2026_q1";' in project.call(
        "sqlmigrate", LABEL, "0004"
    )
    assert 'ALTER TABLE "events" ATTACH PARTITION "events_2026_q1" FOR VALUES FROM' in (
        project.call("sqlmigrate", LABEL, "0004", backwards=True)
    )

    project.migrate(second)
    assert project.relations() == {"events": "p", "events_2026_q1": "r", "events_id_seq": "S"}
    Event = models.Event
    jan = Event.objects.create(
        occurred_at=datetime.datetime(2026, 1, 15, tzinfo=UTC), payload={"n": 1}
    )
    feb = await Event.objects.acreate(occurred_at=datetime.datetime(2026, 2, 1, tzinfo=UTC))
    assert jan.id and feb.id and jan.id != feb.id
    assert project.placement("events") == {jan.id: "events_2026_q1", feb.id: "events_2026_q1"}

    # A row no partition takes: IntegrityError with PostgreSQL's message.
    with pytest.raises(exceptions.IntegrityError, match='no partition of relation "events"'):
        Event.objects.create(occurred_at=datetime.datetime(2026, 5, 1, tzinfo=UTC))
    with pytest.raises(exceptions.IntegrityError, match='no partition of relation "events"'):
        await Event.objects.acreate(occurred_at=datetime.datetime(2031, 1, 1, tzinfo=UTC))

    await project.acall("migrate", LABEL, "0003")
    may = Event.objects.create(occurred_at=datetime.datetime(2026, 5, 1, tzinfo=UTC))
    created = Event.objects.bulk_create(
        [
            Event(occurred_at=datetime.datetime(2026, 3, 31, 23, 59, tzinfo=UTC)),
            Event(occurred_at=datetime.datetime(2026, 4, 1, tzinfo=UTC)),
            Event(occurred_at=datetime.datetime(2025, 12, 31, tzinfo=UTC)),
        ]
    )
    placement = project.placement("events")
    old = Event.objects.get(payload__old=True)
    assert placement[old.id] == "events_2025"
    assert placement[may.id] == "events_2026_q2"
    assert [placement[e.id] for e in created] == ["events_2026_q1", "events_2026_q2", "events_2025"]

    # Queries go through the parent; an update that changes the key moves the row.
    assert Event.objects.filter(occurred_at__year=2026).count() == 5
    feb.occurred_at = datetime.datetime(2026, 6, 1, tzinfo=UTC)
    feb.save()
    assert project.placement("events")[feb.id] == "events_2026_q2"
    assert Event.objects.get(pk=feb.id).occurred_at == feb.occurred_at

    # Detach / attach round trip: the rows stay in the detached table, and come back.
    q1_ids = sorted(i for i, t in project.placement("events").items() if t == "events_2026_q1")
    assert len(q1_ids) == 2
    project.migrate()
    assert not Event.objects.filter(pk__in=q1_ids).exists()
    assert sorted(r[0] for r in project.fetch('SELECT id FROM "events_2026_q1"')) == q1_ids
    assert project.fetch(
        "SELECT relispartition FROM pg_class WHERE relname = 'events_2026_q1'"
    ) == [(False,)]
    project.migrate("0003")
    assert sorted(Event.objects.filter(pk__in=q1_ids).values_list("id", flat=True)) == q1_ids
    assert {i: t for i, t in project.placement("events").items() if i in q1_ids} == {
        i: "events_2026_q1" for i in q1_ids
    }

    project.migrate("zero")
    assert project.relations() == {}
    assert project.applied() == []


LIST_AND_HASH = """
from dorm.migrations.operations import (
    CreatePartition,
    CreatePartitionedTable,
)

operations = [
    CreatePartitionedTable(
        "orders",
        columns_sql=(
            "id BIGSERIAL, region TEXT NOT NULL, total NUMERIC(10, 2), "
            "PRIMARY KEY (id, region)"
        ),
        method="LIST",
        key="region",
    ),
    CreatePartition(parent="orders", name="orders_eu", for_values="IN ('de', 'fr')"),
    CreatePartition(parent="orders", name="orders_us", for_values="FOR VALUES IN ('us')"),
    CreatePartition(parent="orders", name="orders_other", default=True),
    CreatePartitionedTable(
        "sessions",
        columns_sql=["id BIGINT NOT NULL", "user_name TEXT", "PRIMARY KEY (id)"],
        method="hash",
        key=["id"],
    ),
    CreatePartition(parent="sessions", name="sessions_p0", modulus=4, remainder=0),
    CreatePartition(parent="sessions", name="sessions_p1", modulus=4, remainder=1),
    CreatePartition(parent="sessions", name="sessions_p2", modulus=4, remainder=2),
    CreatePartition(
        parent="sessions", name="sessions_p3", for_values="WITH (MODULUS 4, REMAINDER 3)"
    ),
]
"""

ORDER_MODELS = """
class Order(dorm.Model):
    id = dorm.BigAutoField(primary_key=True)
    region = dorm.TextField()
    total = dorm.DecimalField(max_digits=10, decimal_places=2, null=True)

    class Meta:
        managed = False
        db_table = "orders"


class Session(dorm.Model):
    id = dorm.BigIntegerField(primary_key=True)
    user_name = dorm.TextField(null=True)

    class Meta:
        managed = False
        db_table = "sessions"
"""


async def test_list_and_hash_partitions(project: SchemaProject) -> None:
    import decimal

    project.write_migration("0001_tables", LIST_AND_HASH)
    models = project.write_models(ORDER_MODELS)
    await project.acall("makemigrations", LABEL)
    (second,) = [p.stem for p in (project.package / "migrations").glob("0002_*.py")]
    project.write_migration(
        "0003_detach_us",
        """
        from dorm.migrations.operations import DetachPartition

        operations = [
            DetachPartition(parent="orders", name="orders_us", for_values="IN ('us')"),
        ]
        """,
        [second],
    )
    project.write_migration(
        "0004_attach_us",
        """
        from dorm.migrations.operations import AttachPartition

        operations = [
            AttachPartition(parent="orders", name="orders_us", for_values="IN ('us')"),
        ]
        """,
        ["0003_detach_us"],
    )
    await project.acall("migrate", LABEL, second)
    Order, Session = models.Order, models.Session

    # LIST: rows land by region; the DEFAULT partition takes the rest.
    orders = await Order.objects.abulk_create(
        [
            Order(region=region, total=decimal.Decimal("9.99"))
            for region in ("de", "fr", "us", "jp", "us")
        ]
    )
    placement = project.placement("orders")
    assert [placement[o.id] for o in orders] == [
        "orders_eu",
        "orders_eu",
        "orders_us",
        "orders_other",
        "orders_us",
    ]
    assert await Order.objects.filter(region="us").acount() == 2

    # HASH: every row in exactly the partition PostgreSQL's hash assigns it.
    Session.objects.bulk_create([Session(id=i, user_name=f"u{i}") for i in range(1, 201)])
    counts = dict(
        project.fetch(
            'SELECT tableoid::regclass::text, count(*) FROM "sessions" GROUP BY 1 ORDER BY 1'
        )
    )
    assert set(counts) == {f"sessions_p{r}" for r in range(4)}
    assert sum(counts.values()) == 200 and min(counts.values()) > 20
    for r in range(4):
        assert project.fetch(
            f"SELECT bool_and(satisfies_hash_partition('sessions'::regclass, 4, {r}, id)) "
            f'FROM "sessions_p{r}"'
        ) == [(True,)]
    assert Session.objects.get(pk=123).user_name == "u123"

    # Detach, then attach again (forwards), then both back: the rows survive each step.
    us_ids = sorted(o.id for o in orders if o.region == "us")
    await project.acall("migrate", LABEL, "0003")
    assert await Order.objects.filter(region="us").acount() == 0
    assert sorted(r[0] for r in project.fetch('SELECT id FROM "orders_us"')) == us_ids
    await project.acall("migrate", LABEL, "0004")
    assert sorted([o.id async for o in Order.objects.filter(region="us").order_by("id")]) == us_ids
    project.migrate(second)  # unapply attach (detach), then unapply detach (attach)
    assert sorted(Order.objects.filter(region="us").values_list("id", flat=True)) == us_ids
    assert project.placement("orders")[us_ids[0]] == "orders_us"

    await project.acall("migrate", LABEL, "zero")
    assert project.relations() == {}


async def test_detach_concurrently_needs_a_non_atomic_migration(project: SchemaProject) -> None:
    setup = """
    from dorm.migrations.operations import CreatePartition, CreatePartitionedTable

    operations = [
        CreatePartitionedTable(
            "metrics", columns_sql="day DATE NOT NULL, value INTEGER", key="day"
        ),
        CreatePartition(
            parent="metrics", name="metrics_jan", for_values="FROM ('2026-01-01') TO ('2026-02-01')"
        ),
        CreatePartition(
            parent="metrics", name="metrics_feb", for_values="FROM ('2026-02-01') TO ('2026-03-01')"
        ),
    ]
    """
    detach = """
    from dorm.migrations.operations import DetachPartition

    operations = [
        DetachPartition(
            parent="metrics",
            name="metrics_{month}",
            concurrently=True,
            for_values="FROM ('2026-{n}-01') TO ('2026-{m}-01')",
        ),
    ]
    """
    project.write_migration("0001_metrics", setup)
    project.write_migration(
        "0002_detach_jan",
        detach.format(month="jan", n="01", m="02"),
        ["0001_metrics"],
        atomic=False,
    )
    project.write_migration(
        "0003_detach_feb", detach.format(month="feb", n="02", m="03"), ["0002_detach_jan"]
    )
    project.migrate("0001")
    project.admin.execute(
        "INSERT INTO metrics VALUES ('2026-01-05', 1), ('2026-01-06', 2), ('2026-02-01', 3)"
    )
    assert 'DETACH PARTITION "metrics_jan" CONCURRENTLY;' in project.call(
        "sqlmigrate", LABEL, "0002"
    )
    await project.acall("migrate", LABEL, "0002")
    assert project.fetch("SELECT count(*) FROM metrics") == [(1,)]
    assert project.fetch("SELECT count(*) FROM metrics_jan") == [(2,)]

    # In an atomic migration PostgreSQL would refuse it: dorm says what to do first.
    with pytest.raises(CommandError, match="atomic = False"):
        project.migrate()
    assert project.applied() == ["0001_metrics", "0002_detach_jan"]
    assert project.fetch("SELECT relispartition FROM pg_class WHERE relname = 'metrics_feb'") == [
        (True,)
    ]

    project.migrate("0001")  # attaches metrics_jan again
    assert project.fetch("SELECT count(*) FROM metrics") == [(3,)]
    project.migrate("zero")
    assert project.relations() == {}


def test_partitioned_identifiers_are_quoted(project: SchemaProject) -> None:
    project.write_migration(
        "0001_odd",
        """
        from dorm.migrations.operations import CreatePartition, CreatePartitionedTable

        operations = [
            CreatePartitionedTable(
                'Odd "Log"', columns_sql='"At" date NOT NULL, "50%%" int', key="At"
            ),
            CreatePartition(parent='Odd "Log"', name="Odd 100%", default=True),
        ]
        """,
    )
    project.migrate()
    assert project.relations() == {'Odd "Log"': "p", "Odd 100%": "r"}
    project.admin.execute('INSERT INTO "Odd ""Log""" VALUES (%s, 1)', [datetime.date(2026, 1, 1)])
    assert project.fetch('SELECT count(*) FROM "Odd 100%"') == [(1,)]
    project.migrate("zero")
    assert project.relations() == {}
