"""The ``dorm`` command line (also ``python -m dorm``) and its programmatic twin.

::

    dorm init mysite                      # a settings.py and an app to start from
    dorm makemigrations [app ...]         # write migrations for model changes
    dorm migrate [app] [target]           # apply (or roll back to target / zero)
    dorm showmigrations | sqlmigrate app name | shell | dbshell

Settings come from ``--settings module.path``, else ``DORM_SETTINGS_MODULE``, else
``settings.py`` in the working directory (which is put on ``sys.path``).

From Python, :func:`call_command` runs the same commands without a subprocess, and
:func:`acall_command` their async form (``migrate`` then runs on the async connections)::

    dorm.call_command("migrate", "shop", "zero", database="default")
    await dorm.acall_command("migrate")
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from dorm.exceptions import DormError, ImproperlyConfigured


class CommandError(DormError):
    """A command failed; the CLI prints the message and exits with ``returncode``."""

    def __init__(self, message: str, returncode: int = 1) -> None:
        super().__init__(message)
        self.returncode = returncode


class Command:
    """One subcommand: its arguments, and ``handle`` (plus ``ahandle`` when it does I/O
    on the database that has an async form)."""

    name = ""
    help = ""
    needs_settings = True

    def __init__(self, stdout: IO[str] | None = None, stderr: IO[str] | None = None) -> None:
        self.stdout = stdout or sys.stdout
        self.stderr = stderr or sys.stderr

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        pass

    def write(self, text: str = "") -> None:
        self.stdout.write(text + "\n")

    def handle(self, **options: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must implement handle().")

    async def ahandle(self, **options: Any) -> Any:
        return self.handle(**options)


def _database_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database",
        default="default",
        metavar="ALIAS",
        help="The database alias to use (default: %(default)s). Routers' allow_migrate decide "
        "which models' tables it gets.",
    )


def _check_alias(alias: str) -> None:
    from dorm.conf import settings

    if alias not in settings.DATABASES:
        configured = ", ".join(sorted(settings.DATABASES))
        raise CommandError(f"Unknown database alias {alias!r}; configured: {configured}.")


def _loader() -> Any:
    from dorm.migrations.loader import MigrationLoader

    try:
        return MigrationLoader()
    except DormError as exc:
        raise CommandError(str(exc)) from exc


def _app_labels(labels: Sequence[str]) -> list[str]:
    from dorm.migrations.loader import get_app

    result = []
    for label in labels:
        try:
            result.append(get_app(label).label)
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from exc
    return result


# init ---------------------------------------------------------------------------------

SETTINGS_TEMPLATE = '''"""Settings of {project} (read by the `dorm` command and by dorm.conf)."""

from pathlib import Path

base_dir = Path(__file__).resolve().parent

DATABASES = {{
    "default": {{
        "ENGINE": "sqlite",
        "NAME": str(base_dir / "db.sqlite3"),
    }},
}}

INSTALLED_APPS = [
    "{app}",
]
'''

MODELS_TEMPLATE = '''"""Models of the {app} app. Run `dorm makemigrations` after changing them."""

import dorm


class Note(dorm.Model):
    title = dorm.CharField(max_length=200)
    created = dorm.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.title
'''


class InitCommand(Command):
    name = "init"
    help = "Create a project directory: settings.py and an app with models.py and migrations/."
    needs_settings = False

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("project", help="Directory to create (its name names the project).")
        parser.add_argument(
            "--app", default="app", help="Name of the first app (default: %(default)s)."
        )

    def handle(self, **options: Any) -> Any:
        project = Path(options["project"])
        app = options["app"]
        if not app.isidentifier():
            raise CommandError(f"The app name {app!r} is not a valid Python identifier.")
        if project.exists() and any(project.iterdir()):
            raise CommandError(f"{project} already exists and is not empty.")
        app_dir = project / app
        (app_dir / "migrations").mkdir(parents=True, exist_ok=True)
        (project / "settings.py").write_text(
            SETTINGS_TEMPLATE.format(project=project.name, app=app), encoding="utf-8"
        )
        (app_dir / "__init__.py").write_text("", encoding="utf-8")
        (app_dir / "models.py").write_text(MODELS_TEMPLATE.format(app=app), encoding="utf-8")
        (app_dir / "migrations" / "__init__.py").write_text("", encoding="utf-8")
        self.write(f"Created project {project} with app {app!r}. Next:")
        self.write(f"  cd {project}")
        self.write("  dorm makemigrations")
        self.write("  dorm migrate")
        return project


# makemigrations ---------------------------------------------------------------------------


class MakeMigrationsCommand(Command):
    name = "makemigrations"
    help = "Write new migrations for the changes of the models since the last migrations."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("app_label", nargs="*", help="Only these apps (default: all).")
        parser.add_argument("--name", "-n", help="Name of the migration (after its number).")
        parser.add_argument(
            "--empty", action="store_true", help="Write an empty migration (to fill by hand)."
        )
        parser.add_argument(
            "--check",
            action="store_true",
            help="Write nothing; exit with status 1 when migrations are missing.",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Show what would be written; write nothing."
        )
        parser.add_argument(
            "--merge", action="store_true", help="Write merge migrations for conflicting apps."
        )
        parser.add_argument(
            "-v",
            "--verbosity",
            type=int,
            default=1,
            choices=[0, 1, 2, 3],
            help="0: quiet, 1: normal, 3: print the migration files too.",
        )

    def handle(self, **options: Any) -> Any:
        from dorm.apps import apps as global_apps
        from dorm.migrations.autodetector import MigrationAutodetector
        from dorm.migrations.loader import import_models, installed_apps
        from dorm.migrations.state import ProjectState

        verbosity = options["verbosity"]
        name = options.get("name")
        if name is not None and not name.isidentifier():
            raise CommandError(f"The migration name {name!r} must be a valid Python identifier.")
        labels = _app_labels(options.get("app_label") or [])
        try:
            import_models()
        except DormError as exc:
            raise CommandError(str(exc)) from exc
        loader = _loader()
        if options["merge"]:
            return self._merge(loader, labels, options)
        conflicts = loader.detect_conflicts()
        if labels:
            conflicts = {a: n for a, n in conflicts.items() if a in labels}
        if conflicts:
            listing = "; ".join(f"{', '.join(n)} in {a}" for a, n in sorted(conflicts.items()))
            raise CommandError(
                "Conflicting migrations detected; multiple leaf nodes in the migration graph: "
                f"({listing}). To fix them run 'dorm makemigrations --merge'."
            )
        if options["empty"]:
            if not labels:
                raise CommandError("makemigrations --empty needs the app label(s) to write for.")
            changes = {}
            for label in labels:
                leaves = loader.graph.leaf_nodes(label)
                number = _next_number(loader, label)
                migration = _make_migration(
                    f"{number:04d}_{name or 'custom'}", label, [], list(leaves), not leaves
                )
                changes[label] = [migration]
        else:
            all_labels = [a.label for a in installed_apps()]
            to_state = ProjectState.from_apps(global_apps, all_labels)
            from_state = loader.project_state()
            detector = MigrationAutodetector(from_state, to_state)
            try:
                changes = detector.changes(
                    loader.graph, trim_to_apps=labels or None, migration_name=name
                )
            except DormError as exc:
                raise CommandError(str(exc), returncode=3) from exc
        if not changes:
            if verbosity >= 1:
                where = f" in app(s) {', '.join(labels)}" if labels else ""
                self.write(f"No changes detected{where}")
            return {}
        if options["check"]:
            self._report(changes, {}, verbosity, dry=True)
            raise CommandError("Migrations are missing for the changes above.", returncode=1)
        written = self._write(changes, verbosity, dry=options["dry_run"])
        return written

    def _report(
        self,
        changes: dict[str, list[Any]],
        paths: dict[str, list[Path]],
        verbosity: int,
        dry: bool,
    ) -> None:
        if verbosity < 1:
            return
        for app, migrations in sorted(changes.items()):
            self.write(f"Migrations for {app!r}:")
            for i, migration in enumerate(migrations):
                path = paths.get(app, [None] * len(migrations))[i]
                self.write(f"  {_display_path(path) if path else migration.name + '.py'}")
                for operation in migration.operations:
                    self.write(f"    - {operation.describe()}")

    def _write(self, changes: dict[str, list[Any]], verbosity: int, dry: bool) -> Any:
        from dorm.migrations.writer import MigrationWriter

        written: dict[str, list[Path]] = {}
        sources: dict[Path, str] = {}
        for app, migrations in sorted(changes.items()):
            directory = migrations_directory(app, create=not dry)
            for migration in migrations:
                writer = MigrationWriter(migration, directory)
                sources[writer.path] = writer.as_string()
                written.setdefault(app, []).append(writer.path)
        self._report(changes, written, verbosity, dry)
        for path, source in sources.items():
            if verbosity >= 3:
                self.write(f"# {path}\n{source}")
            if not dry:
                path.write_text(source, encoding="utf-8")
        return written

    def _merge(self, loader: Any, labels: list[str], options: dict[str, Any]) -> Any:
        conflicts = loader.detect_conflicts()
        if labels:
            conflicts = {a: n for a, n in conflicts.items() if a in labels}
        if not conflicts:
            self.write("No conflicts detected to merge.")
            return {}
        changes = {}
        for app, leaves in sorted(conflicts.items()):
            number = _next_number(loader, app)
            suffix = options.get("name") or "merge_" + "_".join(
                leaf.split("_", 1)[0] for leaf in sorted(leaves)
            )
            changes[app] = [
                _make_migration(
                    f"{number:04d}_{suffix}",
                    app,
                    [],
                    [(app, leaf) for leaf in sorted(leaves)],
                    False,
                )
            ]
        if options["check"]:
            self._report(changes, {}, options["verbosity"], dry=True)
            raise CommandError("Merge migrations are missing.", returncode=1)
        return self._write(changes, options["verbosity"], dry=options["dry_run"])


def _display_path(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _next_number(loader: Any, app: str) -> int:
    import re

    numbers = [
        int(m.group(1))
        for a, n in loader.graph.nodes
        if a == app and (m := re.match(r"^(\d+)_", n))
    ]
    return max(numbers, default=0) + 1


def _make_migration(
    name: str, app: str, operations: list[Any], dependencies: list[Any], initial: bool
) -> Any:
    from dorm.migrations.migration import Migration

    cls = type(
        "Migration",
        (Migration,),
        {"operations": operations, "dependencies": dependencies, "initial": initial},
    )
    return cls(name, app)


def migrations_directory(app_label: str, create: bool = True) -> Path:
    """The directory of an app's migrations package (created, with ``__init__.py``)."""
    import importlib
    import importlib.util

    from dorm.migrations.loader import MigrationLoader, get_app

    app = get_app(app_label)
    if app.migrations_module is None:
        raise CommandError(f"Migrations of {app.label!r} are disabled (MIGRATION_MODULES).")
    _module, directory = MigrationLoader.migrations_package(app)
    if directory is not None:
        return directory
    parent_name, _, last = app.migrations_module.rpartition(".")
    try:
        parent = importlib.import_module(parent_name) if parent_name else None
    except ImportError as exc:
        raise CommandError(
            f"Cannot create {app.migrations_module}: {parent_name} is not importable ({exc})."
        ) from exc
    parent_paths = list(getattr(parent, "__path__", [])) if parent is not None else [os.getcwd()]
    if not parent_paths:
        raise CommandError(f"Cannot create {app.migrations_module}: {parent_name} is a module.")
    directory = Path(parent_paths[0]) / last
    if create:
        directory.mkdir(parents=True, exist_ok=True)
        init = directory / "__init__.py"
        if not init.exists():
            init.write_text("", encoding="utf-8")
        importlib.invalidate_caches()
    return directory


