"""Settings: ``dorm.configure(...)`` for programs, a settings module for the CLI.

Resolution order when nothing was configured explicitly: the module named by
``DORM_SETTINGS_MODULE``, else ``settings.py`` in the working directory.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import os
import sys
import threading
from collections.abc import Callable, Mapping
from typing import Any

from dorm.exceptions import ImproperlyConfigured

DEFAULT_DB_ALIAS = "default"

#: Every top-level setting dorm understands, with its default.
GLOBAL_DEFAULTS: dict[str, Any] = {
    "DATABASES": None,
    "DATABASE_ROUTERS": [],
    "INSTALLED_APPS": [],
    "USE_TZ": True,
    "TIME_ZONE": "UTC",
    "DEBUG": False,
    "MIGRATION_MODULES": {},
    "DEFAULT_AUTO_FIELD": "dorm.BigAutoField",
}

#: Every key a ``DATABASES`` entry may have, with its default.
DATABASE_DEFAULTS: dict[str, Any] = {
    "ENGINE": None,
    "NAME": None,
    "USER": "",
    "PASSWORD": "",
    "HOST": "",
    "PORT": "",
    "OPTIONS": {},
    "CONN_MAX_AGE": 0,
    "TIME_ZONE": None,
    "TEST": {},
}

# Options that let a backend find its database without NAME (a DSN or conninfo string).
_NAME_SUBSTITUTES = ("conninfo", "dsn")


def _did_you_mean(name: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(name, choices, n=1)
    return f" Did you mean {close[0]!r}?" if close else ""


def validate_databases(databases: Any) -> dict[str, dict[str, Any]]:
    """Check a ``DATABASES`` mapping and return a normalized copy with defaults filled in."""
    if not isinstance(databases, Mapping):
        raise ImproperlyConfigured(
            f"DATABASES must be a dict of alias -> settings, got {type(databases).__name__}."
        )
    if DEFAULT_DB_ALIAS not in databases:
        raise ImproperlyConfigured(
            f"DATABASES has no {DEFAULT_DB_ALIAS!r} alias (found: {sorted(databases) or 'none'}). "
            "Every configuration needs a 'default' database."
        )
    result: dict[str, dict[str, Any]] = {}
    for alias, conf in databases.items():
        if not isinstance(alias, str) or not alias.isidentifier():
            raise ImproperlyConfigured(f"Database alias {alias!r} must be a valid identifier.")
        if not isinstance(conf, Mapping):
            raise ImproperlyConfigured(
                f"DATABASES[{alias!r}] must be a dict of settings, got {type(conf).__name__}."
            )
        for key in conf:
            if key not in DATABASE_DEFAULTS:
                raise ImproperlyConfigured(
                    f"DATABASES[{alias!r}] has an unknown key {key!r}."
                    f"{_did_you_mean(key, list(DATABASE_DEFAULTS))} "
                    f"Valid keys: {', '.join(DATABASE_DEFAULTS)}."
                )
        entry = {**DATABASE_DEFAULTS, **conf}
        entry["OPTIONS"] = dict(entry["OPTIONS"] or {})
        entry["TEST"] = dict(entry["TEST"] or {})
        if not entry["ENGINE"] or not isinstance(entry["ENGINE"], str):
            raise ImproperlyConfigured(
                f"DATABASES[{alias!r}] has no ENGINE. Set it to a backend name such as "
                "'sqlite' or 'postgresql', or to a dotted path 'package.module:Class'."
            )
        if not entry["NAME"] and not any(k in entry["OPTIONS"] for k in _NAME_SUBSTITUTES):
            raise ImproperlyConfigured(
                f"DATABASES[{alias!r}] has no NAME. Give the database name (for SQLite, a file "
                "path or ':memory:')."
            )
        result[alias] = entry
    return result


class Settings:
    """The active settings; attribute access like Django's ``settings``.

    Settings load lazily: the first attribute read without an explicit
    :func:`configure` loads the settings module.
    """

    def __init__(self) -> None:
        self._values: dict[str, Any] | None = None
        self._lock = threading.RLock()
        self._listeners: list[Callable[[], None]] = []

    @property
    def configured(self) -> bool:
        return self._values is not None

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        values = self._values
        if values is None:
            self._setup()
            values = self._values
            assert values is not None
        try:
            return values[name]
        except KeyError:
            raise AttributeError(
                f"Setting {name!r} is not defined.{_did_you_mean(name, list(values))}"
            ) from None

    def _setup(self) -> None:
        with self._lock:
            if self._values is None:
                load_settings_module()

    def _apply(self, options: Mapping[str, Any], *, strict: bool = True) -> None:
        values = dict(GLOBAL_DEFAULTS)
        for key, value in options.items():
            if key not in GLOBAL_DEFAULTS:
                # A settings module may hold its own constants (BASE_DIR, ...); only a
                # near-miss of a dorm setting there is surely a typo.
                if not strict and not difflib.get_close_matches(key, list(GLOBAL_DEFAULTS), n=1):
                    continue
                raise ImproperlyConfigured(
                    f"Unknown setting {key!r}.{_did_you_mean(key, list(GLOBAL_DEFAULTS))} "
                    f"Known settings: {', '.join(GLOBAL_DEFAULTS)}."
                )
            values[key] = value
        if values["DATABASES"] is None:
            raise ImproperlyConfigured(
                "DATABASES is not set. Pass DATABASES={'default': {'ENGINE': ..., 'NAME': ...}}."
            )
        values["DATABASES"] = validate_databases(values["DATABASES"])
        routers = values["DATABASE_ROUTERS"]
        if not isinstance(routers, (list, tuple)):
            raise ImproperlyConfigured("DATABASE_ROUTERS must be a list of routers.")
        with self._lock:
            old = self._values
            self._values = values
        if old is not None:
            for listener in list(self._listeners):
                listener()

    def on_change(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` whenever settings are replaced (used to drop old connections)."""
        self._listeners.append(listener)


settings = Settings()


def configure(**options: Any) -> None:
    """Configure dorm programmatically; replaces any earlier configuration.

    Reconfiguring closes the connections opened under the previous settings.
    """
    settings._apply(options)


def load_settings_module(path: str | None = None) -> None:
    """Load settings from a module (dotted path), ``DORM_SETTINGS_MODULE``, or ./settings.py."""
    path = path or os.environ.get("DORM_SETTINGS_MODULE")
    if path:
        try:
            module = importlib.import_module(path)
        except ImportError as exc:
            raise ImproperlyConfigured(
                f"Could not import the settings module {path!r}: {exc}"
            ) from exc
    else:
        candidate = os.path.join(os.getcwd(), "settings.py")
        if not os.path.exists(candidate):
            raise ImproperlyConfigured(
                "dorm is not configured. Call dorm.configure(DATABASES=...), set "
                "DORM_SETTINGS_MODULE, pass --settings, or create settings.py in the "
                "working directory."
            )
        spec = importlib.util.spec_from_file_location("settings", candidate)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules.setdefault("settings", module)
        spec.loader.exec_module(module)
    options = {k: getattr(module, k) for k in dir(module) if k.isupper()}
    settings._apply(options, strict=False)
