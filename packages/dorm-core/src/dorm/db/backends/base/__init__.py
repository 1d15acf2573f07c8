"""The backend contract every dorm backend implements."""

from dorm.db.backends.base.base import (
    AsyncResult,
    BaseAsyncDatabaseWrapper,
    BaseDatabaseWrapper,
    CursorWrapper,
    format_to_qmark,
    translate_error,
)
from dorm.db.backends.base.features import BaseDatabaseFeatures
from dorm.db.backends.base.operations import BaseDatabaseOperations

__all__ = [
    "AsyncResult",
    "BaseAsyncDatabaseWrapper",
    "BaseDatabaseFeatures",
    "BaseDatabaseOperations",
    "BaseDatabaseWrapper",
    "CursorWrapper",
    "format_to_qmark",
    "translate_error",
]
