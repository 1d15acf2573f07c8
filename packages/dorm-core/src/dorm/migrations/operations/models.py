"""Operations on whole models: create, delete, rename, table, options, indexes, constraints."""

from __future__ import annotations

import copy
from typing import Any

from dorm.migrations.exceptions import MigrationError
from dorm.migrations.operations.base import Operation
from dorm.migrations.state import ALTER_OPTION_KEYS, ModelState


def _auto_through(field: Any) -> Any:
    through = field.remote_field.through
    if through is not None and not isinstance(through, str) and through._meta.auto_created:
        return through
    return None


class ModelOperation(Operation):
    def __init__(self, name: str) -> None:
        self.name = name

    @property
    def name_lower(self) -> str:
        return self.name.lower()


class CreateModel(ModelOperation):
    """Create a model's table (with its indexes, constraints and M2M tables)."""

    def __init__(
        self,
        name: str,
        fields: list[tuple[str, Any]],
        options: dict[str, Any] | None = None,
        bases: Any = None,
        managers: Any = None,
    ) -> None:
        super().__init__(name)
        self.fields = list(fields)
        self.options = dict(options or {})
        names = [n for n, _ in self.fields]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise MigrationError(f"CreateModel({name!r}) has duplicate fields: {duplicates}.")

    def state_forwards(self, app_label: str, state: Any) -> None:
        state.add_model(
            ModelState(
                app_label,
                self.name,
                [(n, f.clone()) for n, f in self.fields],
                copy.deepcopy(self.options),
            )
        )

    def database_forwards(
        self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any
    ) -> None:
        model = to_state.apps.get_model(app_label, self.name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            schema_editor.create_model(model)

    def database_backwards(
        self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any
    ) -> None:
        model = from_state.apps.get_model(app_label, self.name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            schema_editor.delete_model(model)

    def describe(self) -> str:
        return f"Create model {self.name}"

    @property
    def migration_name_fragment(self) -> str:
        return self.name_lower


class DeleteModel(ModelOperation):
    """Drop a model's table (and its auto-created M2M tables)."""

    def state_forwards(self, app_label: str, state: Any) -> None:
        state.remove_model(app_label, self.name)

    def database_forwards(
        self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any
    ) -> None:
        model = from_state.apps.get_model(app_label, self.name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            schema_editor.delete_model(model)

    def database_backwards(
        self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any
    ) -> None:
        model = to_state.apps.get_model(app_label, self.name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            schema_editor.create_model(model)

    def describe(self) -> str:
        return f"Delete model {self.name}"

    @property
    def migration_name_fragment(self) -> str:
        return f"delete_{self.name_lower}"


class RenameModel(Operation):
    """Rename a model: its table (unless ``db_table`` is explicit), its M2M tables and the
    M2M columns named after it; references in other models follow."""

    def __init__(self, old_name: str, new_name: str) -> None:
        self.old_name = old_name
        self.new_name = new_name

    def state_forwards(self, app_label: str, state: Any) -> None:
        state.rename_model(app_label, self.old_name, self.new_name)

    def _rename(
        self,
        app_label: str,
        schema_editor: Any,
        from_state: Any,
        to_state: Any,
        old_name: str,
        new_name: str,
    ) -> None:
        old_model = from_state.apps.get_model(app_label, old_name)
        new_model = to_state.apps.get_model(app_label, new_name)
        if not self.allow_migrate_model(schema_editor.connection.alias, new_model):
            return
        schema_editor.alter_db_table(new_model, old_model._meta.db_table, new_model._meta.db_table)
        # Auto-created M2M tables of (or pointing at) the model: their table and column
        # names derive from the model's.
        for model in to_state.apps.get_models():
            for field in model._meta.local_many_to_many:
                new_through = _auto_through(field)
                if new_through is None:
                    continue
                declared_here = model is new_model
                if not declared_here and field.remote_field.model is not new_model:
                    continue
                owner = (
                    old_model
                    if declared_here
                    else from_state.apps.get_model(model._meta.app_label, model._meta.model_name)
                )
                old_through = _auto_through(owner._meta.get_field(field.name))
                old_fields = [f for f in old_through._meta.local_fields if f.is_relation]
                new_fields = [f for f in new_through._meta.local_fields if f.is_relation]
                for old_f, new_f in zip(old_fields, new_fields, strict=True):
                    if old_f.column != new_f.column:
                        schema_editor.alter_field(old_through, old_f, new_f)
                schema_editor.alter_db_table(
                    new_through, old_through._meta.db_table, new_through._meta.db_table
                )

    def database_forwards(
        self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any
    ) -> None:
        self._rename(app_label, schema_editor, from_state, to_state, self.old_name, self.new_name)

    def database_backwards(
        self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any
    ) -> None:
        self._rename(app_label, schema_editor, from_state, to_state, self.new_name, self.old_name)

    def describe(self) -> str:
        return f"Rename model {self.old_name} to {self.new_name}"

    @property
    def migration_name_fragment(self) -> str:
        return f"rename_{self.old_name.lower()}_{self.new_name.lower()}"


class AlterModelTable(ModelOperation):
    """Rename a model's table (``Meta.db_table``); ``table=None`` goes back to the default."""

    def __init__(self, name: str, table: str | None) -> None:
        super().__init__(name)
        self.table = table

    def state_forwards(self, app_label: str, state: Any) -> None:
        state.alter_options(app_label, self.name, db_table=self.table)

    def database_forwards(
        self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any
    ) -> None:
        old_model = from_state.apps.get_model(app_label, self.name)
        new_model = to_state.apps.get_model(app_label, self.name)
        if not self.allow_migrate_model(schema_editor.connection.alias, new_model):
            return
        schema_editor.alter_db_table(new_model, old_model._meta.db_table, new_model._meta.db_table)
        for old_field, new_field in zip(
            old_model._meta.local_many_to_many, new_model._meta.local_many_to_many, strict=False
        ):
            old_through, new_through = _auto_through(old_field), _auto_through(new_field)
            if old_through is not None and new_through is not None:
                schema_editor.alter_db_table(
                    new_through, old_through._meta.db_table, new_through._meta.db_table
                )

    def database_backwards(
        self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any
    ) -> None:
        self.database_forwards(app_label, schema_editor, from_state, to_state)

    def describe(self) -> str:
        return f"Rename table for {self.name} to {self.table or '(default)'}"

    @property
    def migration_name_fragment(self) -> str:
        return f"alter_{self.name_lower}_table"


class AlterModelOptions(ModelOperation):
    """Change options that only affect Python (ordering, verbose names, ...); no SQL."""

    reduces_to_sql = False

    def __init__(self, name: str, options: dict[str, Any]) -> None:
        super().__init__(name)
        self.options = dict(options)

    def state_forwards(self, app_label: str, state: Any) -> None:
        changes: dict[str, Any] = {key: None for key in ALTER_OPTION_KEYS}
        changes.update(self.options)
        state.alter_options(app_label, self.name, **changes)

    def database_forwards(
        self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any
    ) -> None:
        pass

    def database_backwards(
        self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any
    ) -> None:
        pass

    def describe(self) -> str:
        return f"Change Meta options on {self.name}"

    @property
    def migration_name_fragment(self) -> str:
        return f"alter_{self.name_lower}_options"


class AlterUniqueTogether(ModelOperation):
    """Set ``Meta.unique_together`` (the whole new value)."""

    def __init__(self, name: str, unique_together: Any) -> None:
        super().__init__(name)
        value = list(unique_together or [])
        if value and isinstance(value[0], str):
            value = [tuple(value)]
        self.unique_together = [tuple(u) for u in value]

    def state_forwards(self, app_label: str, state: Any) -> None:
        state.alter_options(app_label, self.name, unique_together=self.unique_together)

    def database_forwards(
        self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any
    ) -> None:
        old_model = from_state.apps.get_model(app_label, self.name)
        new_model = to_state.apps.get_model(app_label, self.name)
        if self.allow_migrate_model(schema_editor.connection.alias, new_model):
            schema_editor.alter_unique_together(
                new_model, old_model._meta.unique_together, new_model._meta.unique_together
            )

    def database_backwards(
        self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any
    ) -> None:
        self.database_forwards(app_label, schema_editor, from_state, to_state)

    def describe(self) -> str:
        n = len(self.unique_together)
        return f"Alter unique_together for {self.name} ({n} constraint{'s' if n != 1 else ''})"

    @property
    def migration_name_fragment(self) -> str:
        return f"alter_{self.name_lower}_unique_together"


class IndexOperation(Operation):
    def __init__(self, model_name: str) -> None:
        self.model_name = model_name

    @property
    def model_name_lower(self) -> str:
        return self.model_name.lower()


class AddIndex(IndexOperation):
    """Create a ``Meta.indexes`` entry (the index must have a name)."""

    def __init__(self, model_name: str, index: Any) -> None:
        super().__init__(model_name)
        if not index.name:
            raise MigrationError(
                f"AddIndex on {model_name} needs a named index ({index!r}): give it name=."
            )
        self.index = index

    def state_forwards(self, app_label: str, state: Any) -> None:
        state.add_index(app_label, self.model_name, self.index)

    def database_forwards(
        self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any
    ) -> None:
        model = to_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            schema_editor.add_index(model, self.index)

    def database_backwards(
        self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any
    ) -> None:
        model = from_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            schema_editor.remove_index(model, self.index)

    def describe(self) -> str:
        return (
            f"Create index {self.index.name} on field(s) {', '.join(self.index.fields)} of "
            f"model {self.model_name}"
        )

    @property
    def migration_name_fragment(self) -> str:
        return f"{self.model_name_lower}_{self.index.name.lower()}"


class RemoveIndex(IndexOperation):
    """Drop the ``Meta.indexes`` entry called ``name``."""

    def __init__(self, model_name: str, name: str) -> None:
        super().__init__(model_name)
        self.name = name

    def _index(self, state: Any, app_label: str) -> Any:
        model_state = state.get_model_state(app_label, self.model_name)
        for index in model_state.options["indexes"]:
            if index.name == self.name:
                return index
        raise MigrationError(f"{model_state.label} has no index named {self.name!r}.")

    def state_forwards(self, app_label: str, state: Any) -> None:
        self._index(state, app_label)
        state.remove_index(app_label, self.model_name, self.name)

    def database_forwards(
        self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any
    ) -> None:
        model = from_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            schema_editor.remove_index(model, self._index(from_state, app_label))

    def database_backwards(
        self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any
    ) -> None:
        model = to_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            schema_editor.add_index(model, self._index(to_state, app_label))

    def describe(self) -> str:
        return f"Remove index {self.name} from {self.model_name}"

    @property
    def migration_name_fragment(self) -> str:
        return f"remove_{self.model_name_lower}_{self.name.lower()}"


class AddConstraint(IndexOperation):
    """Add a ``Meta.constraints`` entry (``UniqueConstraint`` / ``CheckConstraint``)."""

    def __init__(self, model_name: str, constraint: Any) -> None:
        super().__init__(model_name)
        self.constraint = constraint

    def state_forwards(self, app_label: str, state: Any) -> None:
        state.add_constraint(app_label, self.model_name, self.constraint)

    def database_forwards(
        self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any
    ) -> None:
        model = to_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            schema_editor.add_constraint(model, self.constraint)

    def database_backwards(
        self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any
    ) -> None:
        model = from_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            schema_editor.remove_constraint(model, self.constraint)

    def describe(self) -> str:
        return f"Create constraint {self.constraint.name} on model {self.model_name}"

    @property
    def migration_name_fragment(self) -> str:
        return f"{self.model_name_lower}_{self.constraint.name.lower()}"


class RemoveConstraint(IndexOperation):
    """Drop the ``Meta.constraints`` entry called ``name``."""

    def __init__(self, model_name: str, name: str) -> None:
        super().__init__(model_name)
        self.name = name

    def _constraint(self, state: Any, app_label: str) -> Any:
        model_state = state.get_model_state(app_label, self.model_name)
        for constraint in model_state.options["constraints"]:
            if constraint.name == self.name:
                return constraint
        raise MigrationError(f"{model_state.label} has no constraint named {self.name!r}.")

    def state_forwards(self, app_label: str, state: Any) -> None:
        self._constraint(state, app_label)
        state.remove_constraint(app_label, self.model_name, self.name)

    def database_forwards(
        self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any
    ) -> None:
        model = from_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            schema_editor.remove_constraint(model, self._constraint(from_state, app_label))

    def database_backwards(
        self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any
    ) -> None:
        model = to_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            schema_editor.add_constraint(model, self._constraint(to_state, app_label))

    def describe(self) -> str:
        return f"Remove constraint {self.name} from model {self.model_name}"

    @property
    def migration_name_fragment(self) -> str:
        return f"remove_{self.model_name_lower}_{self.name.lower()}"
