"""Applying migrations: transactions, rollback targets, --fake, --plan, routers, async."""

from __future__ import annotations

from typing import Any

import pytest

import dorm
from dorm.cli import CommandError
from dorm.db import connections
from dorm.migrations import IrreversibleError, MigrationExecutor

INITIAL = """
import dorm
from dorm import migrations


class Migration(migrations.Migration):
    initial = True
    operations = [
        migrations.CreateModel(
            name="Author",
            fields=[
                ("id", dorm.BigAutoField(primary_key=True)),
                ("name", dorm.CharField(max_length=50)),
            ],
        ),
    ]
"""

AUTHOR_MODELS = """
class Author(dorm.Model):
    name = dorm.CharField(max_length=50)
"""


def _columns(table: str) -> list[str]:
    conn = connections["default"]
    sql = f"SELECT * FROM {conn.ops.quote_name(table)} WHERE 1 = 0"
    return [d[0] for d in conn.execute(sql).description]


def _setup_initial(project: Any) -> None:
    project.write_models("mig_shop", AUTHOR_MODELS)
    project.write_migration("mig_shop", "0001_initial", INITIAL)


def test_failed_migration_leaves_schema_and_recorder_unchanged(project: Any) -> None:
    _setup_initial(project)
    project.write_migration(
        "mig_shop",
        "0002_broken",
        """
        import dorm
        from dorm import migrations


        class Migration(migrations.Migration):
            dependencies = [("mig_shop", "0001_initial")]
            operations = [
                migrations.AddField("author", "age", dorm.IntegerField(default=0)),
                migrations.RunSQL("UPDATE mig_shop_author SET age = 1"),
                migrations.RunSQL("INSERT INTO no_such_table VALUES (1)"),
            ]
        """,
    )
    project.migrate("mig_shop", "0001")
    conn = connections["default"]
    conn.execute("INSERT INTO mig_shop_author (name) VALUES (%s)", ["kept"])
    if not conn.features.can_rollback_ddl:
        pytest.skip("the backend cannot roll DDL back")
    with pytest.raises(CommandError, match="no_such_table"):
        project.migrate()
    assert "FAILED" in project.output.getvalue()
    assert _columns("mig_shop_author") == ["id", "name"]
    assert project.applied() == {("mig_shop", "0001_initial")}
    assert conn.fetchall("SELECT name FROM mig_shop_author") == [("kept",)]
    # A later, fixed attempt applies cleanly.
    (project.root / "mig_shop/migrations/0002_broken.py").unlink()
    project.migrate()
    assert project.applied() == {("mig_shop", "0001_initial")}


def test_non_atomic_migration_keeps_what_ran(project: Any) -> None:
    _setup_initial(project)
    project.write_migration(
        "mig_shop",
        "0002_non_atomic",
        """
        from dorm import migrations


        class Migration(migrations.Migration):
            atomic = False
            dependencies = [("mig_shop", "0001_initial")]
            operations = [
                migrations.RunSQL("INSERT INTO mig_shop_author (name) VALUES ('ran')"),
                migrations.RunSQL("INSERT INTO no_such_table VALUES (1)"),
            ]
        """,
    )
    with pytest.raises(CommandError):
        project.migrate()
    conn = connections["default"]
    assert conn.fetchall("SELECT name FROM mig_shop_author") == [("ran",)]
    assert project.applied() == {("mig_shop", "0001_initial")}


