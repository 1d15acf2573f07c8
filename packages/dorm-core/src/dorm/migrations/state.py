"""The project state: the models as the migrations describe them, independent of the live
model classes.

A :class:`ProjectState` is a set of :class:`ModelState` (name, unbound fields, options). It
is built by running the operations' ``state_forwards`` from an empty state, or taken from
the live models (:meth:`ProjectState.from_apps`) for the autodetector. When the schema
editor or ``RunPython`` needs real classes, :attr:`ProjectState.apps` renders them into a
private :class:`StateApps` registry (``Meta.apps``), so they never replace the live models.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator
from typing import Any

from dorm.apps import Apps
from dorm.migrations.exceptions import MigrationError

#: Options a ModelState keeps (the rest of ``Meta`` has no meaning for migrations).
STATE_OPTIONS = (
    "db_table",
    "unique_together",
    "indexes",
    "constraints",
    "managed",
    "ordering",
    "get_latest_by",
    "verbose_name",
    "verbose_name_plural",
    "default_related_name",
    "base_manager_name",
    "default_manager_name",
    "db_table_comment",
    "required_db_vendor",
    "select_on_save",
)

#: Options that only describe Python behaviour (``AlterModelOptions`` changes them).
ALTER_OPTION_KEYS = (
    "base_manager_name",
    "default_manager_name",
    "default_related_name",
    "get_latest_by",
    "managed",
    "ordering",
    "select_on_save",
    "verbose_name",
    "verbose_name_plural",
    "db_table_comment",
    "required_db_vendor",
)


def _lower_label(value: str, app_label: str) -> tuple[str, str]:
    """``"shop.Author"`` / ``"Author"`` -> ``("shop", "author")``."""
    if "." in value:
        app, _, name = value.partition(".")
        return app, name.lower()
    return app_label, value.lower()


class ModelState:
    """One model as the migrations know it.

    ``fields`` maps names to *unbound* fields (never attached to a class); ``options`` holds
    the ``Meta`` options of :data:`STATE_OPTIONS` that differ from the defaults.
    """

    def __init__(
        self,
        app_label: str,
        name: str,
        fields: Iterable[tuple[str, Any]] | dict[str, Any],
        options: dict[str, Any] | None = None,
    ) -> None:
        self.app_label = app_label
        self.name = name
        self.fields: dict[str, Any] = dict(fields.items() if isinstance(fields, dict) else fields)
        self.options: dict[str, Any] = dict(options or {})
        self.options.setdefault("indexes", [])
        self.options.setdefault("constraints", [])
        if "unique_together" in self.options:
            self.options["unique_together"] = _normalize_together(self.options["unique_together"])
        for name_, field in self.fields.items():
            if getattr(field, "model", None) is not None:
                raise MigrationError(
                    f"ModelState {app_label}.{name} got the bound field {name_!r}; use "
                    "field.clone()."
                )
        for index in self.options["indexes"]:
            if not index.name:
                raise MigrationError(
                    f"Indexes of {app_label}.{name} need names in migrations ({index!r})."
                )

    @property
    def name_lower(self) -> str:
        return self.name.lower()

    @property
    def key(self) -> tuple[str, str]:
        return (self.app_label, self.name_lower)

    @property
    def label(self) -> str:
        return f"{self.app_label}.{self.name}"

    def get_field(self, name: str) -> Any:
        try:
            return self.fields[name]
        except KeyError:
            raise MigrationError(
                f"{self.label} has no field {name!r} in the migration state (fields: "
                f"{', '.join(self.fields) or 'none'})."
            ) from None

    @property
    def db_table(self) -> str:
        return str(self.options.get("db_table") or f"{self.app_label}_{self.name_lower}")

    @classmethod
    def from_model(cls, model: Any) -> ModelState:
        """The state of a live model class."""
        meta = model._meta
        fields = [(f.name, f.clone()) for f in meta.local_fields]
        fields += [(f.name, f.clone()) for f in meta.local_many_to_many]
        options: dict[str, Any] = {}
        for key in STATE_OPTIONS:
            if key in ("indexes", "constraints"):
                continue
            if key in meta.original_attrs:
                value = getattr(meta, key)
                if key == "unique_together":
                    value = _normalize_together(value)
                    if not value:
                        continue
                if key == "ordering":
                    value = list(value)
                options[key] = value
        # A verbose_name_plural derived from verbose_name is not an option of its own.
        plural = options.get("verbose_name_plural")
        if "verbose_name" in options and plural == options["verbose_name"] + "s":
            del options["verbose_name_plural"]
        options["indexes"] = [copy.deepcopy(i) for i in meta.indexes]
        options["constraints"] = [copy.deepcopy(c) for c in meta.constraints]
        return cls(meta.app_label, meta.object_name, fields, options)

    def clone(self) -> ModelState:
        return ModelState(
            self.app_label,
            self.name,
            [(n, f.clone()) for n, f in self.fields.items()],
            {
                k: (copy.deepcopy(v) if k in ("indexes", "constraints") else copy.copy(v))
                for k, v in self.options.items()
            },
        )

    def render(self, apps: Apps) -> Any:
        """A model class for this state, registered in ``apps``."""
        from dorm.models.base import Model

        meta_attrs: dict[str, Any] = {"app_label": self.app_label, "apps": apps}
        for key, value in self.options.items():
            if key in ("indexes", "constraints"):
                meta_attrs[key] = [copy.deepcopy(v) for v in value]
            else:
                meta_attrs[key] = copy.copy(value)
        meta_attrs.setdefault("db_table", self.db_table)
        body: dict[str, Any] = {
            "Meta": type("Meta", (), meta_attrs),
            "__module__": "__fake__",
            "__qualname__": self.name,
        }
        for name, field in self.fields.items():
            body[name] = field.clone()
        try:
            return type(self.name, (Model,), body)
        except Exception as exc:
            raise MigrationError(f"Cannot render {self.label} from the migrations: {exc}") from exc

    def __repr__(self) -> str:
        return f"<ModelState: {self.label}>"

    def __eq__(self, other: object) -> bool:
        from dorm.migrations.serializer import field_signature, serialize

        if not isinstance(other, ModelState):
            return NotImplemented

        def sig(model: ModelState, field: Any) -> str:
            return field_signature(field, model.app_label, model.label)

        return (
            self.key == other.key
            and self.name == other.name
            and set(self.fields) == set(other.fields)
            and all(sig(self, f) == sig(other, other.fields[n]) for n, f in self.fields.items())
            and serialize(dict(sorted(self.options.items())))[0]
            == serialize(dict(sorted(other.options.items())))[0]
        )

    __hash__ = None  # type: ignore[assignment]


def _normalize_together(value: Any) -> list[tuple[str, ...]]:
    if not value:
        return []
    value = list(value)
    if isinstance(value[0], str):
        return [tuple(value)]
    return [tuple(v) for v in value]


class StateApps(Apps):
    """A registry holding the rendered classes of one project state."""

    def __init__(self, states: Iterable[ModelState]) -> None:
        super().__init__()
        for state in states:
            state.render(self)
        pending = self.pending_operations()
        if pending:
            missing = ", ".join(f"{app}.{name}" for app, name in sorted(pending))
            raise MigrationError(
                f"The migration state refers to models it does not contain: {missing}. "
                "A migration is probably missing a dependency on the migration that creates "
                "them (or the app providing them is not in INSTALLED_APPS)."
            )


class ProjectState:
    """Every model of every app, as of some point in the migration history."""

    def __init__(self, models: dict[tuple[str, str], ModelState] | None = None) -> None:
        self.models: dict[tuple[str, str], ModelState] = dict(models or {})
        self._apps: StateApps | None = None

    # Reading -----------------------------------------------------------------------------

    @property
    def apps(self) -> StateApps:
        """The rendered model classes (cached until the state changes)."""
        if self._apps is None:
            self._apps = StateApps(self.models.values())
        return self._apps

    def get_model_state(self, app_label: str, model_name: str) -> ModelState:
        try:
            return self.models[(app_label, model_name.lower())]
        except KeyError:
            known = ", ".join(sorted(m.label for m in self.models.values())) or "none"
            raise MigrationError(
                f"No model {app_label}.{model_name} in the migration state (known: {known})."
            ) from None

    def app_models(self, app_label: str) -> Iterator[ModelState]:
        return (m for m in self.models.values() if m.app_label == app_label)

    def clone(self) -> ProjectState:
        new = ProjectState({k: m.clone() for k, m in self.models.items()})
        # Nothing mutates a rendered registry, so a clone may share it until it changes.
        new._apps = self._apps
        return new

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ProjectState):
            return NotImplemented
        return set(self.models) == set(other.models) and all(
            m == other.models[k] for k, m in self.models.items()
        )

    __hash__ = None  # type: ignore[assignment]

    # Building ----------------------------------------------------------------------------

    @classmethod
    def from_apps(cls, apps: Apps, app_labels: Iterable[str] | None = None) -> ProjectState:
        """The state of the live models of ``app_labels`` (every app when ``None``)."""
        labels = set(app_labels) if app_labels is not None else None
        models = {}
        for model in apps.get_models():
            meta = model._meta
            if meta.auto_created or meta.abstract:
                continue
            if labels is not None and meta.app_label not in labels:
                continue
            state = ModelState.from_model(model)
            models[state.key] = state
        return cls(models)

    def changed(self) -> None:
        """Forget the rendered classes (called by every mutation)."""
        self._apps = None

    def add_model(self, model_state: ModelState) -> None:
        self.models[model_state.key] = model_state
        self.changed()

    def remove_model(self, app_label: str, model_name: str) -> None:
        self.get_model_state(app_label, model_name)
        del self.models[(app_label, model_name.lower())]
        self.changed()

    def rename_model(self, app_label: str, old_name: str, new_name: str) -> None:
        state = self.get_model_state(app_label, old_name)
        old_key = state.key
        del self.models[old_key]
        explicit_table = "db_table" in state.options
        state.name = new_name
        if not explicit_table:
            state.options.pop("db_table", None)
        self.models[state.key] = state
        old_label = (app_label, old_name.lower())
        new_ref = f"{app_label}.{new_name}"
        for model in self.models.values():
            for name, field in list(model.fields.items()):
                if not getattr(field, "is_relation", False):
                    continue
                changed = False
                clone = field.clone()
                remote = clone.remote_field
                for attr in ("model", "through"):
                    value = getattr(remote, attr, None)
                    if (
                        isinstance(value, str)
                        and value != "self"
                        and _lower_label(value, model.app_label) == old_label
                    ):
                        setattr(remote, attr, new_ref)
                        changed = True
                if changed:
                    model.fields[name] = clone.clone()
        self.changed()

    def add_field(self, app_label: str, model_name: str, name: str, field: Any) -> None:
        state = self.get_model_state(app_label, model_name)
        if name in state.fields:
            raise MigrationError(f"{state.label} already has a field {name!r}.")
        state.fields[name] = field
        self.changed()

    def remove_field(self, app_label: str, model_name: str, name: str) -> None:
        state = self.get_model_state(app_label, model_name)
        state.get_field(name)
        del state.fields[name]
        self.changed()

    def alter_field(self, app_label: str, model_name: str, name: str, field: Any) -> None:
        state = self.get_model_state(app_label, model_name)
        state.get_field(name)
        state.fields[name] = field
        self.changed()

    def rename_field(self, app_label: str, model_name: str, old_name: str, new_name: str) -> None:
        state = self.get_model_state(app_label, model_name)
        state.get_field(old_name)
        if new_name in state.fields:
            raise MigrationError(f"{state.label} already has a field {new_name!r}.")
        state.fields = {(new_name if n == old_name else n): f for n, f in state.fields.items()}

        def rename(names: Iterable[str]) -> list[str]:
            out = []
            for n in names:
                prefix = "-" if n.startswith("-") else ""
                out.append(prefix + (new_name if n.lstrip("-") == old_name else n.lstrip("-")))
            return out

        if "unique_together" in state.options:
            state.options["unique_together"] = [
                tuple(rename(u)) for u in state.options["unique_together"]
            ]
        for index in state.options["indexes"]:
            index.fields = rename(index.fields)
        for constraint in state.options["constraints"]:
            if getattr(constraint, "fields", None):
                constraint.fields = tuple(rename(constraint.fields))
        # A to_field pointing at the renamed field.
        for model in self.models.values():
            for fname, field in list(model.fields.items()):
                if not getattr(field, "is_relation", False):
                    continue
                target = field.remote_field.model
                if isinstance(target, str) and target != "self":
                    target_key = _lower_label(target, model.app_label)
                elif target == "self":
                    target_key = model.key
                else:
                    continue
                if target_key == state.key and getattr(field, "to_field", None) == old_name:
                    clone = field.clone()
                    clone.to_field = new_name
                    clone.remote_field.field_name = new_name
                    model.fields[fname] = clone
        self.changed()

    def alter_options(self, app_label: str, model_name: str, **options: Any) -> None:
        """Set (value) or remove (``None`` for optional keys) model options."""
        state = self.get_model_state(app_label, model_name)
        for key, value in options.items():
            if key in ("unique_together",):
                value = _normalize_together(value)
                if not value:
                    state.options.pop(key, None)
                    continue
            if value is None:
                state.options.pop(key, None)
            else:
                state.options[key] = value
        self.changed()

    def add_index(self, app_label: str, model_name: str, index: Any) -> None:
        state = self.get_model_state(app_label, model_name)
        if any(i.name == index.name for i in state.options["indexes"]):
            raise MigrationError(f"{state.label} already has an index named {index.name!r}.")
        state.options["indexes"] = [*state.options["indexes"], copy.deepcopy(index)]
        self.changed()

    def remove_index(self, app_label: str, model_name: str, name: str) -> None:
        state = self.get_model_state(app_label, model_name)
        state.options["indexes"] = [i for i in state.options["indexes"] if i.name != name]
        self.changed()

    def add_constraint(self, app_label: str, model_name: str, constraint: Any) -> None:
        state = self.get_model_state(app_label, model_name)
        if any(c.name == constraint.name for c in state.options["constraints"]):
            raise MigrationError(
                f"{state.label} already has a constraint named {constraint.name!r}."
            )
        state.options["constraints"] = [*state.options["constraints"], copy.deepcopy(constraint)]
        self.changed()

    def remove_constraint(self, app_label: str, model_name: str, name: str) -> None:
        state = self.get_model_state(app_label, model_name)
        state.options["constraints"] = [c for c in state.options["constraints"] if c.name != name]
        self.changed()

    def __repr__(self) -> str:
        return f"<ProjectState: {', '.join(sorted(m.label for m in self.models.values()))}>"
