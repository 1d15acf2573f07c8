"""The model registry: every concrete model, by app label and model name."""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from dorm.exceptions import DormError


class AppRegistryError(DormError, LookupError):
    """No model is registered under that label/name."""


class Apps:
    """Models by ``app_label`` and lower-case model name; also resolves lazy references."""

    def __init__(self) -> None:
        self.all_models: dict[str, dict[str, Any]] = defaultdict(dict)
        self._pending: dict[tuple[str, str], list[Callable[[Any], None]]] = defaultdict(list)
        self._lock = threading.RLock()

    def register_model(self, app_label: str, model: Any) -> None:
        name = model._meta.model_name
        with self._lock:
            # Re-defining a model (tests, notebooks) replaces the earlier class.
            self.all_models[app_label][name] = model
            for callback in self._pending.pop((app_label, name), []):
                callback(model)

    def get_model(self, app_label: str, model_name: str | None = None) -> Any:
        """``get_model("shop", "Order")`` or ``get_model("shop.Order")``."""
        if model_name is None:
            app_label, _, model_name = app_label.partition(".")
        try:
            return self.all_models[app_label][model_name.lower()]
        except KeyError:
            known = sorted(
                f"{label}.{m._meta.object_name}"
                for label, ms in self.all_models.items()
                for m in ms.values()
            )
            raise AppRegistryError(
                f"No model {app_label}.{model_name} is registered. Known models: "
                f"{', '.join(known) or 'none'}."
            ) from None

    def get_models(self, app_label: str | None = None) -> list[Any]:
        if app_label is not None:
            return list(self.all_models.get(app_label, {}).values())
        return [m for models in self.all_models.values() for m in models.values()]

    def lazy_model_operation(
        self, callback: Callable[[Any], None], app_label: str, model_name: str
    ) -> None:
        """Call ``callback(model)`` now if registered, else when it is."""
        with self._lock:
            model = self.all_models.get(app_label, {}).get(model_name.lower())
            if model is None:
                self._pending[(app_label, model_name.lower())].append(callback)
                return
        callback(model)

    def pending_operations(self) -> list[tuple[str, str]]:
        return list(self._pending)


apps = Apps()
