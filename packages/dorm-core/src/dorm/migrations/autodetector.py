"""Compare two project states and produce the migrations that turn one into the other.

``makemigrations`` compares the state the existing migrations build with the state of the
live models. Renames are detected without asking, only when unambiguous: a model (or field)
that disappeared and exactly one that appeared, with the same definition, and no other
candidate either way. Otherwise it is a removal and an addition.

Operations come out in an order that is valid to run: renames, then removals (indexes and
constraints before fields, fields before models), then table/option changes, new models
(ordered so that referenced models come first), new and altered fields, new indexes and
constraints. Each generated operation is applied to a working copy of the old state, and
the result must equal the new state — so ``makemigrations --check`` right after finds
nothing to do.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterable
from typing import Any

from dorm.migrations import operations as ops
from dorm.migrations.exceptions import MigrationError
from dorm.migrations.graph import Key, MigrationGraph
from dorm.migrations.migration import Migration
from dorm.migrations.serializer import field_signature, serialize
from dorm.migrations.state import ALTER_OPTION_KEYS, ModelState, ProjectState


def _target_key(value: Any, app_label: str, model_key: Key) -> Key | None:
    if not isinstance(value, str):
        return None
    if value == "self":
        return model_key
    if "." in value:
        app, _, name = value.partition(".")
        return (app, name.lower())
    return (app_label, value.lower())


def field_references(field: Any, model_key: Key) -> set[Key]:
    """Model keys an unbound relation field points to (target and through)."""
    if not getattr(field, "is_relation", False):
        return set()
    refs = set()
    remote = field.remote_field
    for value in (remote.model, getattr(remote, "through", None)):
        key = _target_key(value, model_key[0], model_key)
        if key is not None:
            refs.add(key)
    return refs


class NonNullableFieldError(MigrationError):
    """Fields were added as NOT NULL without a default to models that may have rows."""


class MigrationAutodetector:
    """``MigrationAutodetector(from_state, to_state).changes(graph)`` -> migrations by app."""

    def __init__(self, from_state: ProjectState, to_state: ProjectState) -> None:
        self.from_state = from_state
        self.to_state = to_state

    # Helpers ---------------------------------------------------------------------------

    def _sig(self, field: Any, model: ModelState) -> str:
        return field_signature(field, model.app_label, model.label)

    def _add(self, app_label: str, operation: Any) -> None:
        operation.state_forwards(app_label, self.working)
        self.generated.setdefault(app_label, []).append(operation)

    # Entry point -------------------------------------------------------------------------

    def changes(
        self,
        graph: MigrationGraph,
        trim_to_apps: Iterable[str] | None = None,
        migration_name: str | None = None,
    ) -> dict[str, list[Migration]]:
        """New migrations (not yet written) by app label, numbered after ``graph``'s."""
        self.generated: dict[str, list[Any]] = {}
        self.working = self.from_state.clone()
        self._detect()
        self._check_result()
        return self._arrange(graph, trim_to_apps, migration_name)

    def _detect(self) -> None:
        self._renamed_models()
        self._renamed_fields()
        kept = sorted(set(self.working.models) & set(self.to_state.models))
        added = sorted(set(self.to_state.models) - set(self.working.models))
        removed = sorted(set(self.working.models) - set(self.to_state.models))
        removed_set = set(removed)

        # Which changed fields are recreated (removed here, added later) rather than altered.
        recreate: dict[Key, set[str]] = {}
        for key in kept:
            old, new = self.working.models[key], self.to_state.models[key]
            names = set()
            for name, old_field in old.fields.items():
                new_field = new.fields.get(name)
                if new_field is None:
                    continue
                if self._sig(old_field, old) == self._sig(new_field, new):
                    continue
                m2m = (old_field.many_to_many, new_field.many_to_many)
                if m2m != (False, False):
                    names.add(name)  # M2M fields cannot be altered into other relations
                elif field_references(old_field, key) & removed_set:
                    names.add(name)  # it pointed at a model removed below
            recreate[key] = names

        # 1. Removals: indexes, constraints, unique_together, then fields, then models.
        for key in kept:
            self._remove_indexes_and_constraints(key)
        for key in kept:
            old, new = self.working.models[key], self.to_state.models[key]
            for name in list(old.fields):
                if name not in new.fields or name in recreate[key]:
                    self._add(key[0], ops.RemoveField(model_name=old.name, name=name))
        self._delete_models(removed)

        # 2. Table and options of kept models.
        for key in kept:
            old, new = self.working.models[key], self.to_state.models[key]
            if old.options.get("db_table") != new.options.get("db_table"):
                table = new.options.get("db_table")
                self._add(key[0], ops.AlterModelTable(name=new.name, table=table))
            old_opts = {k: old.options[k] for k in ALTER_OPTION_KEYS if k in old.options}
            new_opts = {k: new.options[k] for k in ALTER_OPTION_KEYS if k in new.options}
            if serialize(old_opts)[0] != serialize(new_opts)[0]:
                self._add(key[0], ops.AlterModelOptions(name=new.name, options=new_opts))

        # 3. New models, referenced ones first.
        deferred = self._create_models(added)

        # 4. New and altered fields of kept models (and fields deferred by FK cycles).
        missing_default = []
        for key in kept:
            old, new = self.working.models[key], self.to_state.models[key]
            for name, field in new.fields.items():
                if name not in old.fields:
                    if not self._can_add_without_default(field):
                        missing_default.append(f"{new.label}.{name}")
                    self._add(
                        key[0], ops.AddField(model_name=new.name, name=name, field=field.clone())
                    )
                elif self._sig(old.fields[name], old) != self._sig(field, new):
                    self._add(
                        key[0],
                        ops.AlterField(model_name=new.name, name=name, field=field.clone()),
                    )
        if missing_default:
            raise NonNullableFieldError(
                "It is impossible to add a non-nullable field without a default to a model "
                "whose table may have rows: "
                + ", ".join(missing_default)
                + ". Give the field a default (default=... or db_default=...), make it "
                "null=True, or add it nullable, fill it, then make it NOT NULL in a later "
                "migration."
            )
        for key, name, field in deferred:
            model = self.to_state.models[key]
            self._add(key[0], ops.AddField(model_name=model.name, name=name, field=field.clone()))
            self._add_model_indexes_and_constraints(key)

        # 5. New indexes, constraints, unique_together.
        for key in kept:
            self._add_indexes_and_constraints(key)

    # Renames ---------------------------------------------------------------------------

    def _model_fingerprint(self, model: ModelState, as_key: Key) -> dict[str, str]:
        """Field signatures, with references to the model itself written as ``as_key``."""
        result = {}
        own = {model.key, as_key}
        for name, field in model.fields.items():
            refs = field_references(field, model.key)
            clone = field.clone()
            if refs & own and getattr(clone, "is_relation", False):
                remote = clone.remote_field
                for attr in ("model", "through"):
                    value = getattr(remote, attr, None)
                    if _target_key(value, model.app_label, model.key) in own:
                        setattr(remote, attr, f"{as_key[0]}.{as_key[1]}")
            result[name] = field_signature(clone, model.app_label)
        return result

    def _renamed_models(self) -> None:
        added = sorted(set(self.to_state.models) - set(self.working.models))
        removed = sorted(set(self.working.models) - set(self.to_state.models))
        prints_new = {k: self._model_fingerprint(self.to_state.models[k], k) for k in added}
        candidates: dict[Key, list[Key]] = {}
        for old_key in removed:
            old = self.working.models[old_key]
            for new_key in added:
                if new_key[0] != old_key[0]:
                    continue
                if self._model_fingerprint(old, new_key) == prints_new[new_key]:
                    candidates.setdefault(old_key, []).append(new_key)
        for old_key, news in candidates.items():
            if len(news) != 1:
                continue
            new_key = news[0]
            if sum(1 for olds in candidates.values() if new_key in olds) != 1:
                continue
            old = self.working.models[old_key]
            new = self.to_state.models[new_key]
            self._add(old_key[0], ops.RenameModel(old_name=old.name, new_name=new.name))

    def _renamed_fields(self) -> None:
        for key in sorted(set(self.working.models) & set(self.to_state.models)):
            old, new = self.working.models[key], self.to_state.models[key]
            gone = [n for n in old.fields if n not in new.fields]
            came = [n for n in new.fields if n not in old.fields]
            if not gone or not came:
                continue
            old_sigs = {n: self._sig(old.fields[n], old) for n in gone}
            new_sigs = {n: self._sig(new.fields[n], new) for n in came}
            for new_name in came:
                matches = [n for n in gone if old_sigs[n] == new_sigs[new_name]]
                if len(matches) != 1:
                    continue
                old_name = matches[0]
                if sum(1 for n in came if new_sigs[n] == old_sigs[old_name]) != 1:
                    continue
                self._add(
                    key[0],
                    ops.RenameField(model_name=new.name, old_name=old_name, new_name=new_name),
                )
                gone.remove(old_name)

    # Indexes, constraints, unique_together -----------------------------------------------

    def _remove_indexes_and_constraints(self, key: Key) -> None:
        old, new = self.working.models[key], self.to_state.models[key]
        new_indexes = {i.name: serialize(i)[0] for i in new.options["indexes"]}
        for index in list(old.options["indexes"]):
            if new_indexes.get(index.name) != serialize(index)[0]:
                self._add(key[0], ops.RemoveIndex(model_name=new.name, name=index.name))
        new_constraints = {c.name: serialize(c)[0] for c in new.options["constraints"]}
        for constraint in list(old.options["constraints"]):
            if new_constraints.get(constraint.name) != serialize(constraint)[0]:
                self._add(key[0], ops.RemoveConstraint(model_name=new.name, name=constraint.name))
        old_ut = [tuple(u) for u in old.options.get("unique_together", [])]
        new_ut = [tuple(u) for u in new.options.get("unique_together", [])]
        kept = [u for u in old_ut if u in new_ut]
        if len(kept) != len(old_ut):
            self._add(key[0], ops.AlterUniqueTogether(name=new.name, unique_together=kept))

    def _add_indexes_and_constraints(self, key: Key) -> None:
        old, new = self.working.models[key], self.to_state.models[key]
        old_ut = [tuple(u) for u in old.options.get("unique_together", [])]
        new_ut = [tuple(u) for u in new.options.get("unique_together", [])]
        if old_ut != new_ut:
            self._add(key[0], ops.AlterUniqueTogether(name=new.name, unique_together=new_ut))
        old_indexes = {i.name for i in old.options["indexes"]}
        for index in new.options["indexes"]:
            if index.name not in old_indexes:
                self._add(key[0], ops.AddIndex(model_name=new.name, index=index))
        old_constraints = {c.name for c in old.options["constraints"]}
        for constraint in new.options["constraints"]:
            if constraint.name not in old_constraints:
                self._add(key[0], ops.AddConstraint(model_name=new.name, constraint=constraint))

    def _add_model_indexes_and_constraints(self, key: Key) -> None:
        """After a deferred field of a new model: what CreateModel had to leave out."""
        new = self.to_state.models[key]
        current = self.working.models[key]
        if all(n in current.fields for n in new.fields):
            self._add_indexes_and_constraints(key)

    # Models ----------------------------------------------------------------------------

    def _delete_models(self, removed: list[Key]) -> None:
        pending = list(removed)
        while pending:
            pending_set = set(pending)
            # A model nothing else still pending points at can go first.
            for key in pending:
                model = self.working.models[key]
                referenced = any(
                    key in field_references(f, other) and other != key
                    for other in pending
                    for f in self.working.models[other].fields.values()
                )
                if not referenced:
                    self._add(key[0], ops.DeleteModel(name=model.name))
                    pending.remove(key)
                    break
            else:
                # A cycle: drop one model's relations to the others first.
                key = pending[0]
                model = self.working.models[key]
                for name, field in list(model.fields.items()):
                    if field_references(field, key) & (pending_set - {key}):
                        self._add(key[0], ops.RemoveField(model_name=model.name, name=name))

    def _create_models(self, added: list[Key]) -> list[tuple[Key, str, Any]]:
        """CreateModel for each new model; returns fields deferred to break FK cycles."""
        deferred: list[tuple[Key, str, Any]] = []
        pending = list(added)
        skip: dict[Key, set[str]] = {k: set() for k in added}
        while pending:
            pending_set = set(pending)
            chosen = None
            for key in pending:
                model = self.to_state.models[key]
                deps = set()
                for name, field in model.fields.items():
                    if name not in skip[key]:
                        deps |= field_references(field, key)
                if not (deps - {key}) & pending_set:
                    chosen = key
                    break
            if chosen is None:
                # A cycle among new models: create the first without its relations to the
                # others; they are added once every model exists.
                key = pending[0]
                model = self.to_state.models[key]
                for name, field in model.fields.items():
                    if field_references(field, key) & (pending_set - {key}):
                        skip[key].add(name)
                        deferred.append((key, name, field))
                continue
            pending.remove(chosen)
            model = self.to_state.models[chosen]
            fields = [(n, f.clone()) for n, f in model.fields.items() if n not in skip[chosen]]
            names = {n for n, _ in fields}
            options = {k: v for k, v in model.options.items() if v not in ([], (), None)}
            if skip[chosen]:
                # Indexes and constraints over deferred fields come after those fields.
                for key_ in ("indexes", "constraints"):
                    kept = [
                        x
                        for x in options.get(key_, [])
                        if {f.lstrip("-") for f in getattr(x, "fields", ())} <= names
                        and not getattr(x, "condition", None)
                    ]
                    if kept:
                        options[key_] = kept
                    else:
                        options.pop(key_, None)
                if "unique_together" in options:
                    options["unique_together"] = [
                        u for u in options["unique_together"] if set(u) <= names
                    ]
                    if not options["unique_together"]:
                        del options["unique_together"]
            kwargs: dict[str, Any] = {"name": model.name, "fields": fields}
            if options:
                kwargs["options"] = options
            self._add(chosen[0], ops.CreateModel(**kwargs))
        return deferred

    @staticmethod
    def _can_add_without_default(field: Any) -> bool:
        return bool(
            field.null
            or field.has_default()
            or field.has_db_default()
            or field.many_to_many
            or field.primary_key
            or (field.blank and field.empty_strings_allowed)
            or getattr(field, "auto_now", False)
            or getattr(field, "auto_now_add", False)
        )

    # Result ----------------------------------------------------------------------------

    def _check_result(self) -> None:
        labels = {k[0] for k in self.to_state.models} | {k[0] for k in self.from_state.models}
        for label in labels:
            a = {k: m for k, m in self.working.models.items() if k[0] == label}
            b = {k: m for k, m in self.to_state.models.items() if k[0] == label}
            if ProjectState(a) != ProjectState(b):
                diff = sorted(
                    m.label
                    for k, m in {**a, **b}.items()
                    if k not in a or k not in b or a[k] != b[k]
                )
                raise MigrationError(
                    "The autodetector could not express every change of "
                    f"{', '.join(diff)} as operations; please report this, and write the "
                    "migration by hand (makemigrations --empty)."
                )

    def _arrange(
        self,
        graph: MigrationGraph,
        trim_to_apps: Iterable[str] | None,
        migration_name: str | None,
    ) -> dict[str, list[Migration]]:
        # Apps each app's new operations refer to (for dependencies).
        needs: dict[str, set[str]] = {}
        for app, operations in self.generated.items():
            refs: set[str] = set()
            for operation in operations:
                fields: list[Any] = []
                if isinstance(operation, ops.CreateModel):
                    fields = [f for _, f in operation.fields]
                    model_key = (app, operation.name.lower())
                elif isinstance(operation, (ops.AddField, ops.AlterField)):
                    fields = [operation.field]
                    model_key = (app, operation.model_name.lower())
                for field in fields:
                    refs |= {k[0] for k in field_references(field, model_key)}
            refs.discard(app)
            needs[app] = refs
        apps = set(self.generated)
        if trim_to_apps is not None:
            wanted = set(trim_to_apps)
            queue = list(wanted & apps)
            while queue:
                app = queue.pop()
                for other in needs.get(app, ()):
                    if other in apps and other not in wanted:
                        wanted.add(other)
                        queue.append(other)
            apps &= wanted
        # Cross-app cycles among the new migrations cannot be ordered.
        for app in apps:
            seen, stack = set(), [app]
            while stack:
                current = stack.pop()
                for other in needs.get(current, ()):
                    if other == app:
                        raise MigrationError(
                            f"The new migrations of {app!r} and {current!r} depend on each "
                            "other (relations in both directions). Add one side's relation "
                            "in a later makemigrations run (comment it out, run "
                            "makemigrations, restore it, run it again)."
                        )
                    if other in apps and other not in seen:
                        seen.add(other)
                        stack.append(other)
        result: dict[str, list[Migration]] = {}
        names: dict[str, str] = {}
        for app in sorted(apps):
            leaves = graph.leaf_nodes(app)
            numbers = [
                int(match.group(1))
                for node_app, node_name in graph.nodes
                if node_app == app and (match := re.match(r"^(\d+)_", node_name))
            ]
            number = 1 + max(numbers, default=0)
            operations = self.generated[app]
            initial = not leaves
            if migration_name:
                suffix = migration_name
            elif initial:
                suffix = "initial"
            else:
                suffix = suggest_name(operations)
            names[app] = f"{number:04d}_{suffix}"
        for app in sorted(apps):
            leaves = graph.leaf_nodes(app)
            if len(leaves) > 1:
                raise MigrationError(
                    f"App {app!r} has conflicting migrations ({', '.join(n for _, n in leaves)})."
                    " Run 'dorm makemigrations --merge' first."
                )
            dependencies: list[tuple[str, str]] = list(leaves)
            for other in sorted(needs[app]):
                if other in names:
                    dependencies.append((other, names[other]))
                else:
                    other_leaves = graph.leaf_nodes(other)
                    if not other_leaves:
                        raise MigrationError(
                            f"{app!r} refers to models of {other!r}, which has no migrations. "
                            f"Run makemigrations for {other!r} too (is it in INSTALLED_APPS?)."
                        )
                    dependencies.append(other_leaves[-1])
            migration = type(
                "Migration",
                (Migration,),
                {
                    "operations": self.generated[app],
                    "dependencies": dependencies,
                    "initial": not leaves,
                },
            )(names[app], app)
            result[app] = [migration]
        return result


def suggest_name(operations: list[Any]) -> str:
    """A migration name from its operations (Django's rules)."""
    fragments = [op.migration_name_fragment for op in operations]
    if operations and all(fragments):
        if len(fragments) == 1:
            return str(fragments[0])
        name = "_".join(sorted(str(f) for f in fragments))
        if len(name) <= 52:
            return name
        return f"{fragments[0]}_and_more"
    return "auto_" + datetime.datetime.now().strftime("%Y%m%d_%H%M")
