"""Migration operations.

The core operations are defined here. Other distributions add theirs through the
``djanorm.migration_operations`` entry-point group (name -> ``module:Class``), resolved
lazily on first access, so ``from dorm.migrations.operations import CreateMaterializedView``
works once ``dorm-postgres`` is installed, and fails with a message naming the distribution
to install when it is not.
"""

from __future__ import annotations

import threading
from importlib.metadata import entry_points
from typing import Any

from dorm.migrations.operations.base import Operation
from dorm.migrations.operations.fields import AddField, AlterField, RemoveField, RenameField
from dorm.migrations.operations.models import (
    AddConstraint,
    AddIndex,
    AlterModelOptions,
    AlterModelTable,
    AlterUniqueTogether,
    CreateModel,
    DeleteModel,
    RemoveConstraint,
    RemoveIndex,
    RenameModel,
)
from dorm.migrations.operations.special import RunPython, RunSQL, SeparateDatabaseAndState

ENTRY_POINT_GROUP = "djanorm.migration_operations"

#: Operations shipped by first-party distributions -> the distribution to install.
FIRST_PARTY_OPERATIONS = {
    "CreateMaterializedView": "dorm-postgres",
    "RefreshMaterializedView": "dorm-postgres",
    "DropMaterializedView": "dorm-postgres",
    "CreatePartitionedTable": "dorm-postgres",
    "CreatePartition": "dorm-postgres",
    "AttachPartition": "dorm-postgres",
    "DetachPartition": "dorm-postgres",
}

__all__ = [
    "AddConstraint",
    "AddField",
    "AddIndex",
    "AlterField",
    "AlterModelOptions",
    "AlterModelTable",
    "AlterUniqueTogether",
    "CreateModel",
    "DeleteModel",
    "Operation",
    "RemoveConstraint",
    "RemoveField",
    "RemoveIndex",
    "RenameField",
    "RenameModel",
    "RunPython",
    "RunSQL",
    "SeparateDatabaseAndState",
    "plugin_operations",
]

_lock = threading.Lock()
_plugins: dict[str, Any] = {}


def plugin_operations() -> dict[str, str]:
    """Operation names published in the entry-point group -> ``module:attr``."""
    return {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}


class MissingOperationError(ImportError):
    """A first-party operation whose distribution is not installed (or failed to load).

    An ImportError rather than an AttributeError, so that ``from dorm.migrations.operations
    import X`` shows this message instead of Python's generic one.
    """


def __getattr__(name: str) -> Any:
    if name.startswith("__"):
        raise AttributeError(name)
    with _lock:
        if name in _plugins:
            return _plugins[name]
        matches = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == name]
        if matches:
            try:
                value = matches[0].load()
            except Exception as exc:
                raise MissingOperationError(
                    f"The migration operation {name!r} is registered by "
                    f"{matches[0].value!r} but failed to load: {exc}"
                ) from exc
            _plugins[name] = value
            return value
    dist = FIRST_PARTY_OPERATIONS.get(name)
    if dist is not None:
        raise MissingOperationError(
            f"The migration operation {name!r} is provided by the {dist!r} distribution, "
            f"which is not installed. Install it with: pip install {dist}",
            name=__name__,
        )
    plugins = sorted(plugin_operations())
    raise AttributeError(
        f"dorm.migrations.operations has no operation {name!r}. Core operations: "
        f"{', '.join(a for a in __all__ if a[0].isupper() and a != 'Operation')}"
        + (f"; from plugins: {', '.join(plugins)}" if plugins else "")
        + f". Third-party operations register in the {ENTRY_POINT_GROUP!r} entry-point group.",
        name=name,
        obj=None,
    )
