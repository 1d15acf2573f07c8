"""Find the migration files of the installed apps and build their graph."""

from __future__ import annotations

import importlib
import importlib.util
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dorm.conf import settings
from dorm.exceptions import ImproperlyConfigured
from dorm.migrations.exceptions import (
    AmbiguityError,
    BadMigrationError,
    ConflictError,
    InconsistentMigrationHistory,
    NodeNotFoundError,
)
from dorm.migrations.graph import Key, MigrationGraph

MIGRATION_NAME = re.compile(r"^\d{4}_\w+$")


@dataclass(frozen=True)
class AppInfo:
    """An installed app: its import name, label and where its migrations live."""

    name: str  # "myproject.shop"
    label: str  # "shop"
    migrations_module: str | None  # "myproject.shop.migrations" (None: migrations disabled)

    @property
    def models_module(self) -> str:
        return f"{self.name}.models"


def installed_apps() -> list[AppInfo]:
    """The apps of ``INSTALLED_APPS`` (importable package names), with labels."""
    apps: list[AppInfo] = []
    seen: dict[str, str] = {}
    modules = settings.MIGRATION_MODULES or {}
    for entry in settings.INSTALLED_APPS:
        if not isinstance(entry, str) or not entry:
            raise ImproperlyConfigured(
                f"INSTALLED_APPS entries are importable package names, got {entry!r}."
            )
        label = entry.rpartition(".")[2]
        if label in seen:
            raise ImproperlyConfigured(
                f"INSTALLED_APPS has two apps labelled {label!r}: {seen[label]!r} and {entry!r}."
            )
        seen[label] = entry
        module = modules.get(label, modules.get(entry, f"{entry}.migrations"))
        apps.append(AppInfo(entry, label, module))
    return apps


def get_app(label: str) -> AppInfo:
    for app in installed_apps():
        if app.label == label or app.name == label:
            return app
    known = ", ".join(a.label for a in installed_apps()) or "none"
    raise ImproperlyConfigured(f"No installed app with label {label!r}. Installed apps: {known}.")


def import_models(apps: list[AppInfo] | None = None) -> None:
    """Import each installed app's ``models`` module (registering its models)."""
    for app in apps if apps is not None else installed_apps():
        try:
            importlib.import_module(app.models_module)
        except ModuleNotFoundError as exc:
            if exc.name in (app.models_module, app.name):
                if exc.name == app.name:
                    raise ImproperlyConfigured(
                        f"INSTALLED_APPS names {app.name!r}, which cannot be imported: {exc}. "
                        "Is it on sys.path (run dorm from the project directory)?"
                    ) from exc
                continue  # an app without models
            raise


