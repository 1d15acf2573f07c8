"""``DATABASES`` entries -> psycopg connection parameters (pure code, no I/O).

Keys: ``NAME``, ``USER``, ``PASSWORD``, ``HOST``, ``PORT`` (each overrides the same part of
``OPTIONS["conninfo"]``, a libpq DSN or ``postgresql://`` URL), ``CONN_MAX_AGE`` (seconds a
connection may live; ``0``/``None``: no limit) and ``OPTIONS``:

=======================  ================================================================
``conninfo`` / ``dsn``   libpq connection string or URL (NAME etc. may then be left out)
``pool``                 ``{"min_size", "max_size", "timeout", "max_idle"}``: use psycopg_pool
                         pools (sync: one per process and alias, async: one per event loop)
``prepare_threshold``    executions of one statement before psycopg prepares it (default 5;
                         ``None`` disables, e.g. behind PgBouncer in transaction mode)
``prepared_max``         prepared statements kept per connection (default 256)
``isolation_level``      ``"read committed"`` (PostgreSQL's default), ``"repeatable read"``,
                         ``"serializable"``: used by ``atomic()``'s ``BEGIN``
``server_side_cursors``  ``iterator()`` streams through a server-side cursor (default True)
``init_command``         SQL run on every new connection
``circuit_breaker``      ignored here; read by ``dorm.contrib.circuit_breaker``
anything else            a libpq parameter (``sslmode``, ``connect_timeout``,
                         ``application_name``, ``options``, ...)
=======================  ================================================================
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from dorm.conf import settings
from dorm.exceptions import ImproperlyConfigured

__all__ = ["DORM_OPTIONS", "POOL_DEFAULTS", "PostgresSettings", "parse_settings"]

#: OPTIONS keys dorm interprets; any other key is handed to libpq.
DORM_OPTIONS = (
    "conninfo",
    "dsn",
    "pool",
    "prepare_threshold",
    "prepared_max",
    "isolation_level",
    "server_side_cursors",
    "init_command",
    # Not used by this backend: read by dorm.contrib.circuit_breaker (dorm-resilience).
    "circuit_breaker",
)

POOL_DEFAULTS: dict[str, Any] = {
    "min_size": 1,
    "max_size": 10,
    "timeout": 30.0,
    "max_idle": 600.0,
}

ISOLATION_LEVELS = ("read uncommitted", "read committed", "repeatable read", "serializable")


@dataclass(frozen=True)
class PostgresSettings:
    """Validated connection settings of one alias."""

    alias: str
    conninfo: str
    prepare_threshold: int | None = 5
    prepared_max: int = 256
    isolation_level: str | None = None
    server_side_cursors: bool = True
    init_command: str | None = None
    #: Normalized pool options (POOL_DEFAULTS filled in), or None for no psycopg pool.
    pool: dict[str, Any] | None = None
    #: CONN_MAX_AGE in seconds, or None for no limit.
    max_age: float | None = None
    time_zone: str = "UTC"
    params: dict[str, Any] = field(default_factory=dict)

    def connect_kwargs(self, cursor_factory: Any) -> dict[str, Any]:
        """Keyword arguments of ``psycopg.[Async]Connection.connect`` besides the conninfo."""
        from dorm_postgres.driver import ADAPTERS

        return {
            "autocommit": True,  # dorm issues BEGIN/COMMIT itself
            "prepare_threshold": self.prepare_threshold,
            "context": ADAPTERS,
            "cursor_factory": cursor_factory,
        }

    def describe(self) -> str:
        """Where this alias connects, without the password (for messages)."""
        p = self.params
        host = p.get("host") or "localhost"
        return f"{p.get('dbname') or p.get('user') or '?'} at {host}:{p.get('port') or 5432}"


def _pool_options(alias: str, raw: Any, max_age: float | None) -> dict[str, Any] | None:
    if raw is None or raw is False:
        return None
    if raw is True:
        raw = {}
    if not isinstance(raw, dict):
        raise ImproperlyConfigured(
            f"DATABASES[{alias!r}]['OPTIONS']['pool'] must be a dict such as "
            f"{{'max_size': 10}}, got {raw!r}."
        )
    unknown = set(raw) - {*POOL_DEFAULTS, "max_lifetime", "max_waiting", "num_workers"}
    if unknown:
        raise ImproperlyConfigured(
            f"Unknown pool options {sorted(unknown)} for alias {alias!r}; valid: "
            f"{', '.join(POOL_DEFAULTS)}, max_lifetime, max_waiting, num_workers."
        )
    pool = {**POOL_DEFAULTS, **raw}
    try:
        pool["min_size"] = int(pool["min_size"])
        pool["max_size"] = int(pool["max_size"])
        pool["timeout"] = float(pool["timeout"])
        pool["max_idle"] = float(pool["max_idle"])
    except (TypeError, ValueError):
        raise ImproperlyConfigured(
            f"Pool options of alias {alias!r} must be numbers: {raw!r}."
        ) from None
    if pool["min_size"] < 0 or pool["max_size"] < 1 or pool["max_size"] < pool["min_size"]:
        raise ImproperlyConfigured(
            f"Pool of alias {alias!r} needs 0 <= min_size <= max_size and max_size >= 1 "
            f"(got min_size={pool['min_size']}, max_size={pool['max_size']})."
        )
    if pool["timeout"] <= 0:
        raise ImproperlyConfigured(f"Pool timeout of alias {alias!r} must be positive.")
    if "max_lifetime" not in pool and max_age:
        pool["max_lifetime"] = float(max_age)
    return pool


def parse_settings(settings_dict: dict[str, Any], alias: str) -> PostgresSettings:
    """Validate a ``DATABASES`` entry; ``ImproperlyConfigured`` says what is wrong."""
    options = dict(settings_dict.get("OPTIONS") or {})
    base = options.pop("conninfo", None) or options.pop("dsn", None) or ""
    options.pop("dsn", None)
    dorm_opts = {k: options.pop(k) for k in list(options) if k in DORM_OPTIONS}
    overrides = {
        "dbname": settings_dict.get("NAME") or None,
        "user": settings_dict.get("USER") or None,
        "password": settings_dict.get("PASSWORD") or None,
        "host": settings_dict.get("HOST") or None,
        "port": str(settings_dict["PORT"]) if settings_dict.get("PORT") else None,
    }
    libpq = {k: v for k, v in {**options, **overrides}.items() if v is not None}
    try:
        conninfo = make_conninfo(str(base), **libpq)
        params = conninfo_to_dict(conninfo)
    except psycopg.ProgrammingError as exc:
        raise ImproperlyConfigured(
            f"Invalid PostgreSQL connection settings for alias {alias!r}: {exc}. "
            f"OPTIONS keys dorm handles: {', '.join(DORM_OPTIONS)}; any other key must be a "
            "libpq connection parameter (sslmode, connect_timeout, application_name, ...)."
        ) from exc

    raw_age = settings_dict.get("CONN_MAX_AGE")
    try:
        max_age = float(raw_age) if raw_age else None
    except (TypeError, ValueError):
        raise ImproperlyConfigured(
            f"DATABASES[{alias!r}]['CONN_MAX_AGE'] must be a number of seconds or None."
        ) from None

    threshold = dorm_opts.get("prepare_threshold", 5)
    if threshold is not None and (not isinstance(threshold, int) or threshold < 0):
        raise ImproperlyConfigured(
            f"OPTIONS['prepare_threshold'] of alias {alias!r} must be an int >= 0 or None."
        )
    level = dorm_opts.get("isolation_level")
    if level is not None:
        name = getattr(level, "name", level)
        level = str(name).replace("_", " ").lower()
        if level not in ISOLATION_LEVELS:
            raise ImproperlyConfigured(
                f"OPTIONS['isolation_level'] of alias {alias!r} must be one of "
                f"{', '.join(ISOLATION_LEVELS)}; got {dorm_opts['isolation_level']!r}."
            )

    # Sessions run in UTC with USE_TZ (aware datetimes come back in UTC), else in the
    # database's (or the project's) time zone, in which naive values are interpreted.
    time_zone = "UTC" if settings.USE_TZ else settings_dict.get("TIME_ZONE") or settings.TIME_ZONE
    return PostgresSettings(
        alias=alias,
        conninfo=conninfo,
        prepare_threshold=threshold,
        prepared_max=int(dorm_opts.get("prepared_max", 256)),
        isolation_level=level,
        server_side_cursors=bool(dorm_opts.get("server_side_cursors", True)),
        init_command=dorm_opts.get("init_command"),
        pool=_pool_options(alias, dorm_opts.get("pool"), max_age),
        max_age=max_age,
        time_zone=str(time_zone),
        params=params,
    )


def session_statements(pg: PostgresSettings, conn: Any) -> list[tuple[str, tuple[Any, ...] | None]]:
    """Statements that prepare a new connection's session (time zone, init_command)."""
    statements: list[tuple[str, tuple[Any, ...] | None]] = []
    if conn.info.parameter_status("TimeZone") != pg.time_zone:
        statements.append(("SELECT set_config('TimeZone', %s, false)", (pg.time_zone,)))
    if pg.init_command:
        statements.append((pg.init_command, None))  # run verbatim: no placeholders
    return statements
