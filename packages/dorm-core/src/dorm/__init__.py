"""dorm: a Django-style ORM with native sync and async APIs.

Everything a model module needs is importable from here::

    import dorm

    class Author(dorm.Model):
        name = dorm.CharField(max_length=100)
"""

from __future__ import annotations

import pkgutil

# Contrib distributions installed in editable (workspace) mode live in their own src/dorm
# folders; extending dorm's path lets dorm.contrib find them (wheels share one folder).
__path__ = pkgutil.extend_path(__path__, __name__)

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

# Type checkers cannot evaluate dorm.models' computed __all__: star-import the field and
# function modules (literal __all__) directly so `dorm.CharField` etc. are typed.
from dorm.models.fields import *  # noqa: F403
from dorm.models.functions import *  # noqa: F403

__version__ = "0.1.0"


def call_command(name: str, /, *args: object, **options: object) -> object:
    """Run a ``dorm`` command in-process (``call_command("migrate")``); see :mod:`dorm.cli`."""
    from dorm.cli import call_command as run

    return run(name, *args, **options)  # type: ignore[arg-type]


async def acall_command(name: str, /, *args: object, **options: object) -> object:
    """Async :func:`call_command` (``await acall_command("migrate")`` uses async connections)."""
    from dorm.cli import acall_command as run

    return await run(name, *args, **options)  # type: ignore[arg-type]


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
    "acall_command",
    "call_command",
    "configure",
    "settings",
]