# migrate ----------------------------------------------------------------------------------


class MigrateCommand(Command):
    name = "migrate"
    help = "Apply migrations, or roll back to a migration or to zero."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("app_label", nargs="?", help="Only this app (and its dependencies).")
        parser.add_argument(
            "migration_name",
            nargs="?",
            help="Migrate to this migration (a unique prefix is enough); 'zero' unapplies all.",
        )
        _database_option(parser)
        parser.add_argument(
            "--all-shards",
            action="store_true",
            help="Migrate every shard alias a router declares (e.g. HashShardRouter's shards). "
            "--database also accepts a pattern such as 'shard_*'.",
        )
        parser.add_argument(
            "--fake", action="store_true", help="Record the migrations without running them."
        )
        parser.add_argument(
            "--plan", action="store_true", help="Show what would run; change nothing."
        )
        parser.add_argument("-v", "--verbosity", type=int, default=1, choices=[0, 1, 2, 3])

    def _prepare(self, options: dict[str, Any]) -> tuple[Any, list[Any] | None]:
        from dorm.migrations.executor import MigrationExecutor

        alias = options["database"]
        _check_alias(alias)
        loader = _loader()
        try:
            loader.check_conflicts()
        except DormError as exc:
            raise CommandError(str(exc)) from exc
        executor = MigrationExecutor(alias, loader=loader, progress_callback=self._progress)
        label = options.get("app_label")
        name = options.get("migration_name")
        if not label:
            if name:
                raise CommandError("Give the app label before the migration name.")
            return executor, None
        label = _app_labels([label])[0]
        if label not in loader.migrated_apps:
            raise CommandError(f"App {label!r} does not have migrations.")
        if not name:
            return executor, [(label, n) for _, n in loader.graph.leaf_nodes(label)]
        if name == "zero":
            return executor, [(label, None)]
        try:
            migration = loader.get_migration_by_prefix(label, name)
        except DormError as exc:
            raise CommandError(str(exc)) from exc
        return executor, [(label, migration.name)]

    def _progress(self, action: str, migration: Any, fake: bool) -> None:
        if self._verbosity < 1:
            return
        if action == "apply_start":
            self.stdout.write(f"  Applying {migration}...")
        elif action == "unapply_start":
            self.stdout.write(f"  Unapplying {migration}...")
        else:
            self.stdout.write(" FAKED\n" if fake else " OK\n")
        self.stdout.flush()

    def _print_plan(self, plan: list[Any]) -> None:
        self.write("Planned operations:")
        if not plan:
            self.write("  No planned migration operations.")
        for migration, backwards in plan:
            self.write(f"{migration}{' (unapply)' if backwards else ''}")
            for operation in migration.operations:
                text = operation.describe()
                if backwards and not operation.reversible:
                    text += " (IRREVERSIBLE)"
                self.write(f"    {text}")

    def _header(self, plan: list[Any], targets: Any, options: dict[str, Any]) -> None:
        if self._verbosity < 1:
            return
        if not plan:
            self.write("No migrations to apply.")
            return
        direction = "Unapplying" if plan[0][1] else "Applying"
        self.write(f"Operations to perform ({options['database']}):")
        self.write(f"  {direction} {len(plan)} migration{'s' if len(plan) != 1 else ''}")
        self.write("Running migrations:")

    def _fail(self, exc: Exception) -> CommandError:
        if self._verbosity >= 1:
            self.stdout.write(" FAILED\n")
        return CommandError(f"{type(exc).__name__}: {exc}")

    @staticmethod
    def _aliases(options: dict[str, Any]) -> list[str] | None:
        """The aliases for --all-shards or a --database pattern; None for one plain alias."""
        import fnmatch

        from dorm.conf import settings
        from dorm.db import router

        configured = list(settings.DATABASES)
        if options.get("all_shards"):
            aliases: list[str] = []
            for r in router.routers:
                for alias in getattr(r, "aliases", ()) or ():
                    if alias not in aliases:
                        aliases.append(alias)
            if not aliases:
                raise CommandError(
                    "--all-shards: no router in DATABASE_ROUTERS declares shard aliases."
                )
            missing = [a for a in aliases if a not in configured]
            if missing:
                raise CommandError(
                    f"--all-shards: shard alias(es) {', '.join(missing)} are not in DATABASES."
                )
            return aliases
        pattern = options["database"]
        if not any(c in pattern for c in "*?["):
            return None
        matched = [a for a in configured if fnmatch.fnmatchcase(a, pattern)]
        if not matched:
            raise CommandError(
                f"--database pattern {pattern!r} matches no alias; configured: "
                f"{', '.join(configured)}."
            )
        return matched

    def handle(self, **options: Any) -> Any:
        aliases = self._aliases(options)
        if aliases is None:
            return self._handle_one(**options)
        return {alias: self._handle_one(**{**options, "database": alias}) for alias in aliases}

    async def ahandle(self, **options: Any) -> Any:
        aliases = self._aliases(options)
        if aliases is None:
            return await self._ahandle_one(**options)
        return {
            alias: await self._ahandle_one(**{**options, "database": alias}) for alias in aliases
        }

    def _handle_one(self, **options: Any) -> Any:
        self._verbosity = options["verbosity"]
        executor, targets = self._prepare(options)
        try:
            plan = executor.plan(targets)
        except DormError as exc:
            raise CommandError(str(exc)) from exc
        if options["plan"]:
            self._print_plan(plan)
            return plan
        self._header(plan, targets, options)
        try:
            executor.migrate(plan=plan, fake=options["fake"])
        except DormError as exc:
            raise self._fail(exc) from exc
        self._warn_unmigrated_changes(executor.loader)
        return plan

    async def _ahandle_one(self, **options: Any) -> Any:
        self._verbosity = options["verbosity"]
        executor, targets = self._prepare(options)
        try:
            plan = await executor.aplan(targets)
        except DormError as exc:
            raise CommandError(str(exc)) from exc
        if options["plan"]:
            self._print_plan(plan)
            return plan
        self._header(plan, targets, options)
        try:
            await executor.amigrate(plan=plan, fake=options["fake"])
        except DormError as exc:
            raise self._fail(exc) from exc
        self._warn_unmigrated_changes(executor.loader)
        return plan

    def _warn_unmigrated_changes(self, loader: Any) -> None:
        if self._verbosity < 1:
            return
        try:
            from dorm.apps import apps as global_apps
            from dorm.migrations.autodetector import MigrationAutodetector
            from dorm.migrations.loader import import_models, installed_apps
            from dorm.migrations.state import ProjectState

            import_models()
            labels = [a.label for a in installed_apps() if a.label in loader.migrated_apps]
            to_state = ProjectState.from_apps(global_apps, labels)
            changes = MigrationAutodetector(loader.project_state(), to_state).changes(
                loader.graph, trim_to_apps=labels
            )
        except Exception:
            return
        if changes:
            self.write(
                f"  Your models in app(s) {', '.join(sorted(changes))} have changes that are "
                "not yet reflected in a migration. Run 'dorm makemigrations'."
            )


