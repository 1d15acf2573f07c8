"""Optional features, each shipped by its own distribution into this namespace.

``dorm.contrib`` is a pkgutil-style namespace: ``dorm-core`` owns this ``__init__`` and each
contrib distribution ships only its own modules here. Importing a first-party contrib
module whose distribution is not installed fails with a message naming it.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import pkgutil
import sys
from collections.abc import Sequence
from types import ModuleType

__path__ = pkgutil.extend_path(__path__, __name__)

#: First-party contrib module -> the distribution that ships it.
FIRST_PARTY_CONTRIB = {
    "bulk_copy": "dorm-postgres",
    "listen_notify": "dorm-postgres",
    "task_pool": "dorm-postgres",
    "outbox": "dorm-outbox",
    "sharding": "dorm-sharding",
    "circuit_breaker": "dorm-resilience",
}


class _MissingContribFinder(importlib.abc.MetaPathFinder):
    """Last on ``sys.meta_path``: reached only when no installed distribution had the module."""

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        prefix, _, name = fullname.rpartition(".")
        if prefix != __name__ or name not in FIRST_PARTY_CONTRIB:
            return None
        dist = FIRST_PARTY_CONTRIB[name]
        raise ModuleNotFoundError(
            f"{fullname} is provided by the {dist!r} distribution, which is not installed. "
            f"Install it with: pip install {dist}",
            name=fullname,
        )


if not any(isinstance(f, _MissingContribFinder) for f in sys.meta_path):
    sys.meta_path.append(_MissingContribFinder())
