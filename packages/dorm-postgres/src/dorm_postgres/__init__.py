"""PostgreSQL backend for dorm: psycopg 3 for sync and async code, psycopg-pool pools.

Registered as the ``postgresql`` engine in ``djanorm.backends`` and
``djanorm.async_backends``::

    dorm.configure(DATABASES={"default": {
        "ENGINE": "postgresql",
        "NAME": "app", "USER": "app", "HOST": "127.0.0.1",
        "OPTIONS": {"pool": {"min_size": 1, "max_size": 10}},
    }})

PostgreSQL-only fields live in :mod:`dorm_postgres.fields` (``ArrayField``).
"""

from dorm_postgres.async_base import AsyncDatabaseWrapper
from dorm_postgres.base import DatabaseWrapper, close_pools

__all__ = ["AsyncDatabaseWrapper", "DatabaseWrapper", "close_pools"]