# showmigrations -----------------------------------------------------------------------------


class ShowMigrationsCommand(Command):
    name = "showmigrations"
    help = "List each app's migrations, [X] marking the applied ones."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("app_label", nargs="*", help="Only these apps.")
        _database_option(parser)
        parser.add_argument(
            "--plan", action="store_true", help="One list in the order migrate applies them."
        )

    def _show(self, loader: Any, applied: set[Any], options: dict[str, Any]) -> Any:
        graph = loader.graph
        labels = _app_labels(options.get("app_label") or [])
        if options["plan"]:
            seen: list[Any] = []
            for leaf in graph.leaf_nodes():
                for key in graph.forwards_plan(leaf):
                    if key not in seen and (not labels or key[0] in labels):
                        seen.append(key)
            for key in seen:
                mark = "X" if key in applied else " "
                self.write(f"[{mark}]  {key[0]}.{key[1]}")
            return seen
        from dorm.migrations.loader import installed_apps

        result: dict[str, list[tuple[str, bool]]] = {}
        for app in installed_apps():
            if labels and app.label not in labels:
                continue
            self.write(app.label)
            names = sorted(n for a, n in graph.nodes if a == app.label)
            if not names:
                self.write(" (no migrations)")
            for name in names:
                done = (app.label, name) in applied
                self.write(f" [{'X' if done else ' '}] {name}")
                result.setdefault(app.label, []).append((name, done))
        return result

    def handle(self, **options: Any) -> Any:
        from dorm.migrations.recorder import MigrationRecorder

        _check_alias(options["database"])
        loader = _loader()
        applied = MigrationRecorder(options["database"]).applied_migrations()
        return self._show(loader, applied, options)

    async def ahandle(self, **options: Any) -> Any:
        from dorm.migrations.recorder import MigrationRecorder

        _check_alias(options["database"])
        loader = _loader()
        applied = await MigrationRecorder(options["database"]).aapplied_migrations()
        return self._show(loader, applied, options)


