"""Database routing: ``DATABASE_ROUTERS`` consulted in order, falling back to ``default``."""

from __future__ import annotations

import importlib
from typing import Any

from dorm.conf import DEFAULT_DB_ALIAS, settings
from dorm.exceptions import ImproperlyConfigured


class ConnectionRouter:
    """Asks each configured router in turn; the first non-``None`` answer wins."""

    def __init__(self) -> None:
        self._routers: list[Any] | None = None
        settings.on_change(self.reset)

    def reset(self) -> None:
        self._routers = None

    @property
    def routers(self) -> list[Any]:
        if self._routers is None:
            routers = []
            for entry in settings.DATABASE_ROUTERS:
                if isinstance(entry, str):
                    module_name, _, attr = entry.rpartition(".")
                    try:
                        entry = getattr(importlib.import_module(module_name), attr)()
                    except (ImportError, AttributeError, ValueError) as exc:
                        raise ImproperlyConfigured(
                            f"DATABASE_ROUTERS entry {entry!r} could not be imported: {exc}"
                        ) from exc
                routers.append(entry)
            self._routers = routers
        return self._routers

    def _route(self, action: str, model: Any, **hints: Any) -> str:
        for router in self.routers:
            method = getattr(router, action, None)
            if method is None:
                continue
            alias = method(model, **hints)
            if alias:
                return str(alias)
        instance = hints.get("instance")
        if instance is not None and instance._state.db:
            return str(instance._state.db)
        return DEFAULT_DB_ALIAS

    def db_for_read(self, model: Any, **hints: Any) -> str:
        if not self.routers and "instance" not in hints:
            return DEFAULT_DB_ALIAS
        return self._route("db_for_read", model, **hints)

    def db_for_write(self, model: Any, **hints: Any) -> str:
        if not self.routers and "instance" not in hints:
            return DEFAULT_DB_ALIAS
        return self._route("db_for_write", model, **hints)

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool:
        for router in self.routers:
            method = getattr(router, "allow_relation", None)
            if method is None:
                continue
            allow = method(obj1, obj2, **hints)
            if allow is not None:
                return bool(allow)
        return bool(obj1._state.db == obj2._state.db)

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool:
        for router in self.routers:
            method = getattr(router, "allow_migrate", None)
            if method is None:
                continue
            allow = method(db, app_label, **hints)
            if allow is not None:
                return bool(allow)
        return True

    def allow_migrate_model(self, db: str, model: Any) -> bool:
        meta = model._meta
        if not meta.managed:
            return False
        return self.allow_migrate(db, meta.app_label, model_name=meta.model_name, model=model)


router = ConnectionRouter()
