"""psycopg errors become ``dorm.exceptions`` by SQLSTATE, with the cause kept."""

from __future__ import annotations

from typing import Any

import psycopg
import psycopg_pool
import pytest
from psycopg import errors as pg

from dorm import exceptions
from dorm_postgres.errors import is_disconnect_error, translate


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (pg.UniqueViolation("dup"), exceptions.IntegrityError),
        (pg.ForeignKeyViolation("fk"), exceptions.IntegrityError),
        (pg.CheckViolation("check"), exceptions.IntegrityError),
        (pg.NotNullViolation("null"), exceptions.IntegrityError),
        (pg.ExclusionViolation("excl"), exceptions.IntegrityError),
        (pg.SerializationFailure("race"), exceptions.SerializationFailure),
        (pg.DeadlockDetected("deadlock"), exceptions.DeadlockDetected),
        (pg.LockNotAvailable("nowait"), exceptions.OperationalError),
        (pg.QueryCanceled("timeout"), exceptions.OperationalError),
        (pg.DivisionByZero("zero"), exceptions.DataError),
        (pg.NumericValueOutOfRange("big"), exceptions.DataError),
        (pg.UndefinedTable("no table"), exceptions.ProgrammingError),
        (pg.SyntaxError("syntax"), exceptions.ProgrammingError),
        (pg.InFailedSqlTransaction("aborted"), exceptions.InternalError),
        (pg.FeatureNotSupported("nope"), exceptions.NotSupportedError),
        (pg.TooManyConnections("full"), exceptions.OperationalError),
    ],
)
def test_server_errors_by_sqlstate(error: psycopg.Error, expected: type[Exception]) -> None:
    result = translate(error, "default")
    assert type(result) is expected
    assert result.sqlstate == error.sqlstate  # type: ignore[union-attr]
    assert result.connection_lost is False  # type: ignore[union-attr]
    assert str(error) in str(result)


def test_retryable_errors_say_so() -> None:
    for error in (pg.SerializationFailure("race"), pg.DeadlockDetected("deadlock")):
        result = translate(error, "default")
        assert isinstance(result, exceptions.OperationalError)
        assert "retrying the whole transaction may succeed" in str(result)


@pytest.mark.parametrize(
    "error",
    [
        psycopg.OperationalError("server closed the connection unexpectedly"),
        pg.AdminShutdown("terminating connection due to administrator command"),
        pg.ConnectionFailure("connection failure"),
        psycopg.InterfaceError("the connection is closed"),
    ],
)
def test_connection_loss(error: psycopg.Error) -> None:
    assert is_disconnect_error(error)
    result = translate(error, "reports")
    assert isinstance(result, exceptions.OperationalError | exceptions.InterfaceError)
    assert result.connection_lost  # type: ignore[union-attr]
    assert "'reports'" in str(result) and "was lost" in str(result)


def test_statement_errors_are_not_disconnects() -> None:
    assert not is_disconnect_error(pg.UniqueViolation("dup"))
    assert not is_disconnect_error(pg.QueryCanceled("timeout"))


def test_non_driver_errors_pass_through() -> None:
    assert translate(ValueError("x"), "default") is None
    assert translate(exceptions.IntegrityError("x"), "default") is None


def test_the_wrapper_keeps_the_cause(pg: Any) -> None:
    error = psycopg.errors.UniqueViolation("dup")
    with pytest.raises(exceptions.IntegrityError) as info, pg.errors:
        raise error
    assert info.value.__cause__ is error
    assert pg.is_disconnect(translate(psycopg.OperationalError("gone"), "default"))
    assert not pg.is_disconnect(translate(error, "default"))


def test_pool_timeout_is_not_a_generic_operational_error() -> None:
    # psycopg_pool's own timeout is translated where the pool is used (naming alias and
    # size); reaching the generic path it is at least an OperationalError.
    result = translate(psycopg_pool.PoolTimeout("timeout"), "default")
    assert isinstance(result, exceptions.OperationalError)