# sqlmigrate ---------------------------------------------------------------------------------


class SqlMigrateCommand(Command):
    name = "sqlmigrate"
    help = "Print the SQL a migration runs (exactly what migrate executes)."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("app_label")
        parser.add_argument("migration_name", help="The migration (a unique prefix is enough).")
        _database_option(parser)
        parser.add_argument(
            "--backwards", action="store_true", help="The SQL that unapplies it instead."
        )

    def handle(self, **options: Any) -> Any:
        from dorm.migrations.executor import MigrationExecutor

        _check_alias(options["database"])
        label = _app_labels([options["app_label"]])[0]
        loader = _loader()
        if label not in loader.migrated_apps:
            raise CommandError(f"App {label!r} does not have migrations.")
        try:
            migration = loader.get_migration_by_prefix(label, options["migration_name"])
            executor = MigrationExecutor(options["database"], loader=loader)
            lines = executor.collect_sql([(migration, options["backwards"])])
        except DormError as exc:
            raise CommandError(str(exc)) from exc
        for line in lines:
            self.write(line)
        return lines


# shell / dbshell ------------------------------------------------------------------------------


class ShellCommand(Command):
    name = "shell"
    help = "An interactive Python shell (IPython when installed) with the models imported."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("-c", "--command", help="Run this code instead of a shell.")
        parser.add_argument(
            "--plain", action="store_true", help="Use the standard Python shell, not IPython."
        )

    def namespace(self) -> dict[str, Any]:
        import dorm
        from dorm.apps import apps
        from dorm.migrations.loader import import_models, installed_apps

        import_models()
        namespace: dict[str, Any] = {"dorm": dorm}
        labels = {a.label for a in installed_apps()}
        for model in apps.get_models():
            if model._meta.app_label in labels and not model._meta.auto_created:
                namespace[model.__name__] = model
        return namespace

    def handle(self, **options: Any) -> Any:
        namespace = self.namespace()
        if options.get("command"):
            exec(compile(options["command"], "<dorm shell -c>", "exec"), namespace)
            return None
        banner = "dorm shell; models: " + ", ".join(sorted(k for k in namespace if k != "dorm"))
        if not options.get("plain"):
            try:
                from IPython import start_ipython  # type: ignore[import-not-found]
            except ImportError:
                pass
            else:
                start_ipython(argv=[], user_ns=namespace, display_banner=False)
                return None
        import code

        code.interact(banner=banner, local=namespace)
        return None

    async def ahandle(self, **options: Any) -> Any:
        raise CommandError("The shell command has no async form; use call_command('shell').")


