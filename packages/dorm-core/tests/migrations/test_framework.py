"""Graph, loader, state, operations module, serializer and writer."""

from __future__ import annotations

import datetime
import decimal
import sys
import types
import uuid
from importlib.metadata import EntryPoint
from typing import Any

import pytest

import dorm
from dorm.apps import Apps, apps
from dorm.cli import CommandError
from dorm.migrations import (
    BadMigrationError,
    CircularDependencyError,
    ConflictError,
    MigrationLoader,
    ModelState,
    NodeNotFoundError,
    ProjectState,
    operations,
)
from dorm.migrations.migration import Migration
from dorm.migrations.serializer import serialize
from dorm.migrations.writer import MigrationWriter, format_source


def empty_migration(deps: list[tuple[str, str]] | None = None) -> str:
    return (
        "from dorm import migrations\n\n\nclass Migration(migrations.Migration):\n"
        f"    dependencies = {deps or []!r}\n"
    )


# Graph and loader ---------------------------------------------------------------------------


def test_missing_dependency_cycle_and_bad_files(project: Any) -> None:
    project.write_migration("mig_shop", "0001_initial", empty_migration())
    project.write_migration("mig_shop", "0002_next", empty_migration([("mig_crm", "0001_x")]))
    with pytest.raises(NodeNotFoundError, match=r"mig_shop\.0002_next depends on mig_crm\.0001_x"):
        MigrationLoader()
    with pytest.raises(CommandError, match="0001_x"):
        project.migrate()

    project.write_migration("mig_crm", "0001_x", empty_migration([("mig_shop", "0002_next")]))
    with pytest.raises(CircularDependencyError, match=r"mig_crm\.0001_x -> mig_shop\.0002_next"):
        MigrationLoader()

    project.write_migration("mig_crm", "0001_x", "x = 1\n")
    with pytest.raises(BadMigrationError, match="no Migration class"):
        MigrationLoader()
    project.write_migration("mig_crm", "0001_x", "class Migration(:\n")
    with pytest.raises(BadMigrationError, match="could not be imported"):
        MigrationLoader()


def test_conflicts_and_merge(project: Any) -> None:
    project.write_migration("mig_shop", "0001_initial", empty_migration())
    project.write_migration("mig_shop", "0002_a", empty_migration([("mig_shop", "0001_initial")]))
    project.write_migration("mig_shop", "0002_b", empty_migration([("mig_shop", "0001_initial")]))
    loader = MigrationLoader()
    assert loader.detect_conflicts() == {"mig_shop": ["0002_a", "0002_b"]}
    with pytest.raises(ConflictError, match="makemigrations --merge"):
        loader.check_conflicts()
    with pytest.raises(CommandError, match="Conflicting migrations"):
        project.migrate()
    with pytest.raises(CommandError, match="Conflicting migrations"):
        project.makemigrations()
    project.makemigrations(merge=True)
    assert project.migration_files("mig_shop")[-1] == "0003_merge_0002_0002.py"
    assert MigrationLoader().detect_conflicts() == {}
    project.migrate()
    assert len(project.applied()) == 4
    project.makemigrations(merge=True)
    assert "No conflicts detected" in project.output.getvalue()


def test_prefix_lookup(project: Any) -> None:
    project.write_migration("mig_shop", "0001_initial", empty_migration())
    project.write_migration("mig_shop", "0002_a", empty_migration([("mig_shop", "0001_initial")]))
    project.write_migration("mig_shop", "0003_b", empty_migration([("mig_shop", "0002_a")]))
    loader = MigrationLoader()
    assert loader.get_migration_by_prefix("mig_shop", "0002").name == "0002_a"
    with pytest.raises(dorm.migrations.AmbiguityError, match="0002_a, 0003_b"):
        loader.get_migration_by_prefix("mig_shop", "000")
    with pytest.raises(NodeNotFoundError, match="its migrations: 0001_initial, 0002_a, 0003_b"):
        loader.get_migration_by_prefix("mig_shop", "9")
    graph = loader.graph
    assert graph.forwards_plan(("mig_shop", "0003_b"))[0] == ("mig_shop", "0001_initial")
    assert graph.backwards_plan(("mig_shop", "0001_initial"))[0] == ("mig_shop", "0003_b")


# State ------------------------------------------------------------------------------------


def test_state_renders_into_its_own_registry() -> None:
    before = {label: dict(models) for label, models in apps.all_models.items()}
    state = ProjectState()
    state.add_model(
        ModelState(
            "mig_state",
            "Author",
            [("id", dorm.BigAutoField(primary_key=True)), ("name", dorm.TextField())],
        )
    )
    state.add_model(
        ModelState(
            "mig_state",
            "Book",
            [
                ("id", dorm.BigAutoField(primary_key=True)),
                ("author", dorm.ForeignKey("mig_state.Author", on_delete=dorm.CASCADE)),
                ("readers", dorm.ManyToManyField("mig_state.Author", related_name="read")),
            ],
        )
    )
    Book = state.apps.get_model("mig_state", "Book")
    Author = state.apps.get_model("mig_state", "author")
    assert Book._meta.apps is state.apps and Author._meta.apps is state.apps
    assert Book._meta.get_field("author").related_model is Author
    through = Book._meta.get_field("readers").remote_field.through
    assert through._meta.apps is state.apps and through._meta.db_table == "mig_state_book_readers"
    # Nothing leaked into the project's registry.
    assert {label: dict(models) for label, models in apps.all_models.items()} == before
    # The default stays the global registry.

    class Plain(dorm.Model):
        class Meta:
            app_label = "mig_state_plain"

    assert Plain._meta.apps is apps
    apps.all_models.pop("mig_state_plain")

    own = Apps()

    class Private(dorm.Model):
        class Meta:
            app_label = "mig_state_private"
            apps = own

    assert own.get_model("mig_state_private", "Private") is Private
    assert "mig_state_private" not in apps.all_models

    broken = ProjectState()
    broken.add_model(
        ModelState(
            "mig_state",
            "Orphan",
            [
                ("id", dorm.BigAutoField(primary_key=True)),
                ("x", dorm.ForeignKey("mig_nowhere.Thing", on_delete=dorm.CASCADE)),
            ],
        )
    )
    with pytest.raises(dorm.migrations.MigrationError, match=r"mig_nowhere\.thing"):
        broken.apps  # noqa: B018