def test_targets_fake_and_plan(project: Any) -> None:
    _setup_initial(project)
    project.write_migration(
        "mig_shop",
        "0002_age",
        """
        import dorm
        from dorm import migrations


        class Migration(migrations.Migration):
            dependencies = [("mig_shop", "0001_initial")]
            operations = [migrations.AddField("author", "age", dorm.IntegerField(null=True))]
        """,
    )
    plan = project.migrate(plan=True)
    assert [str(m) for m, _ in plan] == ["mig_shop.0001_initial", "mig_shop.0002_age"]
    out = project.output.getvalue()
    assert "Planned operations:" in out and "Add field age to author" in out
    assert project.app_tables() == set()

    project.migrate("mig_shop", "0001_initial")
    assert project.applied() == {("mig_shop", "0001_initial")}
    project.migrate("mig_shop", "0002")  # a prefix is enough
    assert "age" in _columns("mig_shop_author")
    project.migrate("mig_shop", "0001")  # back to 0001: 0002 is unapplied
    assert _columns("mig_shop_author") == ["id", "name"]

    project.migrate(fake=True)
    assert "FAKED" in project.output.getvalue()
    assert ("mig_shop", "0002_age") in project.applied()
    assert _columns("mig_shop_author") == ["id", "name"]
    project.migrate("mig_shop", "0001", fake=True)
    project.migrate()
    assert "age" in _columns("mig_shop_author")

    project.migrate()
    assert "No migrations to apply." in project.output.getvalue()
    project.migrate("mig_shop", "zero", plan=True)
    assert "(unapply)" in project.output.getvalue()

    project.call("showmigrations")
    assert "[X] 0001_initial" in project.output.getvalue()
    project.call("showmigrations", plan=True)
    assert "[X]  mig_shop.0002_age" in project.output.getvalue()


def test_irreversible_operation(project: Any) -> None:
    _setup_initial(project)
    project.write_migration(
        "mig_shop",
        "0002_data",
        """
        from dorm import migrations


        class Migration(migrations.Migration):
            dependencies = [("mig_shop", "0001_initial")]
            operations = [migrations.RunSQL("INSERT INTO mig_shop_author (name) VALUES ('x')")]
        """,
    )
    project.migrate()
    with pytest.raises(CommandError, match="not reversible"):
        project.migrate("mig_shop", "0001")
    assert ("mig_shop", "0002_data") in project.applied()
    executor = MigrationExecutor()
    with pytest.raises(IrreversibleError):
        executor.migrate([("mig_shop", "0001_initial")])


RUN_PYTHON = """
import dorm
from dorm import migrations


def forwards(apps, schema_editor):
    Author = apps.get_model("mig_shop", "Author")
    for author in Author.objects.all():
        author.name = author.name.upper()
        author.save()


async def aforwards(apps, schema_editor):
    Author = apps.get_model("mig_shop", "Author")
    async for author in Author.objects.all():
        author.name = author.name + "!"
        await author.asave()


def backwards(apps, schema_editor):
    Author = apps.get_model("mig_shop", "Author")
    Author.objects.update(name="reset")


class Migration(migrations.Migration):
    dependencies = [("mig_shop", "0001_initial")]
    operations = [migrations.RunPython({code}, backwards)]
"""


@pytest.mark.parametrize("code", ["forwards", "aforwards"])
async def test_run_python_sync_and_async_on_both_executors(project: Any, code: str) -> None:
    _setup_initial(project)
    project.write_migration("mig_shop", "0002_data", RUN_PYTHON.replace("{code}", code))
    expected = "ADA" if code == "forwards" else "ada!"

    # The sync executor (an async RunPython runs through the async executor).
    await project.acall("migrate", "mig_shop", "0001")
    conn = connections["default"]
    conn.execute("INSERT INTO mig_shop_author (name) VALUES ('ada')")
    if code == "aforwards":
        # From async code, the sync path refuses to start a second event loop.
        with pytest.raises(CommandError):
            project.migrate()
        await project.acall("migrate")
    else:
        await project.acall("migrate")  # async executor, sync code: run in a worker thread
    assert conn.fetchall("SELECT name FROM mig_shop_author") == [(expected,)]
    await project.acall("migrate", "mig_shop", "0001")
    assert conn.fetchall("SELECT name FROM mig_shop_author") == [("reset",)]
    assert project.applied() == {("mig_shop", "0001_initial")}


def test_sync_migrate_runs_async_run_python(project: Any) -> None:
    _setup_initial(project)
    project.write_migration("mig_shop", "0002_data", RUN_PYTHON.replace("{code}", "aforwards"))
    project.migrate("mig_shop", "0001")
    conn = connections["default"]
    conn.execute("INSERT INTO mig_shop_author (name) VALUES ('ada')")
    project.migrate()
    assert conn.fetchall("SELECT name FROM mig_shop_author") == [("ada!",)]