class DbShellCommand(Command):
    name = "dbshell"
    help = "Open the database's command-line client (sqlite3, psql) for an alias."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        _database_option(parser)
        parser.add_argument(
            "parameters", nargs="*", help="Extra arguments for the client (after --)."
        )

    @staticmethod
    def client_command(settings_dict: dict[str, Any]) -> tuple[list[str], dict[str, str]]:
        """The client argv and extra environment for a ``DATABASES`` entry."""
        engine = settings_dict["ENGINE"]
        options = settings_dict.get("OPTIONS") or {}
        if engine == "sqlite" or engine.endswith("sqlite"):
            return ["sqlite3", str(settings_dict["NAME"])], {}
        if engine in ("postgresql", "postgres") or "postgres" in engine:
            env: dict[str, str] = {}
            if options.get("conninfo") or options.get("dsn"):
                argv = ["psql", str(options.get("conninfo") or options.get("dsn"))]
            else:
                argv = ["psql"]
                for flag, key in (("-h", "HOST"), ("-p", "PORT"), ("-U", "USER")):
                    if settings_dict.get(key):
                        argv += [flag, str(settings_dict[key])]
                if settings_dict.get("NAME"):
                    argv.append(str(settings_dict["NAME"]))
            if settings_dict.get("PASSWORD"):
                env["PGPASSWORD"] = str(settings_dict["PASSWORD"])
            return argv, env
        raise CommandError(f"dbshell does not know the client of ENGINE {engine!r}.")

    def handle(self, **options: Any) -> Any:
        from dorm.conf import settings

        _check_alias(options["database"])
        argv, env = self.client_command(settings.DATABASES[options["database"]])
        argv += options.get("parameters") or []
        if shutil.which(argv[0]) is None:
            raise CommandError(
                f"The program {argv[0]!r} is not installed or not on PATH; install the "
                "database's command-line client."
            )
        done = subprocess.run(argv, env={**os.environ, **env}, check=False)
        if done.returncode:
            raise CommandError(
                f"{argv[0]} exited with status {done.returncode}.", returncode=done.returncode
            )
        return done.returncode

    async def ahandle(self, **options: Any) -> Any:
        raise CommandError("The dbshell command has no async form.")


