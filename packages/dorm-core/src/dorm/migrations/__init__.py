"""Schema migrations: state, autodetector, writer, loader, executor.

Migration files import this module as ``from dorm import migrations`` and use
``migrations.Migration`` and the operations (``migrations.CreateModel(...)``), also those
of plugins (``migrations.CreateMaterializedView`` with ``dorm-postgres`` installed).
"""

from __future__ import annotations

from typing import Any

from dorm.migrations.exceptions import (
    AmbiguityError,
    BadMigrationError,
    CircularDependencyError,
    ConflictError,
    InconsistentMigrationHistory,
    InvalidMigrationPlan,
    IrreversibleError,
    MigrationError,
    NodeNotFoundError,
)
from dorm.migrations.migration import Migration
from dorm.migrations.operations import (
    AddConstraint,
    AddField,
    AddIndex,
    AlterField,
    AlterModelOptions,
    AlterModelTable,
    AlterUniqueTogether,
    CreateModel,
    DeleteModel,
    Operation,
    RemoveConstraint,
    RemoveField,
    RemoveIndex,
    RenameField,
    RenameModel,
    RunPython,
    RunSQL,
    SeparateDatabaseAndState,
)

__all__ = [
    "AddConstraint",
    "AddField",
    "AddIndex",
    "AlterField",
    "AlterModelOptions",
    "AlterModelTable",
    "AlterUniqueTogether",
    "AmbiguityError",
    "BadMigrationError",
    "CircularDependencyError",
    "ConflictError",
    "CreateModel",
    "DeleteModel",
    "InconsistentMigrationHistory",
    "InvalidMigrationPlan",
    "IrreversibleError",
    "Migration",
    "MigrationError",
    "MigrationExecutor",
    "MigrationLoader",
    "MigrationRecorder",
    "NodeNotFoundError",
    "Operation",
    "ProjectState",
    "RemoveConstraint",
    "RemoveField",
    "RemoveIndex",
    "RenameField",
    "RenameModel",
    "RunPython",
    "RunSQL",
    "SeparateDatabaseAndState",
]

_LAZY = {
    "MigrationExecutor": "dorm.migrations.executor",
    "MigrationLoader": "dorm.migrations.loader",
    "MigrationRecorder": "dorm.migrations.recorder",
    "MigrationAutodetector": "dorm.migrations.autodetector",
    "MigrationWriter": "dorm.migrations.writer",
    "ProjectState": "dorm.migrations.state",
    "ModelState": "dorm.migrations.state",
}


def __getattr__(name: str) -> Any:
    import importlib

    module = _LAZY.get(name)
    if module is not None:
        return getattr(importlib.import_module(module), name)
    if name.startswith("__"):
        raise AttributeError(name)
    # Operations published by plugins (dorm.migrations.operations resolves them).
    from dorm.migrations import operations

    return getattr(operations, name)