async def test_amigrate_round_trip(project: Any) -> None:
    _setup_initial(project)
    project.write_migration(
        "mig_shop",
        "0002_age",
        """
        import dorm
        from dorm import migrations


        class Migration(migrations.Migration):
            dependencies = [("mig_shop", "0001_initial")]
            operations = [
                migrations.AddField("author", "age", dorm.IntegerField(default=7)),
                migrations.AddIndex("author", dorm.Index(fields=["age"], name="mig_age_idx")),
            ]
        """,
    )
    executor = MigrationExecutor()
    plan = await executor.amigrate()
    assert [str(m) for m, _ in plan] == ["mig_shop.0001_initial", "mig_shop.0002_age"]
    assert await executor.aapplied_migrations() == {
        ("mig_shop", "0001_initial"),
        ("mig_shop", "0002_age"),
    }
    assert "age" in _columns("mig_shop_author")
    await executor.amigrate([("mig_shop", None)])
    assert project.app_tables() == set()
    await dorm.acall_command("migrate", stdout=project.output)
    assert "mig_shop_author" in project.app_tables()
    await project.acall("showmigrations")
    assert "[X] 0002_age" in project.output.getvalue()


class OnlyShopOnOther:
    """Routes mig_shop's tables to 'other' and everything else to 'default'."""

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool | None:
        if app_label == "mig_shop":
            return db == "other"
        return db == "default"


def test_database_option_honours_routers(project: Any, tmp_path: Any) -> None:
    if not project.db.is_sqlite:
        pytest.skip("a second database is only set up for SQLite here")
    project.configure(
        DATABASES={
            "default": project.db.settings,
            "other": {"ENGINE": "sqlite", "NAME": str(tmp_path / "other.sqlite3")},
        },
        DATABASE_ROUTERS=[OnlyShopOnOther()],
    )
    project.write_models("mig_crm", "class Client(dorm.Model):\n    name = dorm.TextField()\n")
    project.write_models("mig_shop", AUTHOR_MODELS)
    project.makemigrations()
    project.migrate(database="other")
    assert project.app_tables("other") == {"mig_shop_author"}
    project.migrate()
    assert project.app_tables("default") == {"mig_crm_client"}
    # Both databases record every migration (as Django does).
    assert project.applied("other") == project.applied("default")
    project.migrate("mig_shop", "zero", database="other")
    assert project.app_tables("other") == set()
    with pytest.raises(CommandError, match="Unknown database alias 'nope'"):
        project.migrate(database="nope")
    project.migrate("mig_crm", "zero")
    connections["other"].close()


def test_sqlite_rebuild_inside_atomic_is_refused(project: Any) -> None:
    if not project.db.is_sqlite:
        pytest.skip("SQLite's table rebuild")
    from dorm import transaction

    _setup_initial(project)
    project.write_migration(
        "mig_shop",
        "0002_alter",
        """
        import dorm
        from dorm import migrations


        class Migration(migrations.Migration):
            dependencies = [("mig_shop", "0001_initial")]
            operations = [migrations.AlterField("author", "name", dorm.TextField())]
        """,
    )
    project.migrate("mig_shop", "0001")
    with pytest.raises(CommandError, match=r"inside an atomic\(\) block"), transaction.atomic():
        project.migrate()
    assert project.applied() == {("mig_shop", "0001_initial")}
    project.migrate()
    assert project.applied() == {("mig_shop", "0001_initial"), ("mig_shop", "0002_alter")}


async def test_async_schema_editor_runs_every_change(project: Any) -> None:
    from dorm.db import async_connections
    from dorm.migrations import ModelState, ProjectState

    state = ProjectState()
    state.add_model(
        ModelState(
            "mig_shop",
            "Thing",
            [("id", dorm.BigAutoField(primary_key=True)), ("name", dorm.TextField())],
        )
    )
    Thing = state.apps.get_model("mig_shop", "Thing")
    after = state.clone()
    after.add_field("mig_shop", "Thing", "size", dorm.IntegerField(default=3))
    New = after.apps.get_model("mig_shop", "Thing")
    async with async_connections["default"].schema_editor() as editor:
        await editor.create_model(Thing)
        await editor.add_field(Thing, New._meta.get_field("size"))
        await editor.add_index(New, dorm.Index(fields=["size"], name="mig_thing_size"))
    assert "size" in _columns("mig_shop_thing")
    async with async_connections["default"].schema_editor() as editor:
        await editor.delete_model(New)
    assert "mig_shop_thing" not in project.app_tables()