class SquashMigrationsCommand(Command):
    name = "squashmigrations"
    help = "(Not available yet.) Squash an app's migrations into one."
    needs_settings = False

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("args", nargs="*", help=argparse.SUPPRESS)

    def handle(self, **options: Any) -> Any:
        raise CommandError(
            "squashmigrations is not available yet in dorm. Until it is, write a new initial "
            "migration by hand, or keep the existing migrations.",
            returncode=2,
        )


COMMANDS: dict[str, type[Command]] = {
    cls.name: cls
    for cls in (
        InitCommand,
        MakeMigrationsCommand,
        MigrateCommand,
        ShowMigrationsCommand,
        SqlMigrateCommand,
        ShellCommand,
        DbShellCommand,
        SquashMigrationsCommand,
    )
}


# Parsing and running --------------------------------------------------------------------------


def _common_options(parser: argparse.ArgumentParser, suppress: bool) -> None:
    parser.add_argument(
        "--settings",
        metavar="MODULE",
        default=argparse.SUPPRESS if suppress else None,
        help="Settings module (dotted path); default: DORM_SETTINGS_MODULE, else ./settings.py.",
    )
    parser.add_argument(
        "--traceback",
        action="store_true",
        default=argparse.SUPPRESS if suppress else False,
        help="Show the full traceback of errors.",
    )


