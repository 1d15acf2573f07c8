"""Materialized views at run time: refresh one from application code, sync or async.

A materialized view is created by a migration (``CreateMaterializedView``); a read-only
model maps onto it with ``Meta.managed = False`` (so migrations never create or alter a
table for it)::

    class ActiveAuthor(dorm.Model):
        id = dorm.BigIntegerField(primary_key=True)
        name = dorm.CharField(max_length=100)

        class Meta:
            managed = False
            db_table = "active_authors"

    refresh_materialized_view(ActiveAuthor)                     # or "active_authors"
    await arefresh_materialized_view("active_authors", concurrently=True)

PostgreSQL itself refuses writes to a materialized view (``ProgrammingError``).
"""

from __future__ import annotations

from typing import Any

from dorm.exceptions import NotSupportedError
from dorm_postgres.migration_operations import refresh_materialized_view_sql

__all__ = ["arefresh_materialized_view", "refresh_materialized_view"]


def _target(view: Any, using: str | None) -> tuple[str, str]:
    """(view name, alias) for a view name or a model mapped onto a view."""
    from dorm.conf import DEFAULT_DB_ALIAS

    meta = getattr(view, "_meta", None)
    if meta is not None:
        name = meta.db_table
        if using is None:
            from dorm.db import router

            using = router.db_for_write(view)
    elif isinstance(view, str) and view.strip():
        name = view
    else:
        raise TypeError(
            f"refresh_materialized_view() takes a view name or a model mapped onto a view, "
            f"got {view!r}."
        )
    return name, using or DEFAULT_DB_ALIAS


def _sql(connection: Any, name: str, concurrently: bool, function: str) -> str:
    if getattr(connection, "vendor", None) != "postgresql" and not getattr(
        getattr(connection, "features", None), "supports_materialized_views", False
    ):
        raise NotSupportedError(
            f"{function}() needs materialized views, which the "
            f"{getattr(connection, 'vendor', 'unknown')!r} backend of database "
            f"{connection.alias!r} does not support (PostgreSQL only)."
        )
    return refresh_materialized_view_sql(name, concurrently, connection.ops.quote_name)


def refresh_materialized_view(
    view: Any, concurrently: bool = False, using: str | None = None
) -> None:
    """``REFRESH MATERIALIZED VIEW [CONCURRENTLY] view`` on ``using`` (default: the
    model's write database, else ``default``).

    ``concurrently=True`` keeps the view readable during the refresh; PostgreSQL requires
    a unique index on the view for it, and the error says so when there is none. Inside
    ``atomic()`` the refresh commits (or rolls back) with the block.
    """
    from dorm.db import connections

    name, alias = _target(view, using)
    connection = connections[alias]
    connection.execute(_sql(connection, name, concurrently, "refresh_materialized_view"))


async def arefresh_materialized_view(
    view: Any, concurrently: bool = False, using: str | None = None
) -> None:
    """Async :func:`refresh_materialized_view`, on the async connection of ``using``."""
    from dorm.db import async_connections

    name, alias = _target(view, using)
    connection = async_connections[alias]
    await connection.execute(_sql(connection, name, concurrently, "arefresh_materialized_view"))
