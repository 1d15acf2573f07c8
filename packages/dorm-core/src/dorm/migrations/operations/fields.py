"""Operations on one field: add, remove, alter, rename."""

from __future__ import annotations

from typing import Any

from dorm.migrations.operations.base import Operation
from dorm.utils import NOT_PROVIDED


class FieldOperation(Operation):
    def __init__(self, model_name: str, name: str, field: Any = None) -> None:
        self.model_name = model_name
        self.name = name
        self.field = field

    @property
    def model_name_lower(self) -> str:
        return self.model_name.lower()

    @property
    def name_lower(self) -> str:
        return self.name.lower()


class AddField(FieldOperation):
    """Add a column (or an M2M table).

    ``preserve_default=False``: ``field``'s default only fills the existing rows and is not
    kept in the state (a one-off default).
    """

    def __init__(
        self, model_name: str, name: str, field: Any, preserve_default: bool = True
    ) -> None:
        super().__init__(model_name, name, field)
        self.preserve_default = preserve_default

    def state_forwards(self, app_label: str, state: Any) -> None:
        field = self.field.clone()
        if not self.preserve_default:
            field.default = NOT_PROVIDED
        state.add_field(app_label, self.model_name, self.name, field)

    def database_forwards(
        self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any
    ) -> None:
        to_model = to_state.apps.get_model(app_label, self.model_name)
        if not self.allow_migrate_model(schema_editor.connection.alias, to_model):
            return
        from_model = from_state.apps.get_model(app_label, self.model_name)
        field = to_model._meta.get_field(self.name)
        if not self.preserve_default:
            field.default = self.field.default
        try:
            schema_editor.add_field(from_model, field)
        finally:
            if not self.preserve_default:
                field.default = NOT_PROVIDED

    def database_backwards(
        self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any
    ) -> None:
        from_model = from_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, from_model):
            schema_editor.remove_field(from_model, from_model._meta.get_field(self.name))

    def describe(self) -> str:
        return f"Add field {self.name} to {self.model_name}"

    @property
    def migration_name_fragment(self) -> str:
        return f"{self.model_name_lower}_{self.name_lower}"


class RemoveField(FieldOperation):
    """Drop a column (or an M2M table); reversed from the field of the earlier state."""

    def __init__(self, model_name: str, name: str) -> None:
        super().__init__(model_name, name)

    def state_forwards(self, app_label: str, state: Any) -> None:
        state.remove_field(app_label, self.model_name, self.name)

    def database_forwards(
        self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any
    ) -> None:
        from_model = from_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, from_model):
            schema_editor.remove_field(from_model, from_model._meta.get_field(self.name))

    def database_backwards(
        self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any
    ) -> None:
        to_model = to_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, to_model):
            from_model = from_state.apps.get_model(app_label, self.model_name)
            schema_editor.add_field(from_model, to_model._meta.get_field(self.name))

    def describe(self) -> str:
        return f"Remove field {self.name} from {self.model_name}"

    @property
    def migration_name_fragment(self) -> str:
        return f"remove_{self.model_name_lower}_{self.name_lower}"


class AlterField(FieldOperation):
    """Change a field's definition (type, null, default, unique, index, foreign key...)."""

    def __init__(
        self, model_name: str, name: str, field: Any, preserve_default: bool = True
    ) -> None:
        super().__init__(model_name, name, field)
        self.preserve_default = preserve_default

    def state_forwards(self, app_label: str, state: Any) -> None:
        field = self.field.clone()
        if not self.preserve_default:
            field.default = NOT_PROVIDED
        state.alter_field(app_label, self.model_name, self.name, field)

    def _alter(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        to_model = to_state.apps.get_model(app_label, self.model_name)
        if not self.allow_migrate_model(schema_editor.connection.alias, to_model):
            return
        from_model = from_state.apps.get_model(app_label, self.model_name)
        from_field = from_model._meta.get_field(self.name)
        to_field = to_model._meta.get_field(self.name)
        if not self.preserve_default:
            to_field.default = self.field.default
        try:
            schema_editor.alter_field(from_model, from_field, to_field)
        finally:
            if not self.preserve_default:
                to_field.default = NOT_PROVIDED

    def database_forwards(
        self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any
    ) -> None:
        self._alter(app_label, schema_editor, from_state, to_state)

    def database_backwards(
        self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any
    ) -> None:
        self._alter(app_label, schema_editor, from_state, to_state)

    def describe(self) -> str:
        return f"Alter field {self.name} on {self.model_name}"

    @property
    def migration_name_fragment(self) -> str:
        return f"alter_{self.model_name_lower}_{self.name_lower}"


class RenameField(FieldOperation):
    """Rename a field (and its column, unless ``db_column`` pins it); data is kept."""

    def __init__(self, model_name: str, old_name: str, new_name: str) -> None:
        super().__init__(model_name, old_name)
        self.old_name = old_name
        self.new_name = new_name

    def state_forwards(self, app_label: str, state: Any) -> None:
        state.rename_field(app_label, self.model_name, self.old_name, self.new_name)

    def _rename(
        self,
        app_label: str,
        schema_editor: Any,
        from_state: Any,
        to_state: Any,
        old_name: str,
        new_name: str,
    ) -> None:
        to_model = to_state.apps.get_model(app_label, self.model_name)
        if not self.allow_migrate_model(schema_editor.connection.alias, to_model):
            return
        from_model = from_state.apps.get_model(app_label, self.model_name)
        schema_editor.alter_field(
            from_model, from_model._meta.get_field(old_name), to_model._meta.get_field(new_name)
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
        return f"Rename field {self.old_name} on {self.model_name} to {self.new_name}"

    @property
    def migration_name_fragment(self) -> str:
        return f"rename_{self.old_name.lower()}_{self.model_name_lower}_{self.new_name.lower()}"
