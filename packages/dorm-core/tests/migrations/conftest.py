"""Fixtures of the migration tests.

``project`` — a throw-away project in ``tmp_path``: apps are packages written there (their
``models.py`` rewritten by each test step), ``INSTALLED_APPS`` lists them, and the database
is the one of ``tests/conftest.py``'s ``db`` fixture (SQLite by default, PostgreSQL through
``DORM_TEST_DATABASE_ENGINE``). Nothing here is SQLite-specific except
:meth:`Project.tables`, which asks the catalog of whichever database runs.

App labels are prefixed ``mig_`` so they never meet the models of other test packages in
the global registry.
"""

from __future__ import annotations

import io
import sys
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

import dorm
from dorm.apps import apps
from dorm.cli import CommandError
from dorm.db import connections


class Project:
    """A project directory with apps, configured as dorm's settings."""

    def __init__(self, root: Path, db: Any, app_labels: list[str]) -> None:
        self.root = root
        self.db = db
        self.app_labels = app_labels
        self.output = io.StringIO()

    # Files and models -------------------------------------------------------------------

    def configure(self, **extra: Any) -> None:
        dorm.configure(
            DATABASES=extra.pop("DATABASES", {"default": self.db.settings}),
            INSTALLED_APPS=list(self.app_labels),
            **extra,
        )

    def write_models(self, app: str, source: str) -> Any:
        """(Re)write ``app/models.py`` and import it afresh; returns the module."""
        package = self.root / app
        package.mkdir(exist_ok=True)
        (package / "__init__.py").touch()
        (package / "models.py").write_text(
            "import dorm\n\n" + textwrap.dedent(source), encoding="utf-8"
        )
        return self.reload(app)

    def reload(self, app: str | None = None) -> Any:
        labels = [app] if app else self.app_labels
        module = None
        for label in labels:
            apps.all_models.pop(label, None)
            sys.modules.pop(f"{label}.models", None)
        for label in labels:
            if (self.root / label / "models.py").exists():
                module = __import__(f"{label}.models", fromlist=["*"])
        return module

    def models(self, app: str) -> Any:
        return sys.modules[f"{app}.models"]

    def migration_files(self, app: str) -> list[str]:
        directory = self.root / app / "migrations"
        return sorted(p.name for p in directory.glob("0*.py")) if directory.exists() else []

    def write_migration(self, app: str, name: str, source: str) -> Path:
        directory = self.root / app / "migrations"
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "__init__.py").touch()
        path = directory / f"{name}.py"
        path.write_text(textwrap.dedent(source), encoding="utf-8")
        return path

    # Commands ---------------------------------------------------------------------------

    def call(self, name: str, /, *args: Any, **options: Any) -> Any:
        self.output = io.StringIO()
        return dorm.call_command(name, *args, stdout=self.output, **options)

    async def acall(self, name: str, /, *args: Any, **options: Any) -> Any:
        self.output = io.StringIO()
        return await dorm.acall_command(name, *args, stdout=self.output, **options)

    def makemigrations(self, *args: Any, **options: Any) -> Any:
        return self.call("makemigrations", *args, **options)

    def migrate(self, *args: Any, **options: Any) -> Any:
        return self.call("migrate", *args, **options)

    def assert_no_changes(self) -> None:
        try:
            self.call("makemigrations", check=True)
        except CommandError as exc:
            raise AssertionError(
                f"makemigrations --check found changes:\n{self.output.getvalue()}"
            ) from exc
        assert "No changes detected" in self.output.getvalue()

    # Database ---------------------------------------------------------------------------

    def tables(self, alias: str = "default") -> set[str]:
        conn = connections[alias]
        if conn.vendor == "sqlite":
            rows = conn.fetchall(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%%'"
            )
        else:
            rows = conn.fetchall(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = current_schema()"
            )
        return {r[0] for r in rows}

    def app_tables(self, alias: str = "default") -> set[str]:
        return {t for t in self.tables(alias) if t.startswith(tuple(self.app_labels))}

    def applied(self, alias: str = "default") -> set[tuple[str, str]]:
        from dorm.migrations.recorder import MigrationRecorder

        return MigrationRecorder(alias).applied_migrations()

    def cleanup(self) -> None:
        """Unapply everything (so a shared server is left clean) and forget the modules."""
        try:
            if self.applied():
                for label in self.app_labels:
                    if self.migration_files(label):
                        try:
                            self.call("migrate", label, "zero")
                        except Exception:
                            pass
        except Exception:
            pass
        for label in self.app_labels:
            apps.all_models.pop(label, None)
            for name in [m for m in sys.modules if m == label or m.startswith(label + ".")]:
                del sys.modules[name]


@pytest.fixture
async def project(db: Any, tmp_path: Path) -> AsyncIterator[Project]:
    """A project with apps ``mig_shop`` and ``mig_crm`` (no models yet) on the test DB."""
    root = tmp_path / "project"
    root.mkdir()
    sys.path.insert(0, str(root))
    proj = Project(root, db, ["mig_crm", "mig_shop"])
    for label in proj.app_labels:
        (root / label).mkdir()
        (root / label / "__init__.py").touch()
    proj.configure()
    if not db.is_sqlite:
        _drop_leftovers(proj)
    try:
        yield proj
    finally:
        proj.cleanup()
        sys.path.remove(str(root))


def _drop_leftovers(proj: Project) -> None:
    """Tables of an interrupted earlier run on a shared server."""
    conn = connections["default"]
    for table in proj.tables():
        if table.startswith(tuple(proj.app_labels)) or table in ("dorm_migrations",):
            conn.execute(f"DROP TABLE IF EXISTS {conn.ops.quote_name(table)} CASCADE")