def build_parser(
    stdout: IO[str] | None = None, stderr: IO[str] | None = None
) -> tuple[argparse.ArgumentParser, dict[str, Command]]:
    import dorm

    parser = argparse.ArgumentParser(
        prog="dorm",
        description="dorm's command line: project set-up, migrations, shells.",
    )
    parser.add_argument("--version", action="version", version=f"dorm {dorm.__version__}")
    _common_options(parser, suppress=False)
    subparsers = parser.add_subparsers(dest="subcommand", metavar="COMMAND")
    commands: dict[str, Command] = {}
    for name, cls in COMMANDS.items():
        command = cls(stdout, stderr)
        sub = subparsers.add_parser(name, help=cls.help, description=cls.help)
        _common_options(sub, suppress=True)
        command.add_arguments(sub)
        commands[name] = command
    return parser, commands


def setup(settings_module: str | None = None) -> None:
    """Load settings (unless configured already and no module is named) for a command."""
    from dorm.conf import load_settings_module, settings

    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    if settings_module:
        load_settings_module(settings_module)
    elif not settings.configured:
        load_settings_module()


def _prepare(
    name: str,
    args: Sequence[str],
    options: dict[str, Any],
    stdout: IO[str] | None,
    stderr: IO[str] | None,
) -> tuple[Command, dict[str, Any]]:
    parser, commands = build_parser(stdout, stderr)
    if name not in commands:
        raise CommandError(f"Unknown command {name!r}. Commands: {', '.join(commands)}.")
    command = commands[name]
    sub = _subparser(parser, name)
    try:
        parsed = vars(sub.parse_args([str(a) for a in args]))
    except SystemExit as exc:
        raise CommandError(f"Invalid arguments for {name}: {list(args)}", returncode=2) from exc
    valid = {a.dest for a in sub._actions} | {"settings", "traceback"}
    unknown = set(options) - valid
    if unknown:
        raise TypeError(
            f"Unknown option(s) for {name}: {', '.join(sorted(unknown))}. "
            f"Valid options: {', '.join(sorted(valid - {'help'}))}."
        )
    parsed.update(options)
    parsed.setdefault("settings", None)
    parsed.setdefault("traceback", False)
    if command.needs_settings:
        try:
            setup(parsed.get("settings"))
        except DormError as exc:
            raise CommandError(str(exc)) from exc
    return command, parsed


