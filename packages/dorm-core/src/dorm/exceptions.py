"""The one exception hierarchy of dorm.

Database errors follow PEP 249's names; backends wrap their driver's errors into these
classes and keep the driver error as ``__cause__``.
"""

from __future__ import annotations

from typing import Any


class DormError(Exception):
    """Base class of every error dorm raises on its own."""


class ImproperlyConfigured(DormError):
    """Settings are missing, malformed or name something that is not installed."""


class FieldError(DormError):
    """A field name, lookup or expression is not valid for the model."""


class FieldDoesNotExist(FieldError):
    """The model has no field of that name."""


class ObjectDoesNotExist(DormError):
    """A query expected one object and found none (``Model.DoesNotExist`` derives from it)."""

    silent_variable_failure = True


class MultipleObjectsReturned(DormError):
    """A query expected one object and found several."""


class EmptyResultSet(DormError):
    """A query can match nothing; the compiler uses it to skip the round trip."""


class ValidationError(DormError):
    """One or more values failed validation.

    ``message_dict`` maps field names to lists of messages when the error is per field;
    ``messages`` is always the flat list.
    """

    def __init__(self, message: Any, code: str | None = None, params: dict[str, Any] | None = None):
        self.code = code
        self.params = params
        if isinstance(message, ValidationError):
            self.error_dict = getattr(message, "error_dict", None)
            self.error_list = message.error_list
            if self.error_dict is None:
                del self.error_dict
            message = message.messages
        if isinstance(message, dict):
            self.error_dict: dict[str, list[str]] = {}
            for field, msgs in message.items():
                if isinstance(msgs, ValidationError):
                    msgs = msgs.messages
                elif not isinstance(msgs, (list, tuple)):
                    msgs = [msgs]
                self.error_dict[field] = [str(m) for m in msgs]
            self.error_list = [m for msgs in self.error_dict.values() for m in msgs]
        elif isinstance(message, (list, tuple)):
            flat: list[str] = []
            for m in message:
                flat.extend(m.messages if isinstance(m, ValidationError) else [str(m)])
            self.error_list = flat
        else:
            text = str(message)
            if params:
                text = text % params
            self.error_list = [text]
        super().__init__(self.message_dict if hasattr(self, "error_dict") else self.error_list)

    @property
    def messages(self) -> list[str]:
        return list(self.error_list)

    @property
    def message_dict(self) -> dict[str, list[str]]:
        if not hasattr(self, "error_dict"):
            raise AttributeError("ValidationError has no per-field messages (no message_dict)")
        return dict(self.error_dict)

    def __str__(self) -> str:
        if hasattr(self, "error_dict"):
            return repr(self.error_dict)
        return repr(self.error_list) if len(self.error_list) != 1 else self.error_list[0]


class SuspiciousOperation(DormError):
    """A value would be used in a way that could inject SQL or corrupt data."""


# PEP 249 -----------------------------------------------------------------------------


class Error(DormError):
    """PEP 249 ``Error``: base of every database error."""


class InterfaceError(Error):
    """The database interface (driver, connection object) failed, not the database."""


class DatabaseError(Error):
    """An error reported by the database."""


class DataError(DatabaseError):
    """A value is out of range, of the wrong type for the column, or malformed."""


class OperationalError(DatabaseError):
    """The database could not carry out the operation (connection lost, locked, timeout)."""


class IntegrityError(DatabaseError):
    """A constraint was violated (unique, foreign key, not null, check)."""


class InternalError(DatabaseError):
    """The database hit an internal error (cursor no longer valid, transaction out of sync)."""


class ProgrammingError(DatabaseError):
    """The SQL was wrong: missing table, syntax error, wrong number of parameters."""


class NotSupportedError(DatabaseError):
    """The backend does not support the requested feature."""


class TransactionManagementError(ProgrammingError):
    """Transactions were used wrongly (e.g. ``select_for_update`` outside ``atomic``)."""


class SerializationFailure(OperationalError):
    """The transaction lost a serialization race; retrying it may succeed."""


class DeadlockDetected(OperationalError):
    """The database broke a deadlock by aborting this transaction; retrying it may succeed."""


class PoolTimeout(OperationalError):
    """No pooled connection became free in time."""


class ProtectedError(IntegrityError):
    """Deletion refused by ``on_delete=PROTECT``; ``protected_objects`` lists the blockers."""

    def __init__(self, msg: str, protected_objects: Any):
        self.protected_objects = protected_objects
        super().__init__(msg, protected_objects)


class RestrictedError(IntegrityError):
    """Deletion refused by ``on_delete=RESTRICT``; ``restricted_objects`` lists the blockers."""

    def __init__(self, msg: str, restricted_objects: Any):
        self.restricted_objects = restricted_objects
        super().__init__(msg, restricted_objects)


__all__ = [
    "DataError",
    "DatabaseError",
    "DeadlockDetected",
    "DormError",
    "EmptyResultSet",
    "Error",
    "FieldDoesNotExist",
    "FieldError",
    "ImproperlyConfigured",
    "IntegrityError",
    "InterfaceError",
    "InternalError",
    "MultipleObjectsReturned",
    "NotSupportedError",
    "ObjectDoesNotExist",
    "OperationalError",
    "PoolTimeout",
    "ProgrammingError",
    "ProtectedError",
    "RestrictedError",
    "SerializationFailure",
    "SuspiciousOperation",
    "TransactionManagementError",
    "ValidationError",
]
