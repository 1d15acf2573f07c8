"""What makemigrations detects, and the order and dependencies it writes."""

from __future__ import annotations

from typing import Any

import pytest

from dorm.apps import apps
from dorm.cli import CommandError
from dorm.migrations import MigrationLoader, ProjectState
from dorm.migrations.autodetector import MigrationAutodetector, NonNullableFieldError


def detect(project: Any, trim: list[str] | None = None, **sources: str) -> dict[str, Any]:
    """Write the models, then the migrations makemigrations would write (not written)."""
    for app, source in sources.items():
        project.write_models(app, source)
    loader = MigrationLoader()
    to_state = ProjectState.from_apps(apps, project.app_labels)
    detector = MigrationAutodetector(loader.project_state(), to_state)
    return {
        app: migrations[0]
        for app, migrations in detector.changes(loader.graph, trim_to_apps=trim).items()
    }


def kinds(migration: Any) -> list[str]:
    return [type(op).__name__ for op in migration.operations]


def commit(project: Any, **sources: str) -> None:
    for app, source in sources.items():
        project.write_models(app, source)
    project.makemigrations()
    project.migrate()


def test_ambiguous_field_renames_are_remove_and_add(project: Any) -> None:
    commit(
        project,
        mig_shop="class Item(dorm.Model):\n    a = dorm.IntegerField(null=True)\n"
        "    b = dorm.IntegerField(null=True)\n",
    )
    changes = detect(
        project,
        mig_shop="class Item(dorm.Model):\n"
        "    c = dorm.IntegerField(null=True)\n    d = dorm.IntegerField(null=True)\n",
    )
    assert kinds(changes["mig_shop"]) == ["RemoveField", "RemoveField", "AddField", "AddField"]
    # One removed and one added with the same definition: a rename.
    changes = detect(
        project,
        mig_shop="class Item(dorm.Model):\n"
        "    a = dorm.IntegerField(null=True)\n    e = dorm.IntegerField(null=True)\n",
    )
    assert kinds(changes["mig_shop"]) == ["RenameField"]
    # Same for a model whose definition is unchanged under a new name.
    changes = detect(
        project,
        mig_shop="class Thing(dorm.Model):\n"
        "    a = dorm.IntegerField(null=True)\n    b = dorm.IntegerField(null=True)\n",
    )
    assert kinds(changes["mig_shop"]) == ["RenameModel"]
    assert changes["mig_shop"].name == "0002_rename_item_thing"


def test_new_models_are_ordered_and_fk_cycles_deferred(project: Any) -> None:
    source = """
class Book(dorm.Model):
    author = dorm.ForeignKey("Author", on_delete=dorm.CASCADE)
    shelf = dorm.ForeignKey("Shelf", null=True, on_delete=dorm.SET_NULL)


class Author(dorm.Model):
    favourite = dorm.ForeignKey("Book", null=True, on_delete=dorm.SET_NULL, related_name="+")


class Shelf(dorm.Model):
    name = dorm.CharField(max_length=10)

    class Meta:
        unique_together = [("name",)]
"""
    changes = detect(project, mig_shop=source)
    migration = changes["mig_shop"]
    ops = migration.operations
    created = [op.name for op in ops if type(op).__name__ == "CreateModel"]
    assert created.index("Shelf") < created.index("Book")
    assert kinds(migration)[-1] == "AddField"  # the FK that closes the cycle
    assert migration.initial and migration.name == "0001_initial"
    commit(project, mig_shop=source)
    project.assert_no_changes()
    assert {"mig_shop_book", "mig_shop_author", "mig_shop_shelf"} <= project.app_tables()


def test_cross_app_dependencies(project: Any) -> None:
    commit(project, mig_crm="class Client(dorm.Model):\n    name = dorm.TextField()\n")
    changes = detect(
        project,
        trim=["mig_shop"],
        mig_crm="class Client(dorm.Model):\n    name = dorm.TextField()\n\n\n"
        "class Region(dorm.Model):\n    name = dorm.TextField()\n",
        mig_shop="class Sale(dorm.Model):\n"
        '    client = dorm.ForeignKey("mig_crm.Client", on_delete=dorm.PROTECT)\n'
        '    region = dorm.ForeignKey("mig_crm.Region", on_delete=dorm.PROTECT)\n',
    )
    # Asked for mig_shop only, but it needs crm's new model: crm's migration comes too.
    assert set(changes) == {"mig_crm", "mig_shop"}
    assert changes["mig_shop"].dependencies == [("mig_crm", "0002_region")]
    assert changes["mig_crm"].dependencies == [("mig_crm", "0001_initial")]