# Operations module ------------------------------------------------------------------------


def test_plugin_operations_resolve_lazily(monkeypatch: pytest.MonkeyPatch) -> None:
    module = types.ModuleType("mig_plugin_ops")

    class CreateThing(operations.Operation):
        def __init__(self, name: str) -> None:
            self.name = name

    CreateThing.__module__ = module.__name__
    CreateThing.__qualname__ = "CreateThing"
    module.CreateThing = CreateThing  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, module.__name__, module)
    group = operations.ENTRY_POINT_GROUP
    ep = EntryPoint("CreateThing", "mig_plugin_ops:CreateThing", group)
    real = operations.entry_points

    def fake_entry_points(**kwargs: Any) -> Any:
        if kwargs.get("group") == group:
            return [ep]
        return real(**kwargs)

    monkeypatch.setattr(operations, "entry_points", fake_entry_points)
    monkeypatch.setattr(operations, "_plugins", {})
    from dorm.migrations.operations import CreateThing as imported  # type: ignore[attr-defined]

    assert imported is CreateThing
    assert dorm.migrations.CreateThing is CreateThing  # type: ignore[attr-defined]
    # The writer refers to it through the operations module.
    migration = type("Migration", (Migration,), {"operations": [CreateThing("x")]})("0001_a", "a")
    assert "migrations.CreateThing(" in MigrationWriter(migration).as_string()


def test_unknown_operations_name_their_distribution() -> None:
    if "CreateMaterializedView" in operations.plugin_operations():
        pytest.skip("dorm-postgres is installed")
    with pytest.raises(
        ImportError, match=r"'dorm-postgres' distribution.*pip install dorm-postgres"
    ):
        from dorm.migrations.operations import CreateMaterializedView  # noqa: F401
    with pytest.raises(ImportError, match="dorm-postgres"):
        operations.DetachPartition  # noqa: B018
    with pytest.raises(AttributeError, match=r"no operation 'Nope'.*CreateModel"):
        operations.Nope  # noqa: B018
    assert not hasattr(operations, "Nope")


# Serializer and writer -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        None,
        True,
        3,
        1.5,
        float("inf"),
        "text",
        b"raw",
        decimal.Decimal("1.10"),
        datetime.date(2024, 1, 2),
        datetime.datetime(2024, 1, 2, 3, 4, tzinfo=datetime.UTC),
        datetime.timedelta(seconds=5),
        uuid.UUID("12345678123456781234567812345678"),
        [1, (2,), {"a": {3}}],
        frozenset({1}),
        uuid.uuid4,
        dorm.CASCADE,
        dorm.Q(age__gte=0) | ~dorm.Q(name="x"),
        dorm.F("name"),
        dorm.CharField(
            max_length=10, default="a", validators=[dorm.validators.MinLengthValidator(2)]
        ),
        dorm.ForeignKey("a.B", on_delete=dorm.SET(0), related_name="+"),
        dorm.Index(fields=["-a", "b"], name="i"),
        dorm.UniqueConstraint(fields=["a"], name="u", condition=dorm.Q(b=True)),
        operations.RunPython.noop,
    ],
)
def test_serializer_round_trips(value: Any) -> None:
    code, imports = serialize(value)
    namespace: dict[str, Any] = {}
    for line in imports:
        exec(line, namespace)
    rebuilt = eval(code, namespace)
    assert serialize(rebuilt)[0] == code


def test_serializer_refuses_lambdas() -> None:
    with pytest.raises(dorm.migrations.MigrationError, match="lambda"):
        serialize(lambda: 1)
    with pytest.raises(dorm.migrations.MigrationError, match="deconstruct"):
        serialize(object())


def test_writer_without_ruff_is_tidy_and_importable(monkeypatch: pytest.MonkeyPatch) -> None:
    from dorm.migrations import writer

    monkeypatch.setattr(writer, "ruff_command", lambda: None)
    migration = type(
        "Migration",
        (Migration,),
        {
            "initial": True,
            "dependencies": [("other", "0001_initial")],
            "operations": [
                operations.CreateModel(
                    name="Author",
                    fields=[
                        ("id", dorm.BigAutoField(primary_key=True)),
                        ("born", dorm.DateField(default=datetime.date(2000, 1, 1))),
                    ],
                    options={"ordering": ["-born"]},
                ),
                operations.RunSQL("SELECT 1", operations.RunSQL.noop),
            ],
        },
    )("0001_initial", "mig_writer")
    source = MigrationWriter(migration).as_string()
    assert "import datetime\nimport dorm\nfrom dorm import migrations" in source
    assert '            name="Author",\n' in source
    namespace: dict[str, Any] = {}
    exec(compile(source, "0001_initial.py", "exec"), namespace)
    loaded = namespace["Migration"]("0001_initial", "mig_writer")
    assert [type(op).__name__ for op in loaded.operations] == ["CreateModel", "RunSQL"]
    assert loaded.dependencies == [("other", "0001_initial")]
    assert format_source("x=1\n") == "x=1\n"  # no ruff: unchanged
