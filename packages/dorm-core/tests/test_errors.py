"""Driver errors surface as ``dorm.exceptions`` (PEP 249 names) with the driver error as cause."""

from __future__ import annotations

from typing import Any

import pytest

from dorm import exceptions
from dorm.db import async_connections, connections
from dorm.db.backends.base import translate_error
from dorm.exceptions import (
    DatabaseError,
    DormError,
    Error,
    IntegrityError,
    OperationalError,
    ProgrammingError,
)

COLUMNS = "n integer NOT NULL UNIQUE, tag varchar(20)"
INSERT = "INSERT INTO item (n, tag) VALUES (%s, %s)"


def assert_wraps_driver_error(exc: BaseException, pep249_name: str) -> None:
    cause = exc.__cause__
    assert cause is not None, "the driver error must be kept as __cause__"
    assert not isinstance(cause, DormError)
    assert pep249_name in {cls.__name__ for cls in type(cause).__mro__}
    assert str(cause) and str(cause) in str(exc)


@pytest.fixture
def item(db: Any) -> None:
    db.create_table("item", COLUMNS)
    connections["default"].execute(INSERT, [1, "one"])


def test_hierarchy() -> None:
    assert issubclass(IntegrityError, DatabaseError)
    assert issubclass(OperationalError, DatabaseError)
    assert issubclass(ProgrammingError, DatabaseError)
    assert issubclass(DatabaseError, Error)
    assert issubclass(Error, DormError)
    assert issubclass(exceptions.TransactionManagementError, ProgrammingError)
    assert issubclass(exceptions.SerializationFailure, OperationalError)
    assert issubclass(exceptions.ImproperlyConfigured, DormError)
    assert not issubclass(exceptions.ImproperlyConfigured, Error)


def test_translate_error_matches_pep249_names() -> None:
    class IntegrityErrorOfSomeDriver(Exception):
        pass

    class UniqueViolation(IntegrityErrorOfSomeDriver):
        pass

    # Matched on the PEP 249 class names in the MRO, most specific first.
    IntegrityErrorOfSomeDriver.__name__ = "IntegrityError"
    translated = translate_error(UniqueViolation("duplicate key"))
    assert type(translated) is IntegrityError
    assert translated.args == ("duplicate key",)
    assert translate_error(ValueError("x")) is None
    assert translate_error(IntegrityError("already ours")) is None


def test_unique_violation(item: None) -> None:
    conn = connections["default"]
    with pytest.raises(IntegrityError) as info:
        conn.execute(INSERT, [1, "again"])
    assert_wraps_driver_error(info.value, "IntegrityError")
    # The connection stays usable outside a transaction.
    assert conn.fetchall("SELECT n FROM item") == [(1,)]


def test_not_null_violation(item: None) -> None:
    with pytest.raises(IntegrityError) as info:
        connections["default"].execute(INSERT, [None, "none"])
    assert_wraps_driver_error(info.value, "IntegrityError")


def test_missing_table(db: Any) -> None:
    # SQLite reports it as OperationalError, PostgreSQL as ProgrammingError (UndefinedTable).
    with pytest.raises((OperationalError, ProgrammingError)) as info:
        connections["default"].execute("SELECT * FROM no_such_table")
    assert "no_such_table" in str(info.value)
    assert info.value.__cause__ is not None


def test_wrong_number_of_parameters(item: None) -> None:
    with pytest.raises(ProgrammingError) as info:
        connections["default"].execute(INSERT, [2])
    assert_wraps_driver_error(info.value, "ProgrammingError")


def test_executemany_error(item: None) -> None:
    with pytest.raises(IntegrityError):
        connections["default"].executemany(INSERT, [(2, "two"), (2, "dup")])


async def test_async_unique_violation(item: None) -> None:
    conn = async_connections["default"]
    with pytest.raises(IntegrityError) as info:
        await conn.execute(INSERT, [1, "again"])
    assert_wraps_driver_error(info.value, "IntegrityError")
    assert await conn.fetchall("SELECT n FROM item") == [(1,)]


async def test_async_errors_of_every_api(item: None) -> None:
    conn = async_connections["default"]
    with pytest.raises(IntegrityError):
        await conn.executemany(INSERT, [(2, "two"), (2, "dup")])
    with pytest.raises(IntegrityError):
        await conn.execute_rowcount(INSERT, [1, "again"])
    with pytest.raises(ProgrammingError) as info:
        await conn.fetchall("SELECT n FROM item WHERE n = %s", [1, 2])
    assert_wraps_driver_error(info.value, "ProgrammingError")
    with pytest.raises((OperationalError, ProgrammingError)):
        await conn.fetchone("SELECT * FROM no_such_table")
    with pytest.raises((OperationalError, ProgrammingError)):
        async for _row in conn.iterate("SELECT * FROM no_such_table"):
            pass
    # Failed statements gave their connections back to the pool, usable.
    assert await conn.fetchone("SELECT tag FROM item WHERE n = %s", [1]) == ("one",)
