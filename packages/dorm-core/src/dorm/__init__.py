"""dorm: a Django-style ORM with native sync and async APIs.

Everything a model module needs is importable from here::

    import dorm

    class Author(dorm.Model):
        name = dorm.CharField(max_length=100)
"""

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
from dorm.models import *  # noqa: F403
from dorm.models import __all__ as _models_all

__version__ = "0.1.0"

__all__ = [
    *_models_all,
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
