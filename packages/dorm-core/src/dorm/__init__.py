"""dorm: a Django-style ORM with native sync and async APIs."""

from __future__ import annotations

from dorm.conf import configure, settings
from dorm.exceptions import (
    DatabaseError,
    FieldError,
    ImproperlyConfigured,
    IntegrityError,
    MultipleObjectsReturned,
    NotSupportedError,
    ObjectDoesNotExist,
    OperationalError,
    ValidationError,
)

__version__ = "0.1.0"

__all__ = [
    "DatabaseError",
    "FieldError",
    "ImproperlyConfigured",
    "IntegrityError",
    "MultipleObjectsReturned",
    "NotSupportedError",
    "ObjectDoesNotExist",
    "OperationalError",
    "ValidationError",
    "configure",
    "settings",
]