def test_not_null_field_without_default_is_refused(project: Any) -> None:
    commit(project, mig_shop="class Item(dorm.Model):\n    a = dorm.IntegerField()\n")
    with pytest.raises(NonNullableFieldError, match=r"mig_shop\.Item\.b"):
        detect(
            project,
            mig_shop="class Item(dorm.Model):\n    a = dorm.IntegerField()\n"
            "    b = dorm.IntegerField()\n",
        )
    with pytest.raises(CommandError) as info:
        project.makemigrations()
    assert info.value.returncode == 3
    # A blank text field gets '' (as Django), no default needed.
    changes = detect(
        project,
        mig_shop="class Item(dorm.Model):\n    a = dorm.IntegerField()\n"
        "    b = dorm.TextField(blank=True)\n",
    )
    assert kinds(changes["mig_shop"]) == ["AddField"]


def test_m2m_changes(project: Any) -> None:
    base = """
class Tag(dorm.Model):
    name = dorm.TextField()


class Color(dorm.Model):
    name = dorm.TextField()


class Post(dorm.Model):
    tags = dorm.ManyToManyField(Tag)
"""
    commit(project, mig_shop=base)
    # Another target: the join table is replaced.
    changes = detect(
        project, mig_shop=base.replace("ManyToManyField(Tag)", "ManyToManyField(Color)")
    )
    assert kinds(changes["mig_shop"]) == ["RemoveField", "AddField"]
    # An explicit through model.
    through = (
        base.replace("ManyToManyField(Tag)", 'ManyToManyField(Tag, through="Tagging")')
        + """

class Tagging(dorm.Model):
    post = dorm.ForeignKey(Post, on_delete=dorm.CASCADE)
    tag = dorm.ForeignKey(Tag, on_delete=dorm.CASCADE)
    weight = dorm.IntegerField(default=1)
"""
    )
    commit(project, mig_shop=through)
    project.assert_no_changes()
    assert "mig_shop_tagging" in project.app_tables()
    # Deleting models that point at each other.
    commit(project, mig_shop="class Color(dorm.Model):\n    name = dorm.TextField()\n")
    assert project.app_tables() == {"mig_shop_color"}


def test_unmanaged_models_are_tracked_but_not_created(project: Any) -> None:
    source = """
class Legacy(dorm.Model):
    name = dorm.TextField()

    class Meta:
        managed = False
        db_table = "legacy_things"
"""
    commit(project, mig_shop=source)
    assert "legacy_things" not in project.tables()
    project.assert_no_changes()
    text = (project.root / "mig_shop/migrations/0001_initial.py").read_text()
    assert '"managed": False' in text


def test_no_changes_and_check(project: Any) -> None:
    project.makemigrations()
    assert "No changes detected" in project.output.getvalue()
    project.write_models("mig_shop", "class Item(dorm.Model):\n    a = dorm.IntegerField()\n")
    with pytest.raises(CommandError) as info:
        project.makemigrations(check=True)
    assert info.value.returncode == 1
    assert "Create model Item" in project.output.getvalue()
    assert project.migration_files("mig_shop") == []
    project.makemigrations(dry_run=True, verbosity=3)
    assert "class Migration(migrations.Migration):" in project.output.getvalue()
    assert project.migration_files("mig_shop") == []
    project.makemigrations("mig_shop", name="first")
    assert project.migration_files("mig_shop") == ["0001_first.py"]
    project.makemigrations("mig_shop", empty=True)
    assert project.migration_files("mig_shop")[-1] == "0002_custom.py"
    project.migrate()
    project.assert_no_changes()


def test_python_only_field_changes_run_no_sql(project: Any) -> None:
    commit(project, mig_shop="class Item(dorm.Model):\n    a = dorm.IntegerField()\n")
    commit(
        project,
        mig_shop="class Item(dorm.Model):\n"
        '    a = dorm.IntegerField(help_text="A.", choices=[(1, "one")])\n',
    )
    name = project.migration_files("mig_shop")[-1][:-3]
    assert "AlterField" in (project.root / "mig_shop/migrations" / f"{name}.py").read_text()
    lines = project.call("sqlmigrate", "mig_shop", name)
    assert [line for line in lines if not line.startswith("--")] == ["BEGIN;", "COMMIT;"]