def _subparser(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action.choices[name]  # type: ignore[no-any-return]
    raise KeyError(name)  # pragma: no cover


def call_command(
    name: str,
    /,
    *args: Any,
    stdout: IO[str] | None = None,
    stderr: IO[str] | None = None,
    **options: Any,
) -> Any:
    """Run a command in-process: ``call_command("migrate", "shop", "zero", fake=True)``.

    Positional ``args`` are parsed like the command line; keyword options use the
    argument names (``dry_run=True``, ``database="other"``). Returns the command's result
    (e.g. the plan ``migrate`` ran, the files ``makemigrations`` wrote); failures raise
    :class:`CommandError`.
    """
    command, parsed = _prepare(name, args, options, stdout, stderr)
    return command.handle(**parsed)


async def acall_command(
    name: str,
    /,
    *args: Any,
    stdout: IO[str] | None = None,
    stderr: IO[str] | None = None,
    **options: Any,
) -> Any:
    """Async :func:`call_command`: ``await acall_command("migrate")`` applies migrations on
    the async connections (commands without database I/O just run)."""
    command, parsed = _prepare(name, args, options, stdout, stderr)
    return await command.ahandle(**parsed)


def main(argv: Sequence[str] | None = None) -> int:
    """The ``dorm`` console script; returns the exit status."""
    parser, commands = build_parser()
    args = list(sys.argv[1:] if argv is None else argv)
    parsed = parser.parse_args(args)
    if not parsed.subcommand:
        parser.print_help()
        return 2
    command = commands[parsed.subcommand]
    options = vars(parsed)
    name = options.pop("subcommand")
    traceback = options.get("traceback")
    try:
        if command.needs_settings:
            try:
                setup(options.get("settings"))
            except DormError as exc:
                raise CommandError(str(exc)) from exc
        command.handle(**options)
    except CommandError as exc:
        if traceback:
            raise
        sys.stderr.write(f"dorm {name}: error: {exc}\n")
        return exc.returncode
    except DormError as exc:
        if traceback:
            raise
        sys.stderr.write(f"dorm {name}: error: {type(exc).__name__}: {exc}\n")
        return 1
    except KeyboardInterrupt:
        return 130
    finally:
        try:
            from dorm.db import close_all

            close_all()
        except Exception:
            pass
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
