"""psycopg errors -> ``dorm.exceptions``, by SQLSTATE.

PostgreSQL reports every server error with a five-character SQLSTATE whose first two
characters are its class (``23`` integrity violation, ``40`` transaction rollback, ``08``
connection exception, ...). The class decides the dorm exception; a few codes get their
own (``40001`` -> :class:`~dorm.exceptions.SerializationFailure`, ``40P01`` ->
:class:`~dorm.exceptions.DeadlockDetected`). Errors raised by psycopg itself (no SQLSTATE)
fall back to their PEP 249 class. The psycopg error is always kept as ``__cause__`` and its
SQLSTATE as the ``sqlstate`` attribute.
"""

from __future__ import annotations

from typing import Any

import psycopg

from dorm import exceptions
from dorm.db.backends.base import translate_error as translate_by_name

__all__ = ["is_disconnect_error", "translate"]

#: SQLSTATE -> dorm exception, checked before the class table.
BY_SQLSTATE: dict[str, type[exceptions.Error]] = {
    "40001": exceptions.SerializationFailure,
    "40P01": exceptions.DeadlockDetected,
    "57014": exceptions.OperationalError,  # query_canceled (statement_timeout, cancel)
    "55P03": exceptions.OperationalError,  # lock_not_available (NOWAIT, lock_timeout)
}

#: SQLSTATE class (first two characters) -> dorm exception.
BY_CLASS: dict[str, type[exceptions.Error]] = {
    "08": exceptions.OperationalError,  # connection exception
    "0A": exceptions.NotSupportedError,  # feature not supported
    "22": exceptions.DataError,  # data exception
    "23": exceptions.IntegrityError,  # integrity constraint violation
    "25": exceptions.InternalError,  # invalid transaction state
    "28": exceptions.OperationalError,  # invalid authorization specification
    "3D": exceptions.ProgrammingError,  # invalid catalog name (no such database)
    "3F": exceptions.ProgrammingError,  # invalid schema name
    "40": exceptions.OperationalError,  # transaction rollback
    "42": exceptions.ProgrammingError,  # syntax error or access rule violation
    "53": exceptions.OperationalError,  # insufficient resources
    "54": exceptions.OperationalError,  # program limit exceeded
    "55": exceptions.OperationalError,  # object not in prerequisite state
    "57": exceptions.OperationalError,  # operator intervention (shutdown, cancel)
    "58": exceptions.OperationalError,  # system error
    "XX": exceptions.InternalError,  # internal error
}

#: SQLSTATEs meaning the server ended the session.
_SESSION_GONE = {"57P01", "57P02", "57P03", "57P05"}

_RETRY_HINTS = {
    "40001": "the transaction lost a serialization race with a concurrent one; "
    "retrying the whole transaction may succeed",
    "40P01": "PostgreSQL broke a deadlock by aborting this transaction; "
    "retrying the whole transaction may succeed",
}


def is_disconnect_error(error: BaseException, conn: Any = None) -> bool:
    """Whether a psycopg error means the connection is gone (never reuse it)."""
    if conn is not None and getattr(conn, "closed", False):
        return True
    if isinstance(error, psycopg.InterfaceError):
        return True
    if not isinstance(error, psycopg.OperationalError):
        return False
    state = getattr(error, "sqlstate", None)
    if state is None:
        # Raised by libpq/psycopg, not by the server: the socket failed.
        return True
    return state.startswith("08") or state in _SESSION_GONE


def translate(error: BaseException, alias: str, conn: Any = None) -> exceptions.Error | None:
    """The dorm exception for a psycopg exception (``None`` if it is not a driver error)."""
    if isinstance(error, exceptions.Error) or not isinstance(error, psycopg.Error):
        return translate_by_name(error)
    state = getattr(error, "sqlstate", None)
    message = str(error).strip() or type(error).__name__
    disconnect = is_disconnect_error(error, conn)
    if disconnect:
        cls: type[exceptions.Error] = (
            exceptions.InterfaceError
            if isinstance(error, psycopg.InterfaceError)
            else exceptions.OperationalError
        )
        message = (
            f"The connection to PostgreSQL (alias {alias!r}) was lost: {message}. "
            "It will not be reused: outside a transaction the next statement runs on a new "
            "connection; a transaction in progress is gone (leave the atomic block and retry it)."
        )
    elif state is not None and (state in BY_SQLSTATE or state[:2] in BY_CLASS):
        cls = BY_SQLSTATE.get(state) or BY_CLASS[state[:2]]
        hint = _RETRY_HINTS.get(state)
        if hint:
            message = f"{message} (SQLSTATE {state}: {hint})"
    else:
        fallback = translate_by_name(error)
        if fallback is None:
            return None
        cls = type(fallback)
    dorm_error = cls(message)
    dorm_error.sqlstate = state  # type: ignore[attr-defined]
    dorm_error.connection_lost = disconnect  # type: ignore[attr-defined]
    return dorm_error
