"""The base of every migration operation (the contract plugin operations implement too)."""

from __future__ import annotations

from typing import Any


class Operation:
    """One step of a migration.

    An operation changes the project state (:meth:`state_forwards`) and the database
    (:meth:`database_forwards` / :meth:`database_backwards`). Database methods only call
    the schema editor (``schema_editor.add_field(...)``, ``schema_editor.execute(sql)``):
    the executor decides whether those statements run on a sync connection, an async one,
    or are only printed (``sqlmigrate``), so an operation is written once for all three.

    ``database_forwards`` may return an awaitable (``RunPython`` with ``async def`` code);
    the executor awaits it on the async path.

    Subclasses (also third-party ones, published through the ``djanorm.migration_operations``
    entry-point group) implement the four methods and :meth:`describe`.
    """

    #: Whether database_backwards is implemented.
    reversible = True
    #: Whether the operation is pure SQL (``sqlmigrate`` can show it).
    reduces_to_sql = True
    #: Whether the operation must run outside a transaction-less migration (unused by core).
    atomic = False
    #: Whether squashing may drop the operation.
    elidable = False

    _constructor_args: tuple[tuple[Any, ...], dict[str, Any]]

    def __new__(cls, *args: Any, **kwargs: Any) -> Operation:
        self = object.__new__(cls)
        self._constructor_args = (args, kwargs)
        return self

    def deconstruct(self) -> tuple[str, list[Any], dict[str, Any]]:
        """(class name, args, kwargs) that rebuild the operation; used by the writer."""
        args, kwargs = self._constructor_args
        return type(self).__name__, list(args), dict(kwargs)

    def state_forwards(self, app_label: str, state: Any) -> None:
        raise NotImplementedError(f"{type(self).__name__} must implement state_forwards().")

    def database_forwards(
        self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any
    ) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must implement database_forwards().")

    def database_backwards(
        self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any
    ) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must implement database_backwards().")

    def describe(self) -> str:
        return f"{type(self).__name__}: {self._constructor_args}"

    @property
    def migration_name_fragment(self) -> str | None:
        """A short name for a migration holding only this operation (``None``: none)."""
        return None

    def code_mode(self, backwards: bool = False) -> str | None:
        """``"sync"``/``"async"`` when the operation runs user Python code of that kind."""
        return None

    def allow_migrate_model(self, connection_alias: str, model: Any) -> bool:
        """Whether the router lets this alias get ``model``'s table (managed models only)."""
        from dorm.db import router

        return router.allow_migrate_model(connection_alias, model)

    def __repr__(self) -> str:
        args, kwargs = self._constructor_args
        parts = [repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()]
        return f"<{type(self).__name__} {', '.join(parts)}>"
