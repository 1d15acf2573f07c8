"""Fixtures of dorm-postgres's unit tests: nothing here needs a PostgreSQL server.

SQL is compiled with a wrapper that never connects; what needs a server is tested in
``tests-integration/`` against a real PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import dorm
from dorm.db import close_all, connections

#: A server that is never contacted (port 1): compiling SQL needs no connection.
NOWHERE = {"ENGINE": "postgresql", "NAME": "unit", "HOST": "127.0.0.1", "PORT": 1}


@pytest.fixture
def nowhere() -> dict[str, Any]:
    """A ``DATABASES`` entry for a server that is never contacted."""
    return dict(NOWHERE)


@pytest.fixture
def pg() -> Iterator[Any]:
    """The sync PostgreSQL wrapper of ``default`` (unconnected)."""
    close_all()
    dorm.configure(DATABASES={"default": dict(NOWHERE)})
    try:
        yield connections["default"]
    finally:
        close_all()