class MigrationLoader:
    """Migrations on disk for every installed app, and their :class:`MigrationGraph`.

    ``disk_migrations`` maps ``(app_label, name)`` to ``Migration`` instances;
    ``migrated_apps`` are the apps with a migrations package, ``unmigrated_apps`` the rest.
    """

    def __init__(self, load: bool = True) -> None:
        self.disk_migrations: dict[Key, Any] = {}
        self.migrated_apps: set[str] = set()
        self.unmigrated_apps: set[str] = set()
        self.graph = MigrationGraph()
        if load:
            self.build_graph()

    # Disk ------------------------------------------------------------------------------

    @staticmethod
    def migrations_package(app: AppInfo) -> tuple[Any, Path | None]:
        """The imported migrations package of ``app`` and its directory (None if absent)."""
        if app.migrations_module is None:
            return None, None
        importlib.invalidate_caches()
        try:
            module = importlib.import_module(app.migrations_module)
        except ModuleNotFoundError as exc:
            if exc.name and app.migrations_module.startswith(exc.name):
                return None, None
            raise
        paths = list(getattr(module, "__path__", []))
        if not paths:
            raise BadMigrationError(
                f"{app.migrations_module} is a module, not a package: migrations live in a "
                "directory with an __init__.py."
            )
        return module, Path(paths[0])

    def load_disk(self) -> None:
        self.disk_migrations.clear()
        self.migrated_apps.clear()
        self.unmigrated_apps.clear()
        for app in installed_apps():
            module, directory = self.migrations_package(app)
            if module is None:
                self.unmigrated_apps.add(app.label)
                continue
            self.migrated_apps.add(app.label)
            assert directory is not None
            names = sorted(
                path.stem
                for path in directory.glob("*.py")
                if not path.stem.startswith(("_", "~", "."))
            )
            for name in names:
                full = f"{module.__name__}.{name}"
                try:
                    migration_module = _load_source(full, directory / f"{name}.py")
                except Exception as exc:
                    raise BadMigrationError(
                        f"Migration file {full} could not be imported: {exc}"
                    ) from exc
                cls = getattr(migration_module, "Migration", None)
                if cls is None:
                    raise BadMigrationError(
                        f"Migration file {full} has no Migration class (every file in "
                        f"{directory} that is not private must define one)."
                    )
                self.disk_migrations[(app.label, name)] = cls(name, app.label)

    # Graph -----------------------------------------------------------------------------

    def build_graph(self) -> None:
        self.load_disk()
        graph = MigrationGraph()
        for key, migration in self.disk_migrations.items():
            graph.add_node(key, migration)
        for key, migration in self.disk_migrations.items():
            for parent in migration.dependencies:
                parent = self._resolve_special(key, tuple(parent))
                if parent is not None:
                    graph.add_dependency(migration, key, parent)
            for child in migration.run_before:
                child = self._resolve_special(key, tuple(child))
                if child is not None:
                    graph.add_dependency(migration, child, key)
        graph.validate()
        self.graph = graph

    def _resolve_special(self, key: Key, dep: tuple[str, ...]) -> Key | None:
        app, name = dep
        if name not in ("__first__", "__latest__"):
            return (app, name)
        if app not in self.migrated_apps:
            if app in self.unmigrated_apps:
                return None  # an app without migrations: nothing to wait for
            raise NodeNotFoundError(
                f"Migration {key[0]}.{key[1]} depends on app {app!r}, which is not installed.",
                (app, name),
            )
        nodes = sorted(n for n in self.disk_migrations if n[0] == app)
        if not nodes:
            return None
        if name == "__first__":
            return nodes[0]
        return nodes[-1]

    def detect_conflicts(self) -> dict[str, list[str]]:
        """Apps with more than one leaf migration -> their leaf names."""
        leaves: dict[str, list[str]] = {}
        for app, name in self.graph.leaf_nodes():
            leaves.setdefault(app, []).append(name)
        return {app: names for app, names in leaves.items() if len(names) > 1}

    def check_conflicts(self) -> None:
        conflicts = self.detect_conflicts()
        if conflicts:
            listing = "; ".join(f"{', '.join(n)} in {app}" for app, n in sorted(conflicts.items()))
            raise ConflictError(
                f"Conflicting migrations detected; multiple leaf nodes in the migration graph: "
                f"({listing}). To fix them run 'dorm makemigrations --merge'."
            )

    def check_consistent_history(self, applied: set[Key]) -> None:
        """Raise if an applied migration has an unapplied dependency."""
        for key in sorted(applied):
            if key not in self.graph.nodes:
                continue
            for parent in sorted(self.graph.parents[key]):
                if parent not in applied:
                    raise InconsistentMigrationHistory(
                        f"Migration {key[0]}.{key[1]} is applied before its dependency "
                        f"{parent[0]}.{parent[1]} on this database."
                    )

    def get_migration_by_prefix(self, app_label: str, prefix: str) -> Any:
        """The migration of ``app_label`` whose name starts with ``prefix``."""
        matches = [
            m
            for (app, name), m in self.disk_migrations.items()
            if app == app_label and name.startswith(prefix)
        ]
        exact = [m for m in matches if m.name == prefix]
        if exact:
            return exact[0]
        if len(matches) > 1:
            names = ", ".join(sorted(m.name for m in matches))
            raise AmbiguityError(
                f"More than one migration of {app_label!r} matches {prefix!r}: {names}. "
                "Give more of the name."
            )
        if not matches:
            known = sorted(n for a, n in self.disk_migrations if a == app_label)
            raise NodeNotFoundError(
                f"Cannot find a migration of {app_label!r} matching {prefix!r} "
                f"(its migrations: {', '.join(known) or 'none'}).",
                (app_label, prefix),
            )
        return matches[0]

    def project_state(self, nodes: list[Key] | None = None, at_end: bool = True) -> Any:
        return self.graph.make_state(nodes=nodes, at_end=at_end)


def _load_source(name: str, path: Path) -> Any:
    """Execute a migration file afresh (never from a stale bytecode cache: files are
    rewritten by makemigrations, possibly within the same second)."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    code = compile(path.read_text(encoding="utf-8"), str(path), "exec", dont_inherit=True)
    sys.modules[name] = module
    try:
        exec(code, module.__dict__)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module
