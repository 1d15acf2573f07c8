"""The ``Migration`` base class that migration files subclass."""

from __future__ import annotations

import inspect
from collections.abc import Generator
from typing import Any, ClassVar

from dorm.migrations.exceptions import IrreversibleError, MigrationError

#: What :meth:`Migration.database_steps` yields (see there).
Step = tuple[Any, ...]


class Migration:
    """One migration file's ``Migration`` class::

        class Migration(migrations.Migration):
            dependencies = [("shop", "0001_initial")]
            operations = [migrations.AddField("author", "age", dorm.IntegerField(default=0))]

    ``atomic = False`` runs it outside a transaction (by default each migration runs in its
    own transaction where the backend can roll DDL back).
    """

    operations: ClassVar[list[Any]] = []
    dependencies: ClassVar[list[tuple[str, str]]] = []
    run_before: ClassVar[list[tuple[str, str]]] = []
    replaces: ClassVar[list[tuple[str, str]]] = []
    initial: ClassVar[bool | None] = None
    atomic: ClassVar[bool] = True

    def __init__(self, name: str, app_label: str) -> None:
        self.name = name
        self.app_label = app_label
        # Copies, so that a loaded migration never mutates its class.
        self.operations = list(type(self).operations)  # type: ignore[misc]
        self.dependencies = [tuple(d) for d in type(self).dependencies]  # type: ignore[misc]
        self.run_before = [tuple(d) for d in type(self).run_before]  # type: ignore[misc]
        self.replaces = [tuple(d) for d in type(self).replaces]  # type: ignore[misc]

    @property
    def key(self) -> tuple[str, str]:
        return (self.app_label, self.name)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Migration) and self.key == other.key

    def __hash__(self) -> int:
        return hash(self.key)

    def __repr__(self) -> str:
        return f"<Migration {self.app_label}.{self.name}>"

    def __str__(self) -> str:
        return f"{self.app_label}.{self.name}"

    def mutate_state(self, project_state: Any, preserve: bool = True) -> Any:
        """The state after this migration (a copy unless ``preserve=False``)."""
        new_state = project_state.clone() if preserve else project_state
        for operation in self.operations:
            operation.state_forwards(self.app_label, new_state)
        return new_state

    def code_modes(self, backwards: bool = False) -> set[str]:
        """``{"sync"}``/``{"async"}`` when operations run Python code of that kind."""
        modes = {op.code_mode(backwards) for op in self.operations}
        modes.discard(None)
        if len(modes) > 1:
            raise MigrationError(
                f"{self} mixes sync and async RunPython code; make all of its RunPython "
                "functions sync, or all async."
            )
        return modes  # type: ignore[return-value,unused-ignore]

    def database_steps(
        self,
        project_state: Any,
        schema_editor: Any,
        backwards: bool = False,
        collect: bool = False,
    ) -> Generator[Step, Any, Any]:
        """Apply (or unapply) the operations, as a sequence of steps; returns the new state.

        ``project_state`` is the state before this migration. Yields:

        * ``("operation", operation)`` before each operation's statements;
        * ``("sql", sql, params)`` for each statement to run;
        * ``("await", awaitable)`` when an operation returned one (async ``RunPython``).

        Each operation's statements are built (by the schema editor, in buffering mode)
        before they are yielded, and run before the next operation is built, so Python code
        of ``RunPython`` sees the schema of the operations before it. Nothing here does I/O:
        the executor's sync or async runner (or ``sqlmigrate``'s collector) does.

        ``collect=True`` (``sqlmigrate``) skips the database side of operations that are not
        SQL (``RunPython``): they are only announced.
        """
        if not backwards:
            for operation in self.operations:
                old_state = project_state.clone()
                operation.state_forwards(self.app_label, project_state)
                yield ("operation", operation)
                if collect and not operation.reduces_to_sql:
                    continue
                yield from _operation_steps(
                    schema_editor,
                    operation.database_forwards,
                    self.app_label,
                    old_state,
                    project_state,
                )
            return project_state
        to_run: list[tuple[Any, Any, Any]] = []
        new_state = project_state
        for operation in self.operations:
            if not operation.reversible:
                raise IrreversibleError(
                    f"Operation {operation.describe()!r} in {self} is not reversible."
                )
            new_state = new_state.clone()
            old_state = new_state.clone()
            operation.state_forwards(self.app_label, new_state)
            to_run.insert(0, (operation, old_state, new_state))
        for operation, to_state, from_state in to_run:
            yield ("operation", operation)
            if collect and not operation.reduces_to_sql:
                continue
            yield from _operation_steps(
                schema_editor, operation.database_backwards, self.app_label, from_state, to_state
            )
        return project_state

    def apply(self, project_state: Any, schema_editor: Any) -> Any:
        """Run the operations through a sync schema editor (Django's ``Migration.apply``)."""
        return _run_steps(self.database_steps(project_state, schema_editor), schema_editor)

    def unapply(self, project_state: Any, schema_editor: Any) -> Any:
        return _run_steps(
            self.database_steps(project_state, schema_editor, backwards=True), schema_editor
        )


def _operation_steps(
    schema_editor: Any, method: Any, app_label: str, from_state: Any, to_state: Any
) -> Generator[Step, Any, None]:
    box: list[Any] = []
    statements = schema_editor.collect(
        lambda: box.append(method(app_label, schema_editor, from_state, to_state))
    )
    for sql, params in statements:
        yield ("sql", sql, params)
    if box and inspect.isawaitable(box[0]):
        yield ("await", box[0])


def _run_steps(steps: Generator[Step, Any, Any], schema_editor: Any) -> Any:
    try:
        step = next(steps)
        while True:
            if step[0] == "sql":
                schema_editor.execute(step[1], step[2] or None)
            elif step[0] == "await":
                _close(step[1])
                raise MigrationError(
                    "This migration runs async RunPython code: apply it with the async "
                    "executor (await executor.amigrate(...))."
                )
            step = next(steps)
    except StopIteration as stop:
        return stop.value


def _close(awaitable: Any) -> None:
    close = getattr(awaitable, "close", None)
    if close is not None:
        close()
