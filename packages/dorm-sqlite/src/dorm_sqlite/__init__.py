"""SQLite backend for dorm: ``sqlite3`` for sync code, ``aiosqlite`` for async code.

Registered as the ``sqlite`` engine in ``djanorm.backends`` and ``djanorm.async_backends``.
"""

from dorm_sqlite.async_base import AsyncDatabaseWrapper
from dorm_sqlite.base import DatabaseWrapper

__all__ = ["AsyncDatabaseWrapper", "DatabaseWrapper"]
