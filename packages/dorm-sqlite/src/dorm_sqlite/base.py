"""The sync SQLite wrapper (``sqlite3``) and the settings/PRAGMA logic both wrappers share."""

from __future__ import annotations

import itertools
import re
import sqlite3
import threading
from typing import Any

from dorm.db.backends.base import BaseDatabaseWrapper, format_to_qmark
from dorm.exceptions import ImproperlyConfigured
from dorm_sqlite.features import DatabaseFeatures
from dorm_sqlite.operations import DatabaseOperations, temporal_add, temporal_diff
from dorm_sqlite.schema import DatabaseSchemaEditor

#: OPTIONS this backend understands, with defaults for file databases.
OPTION_DEFAULTS: dict[str, Any] = {
    "journal_mode": "WAL",
    "synchronous": "NORMAL",
    "foreign_keys": True,
    "busy_timeout": 5000,
    # IMMEDIATE takes the write lock at BEGIN, so concurrent atomic() blocks queue on
    # busy_timeout instead of failing when a reader upgrades to a writer (SQLITE_BUSY).
    "transaction_mode": "IMMEDIATE",
    "cached_statements": 256,
    "init_command": None,
    "pool": None,
    # Not used by this backend: read by dorm.contrib.circuit_breaker (dorm-resilience).
    "circuit_breaker": None,
}
_TRANSACTION_MODES = {"DEFERRED", "IMMEDIATE", "EXCLUSIVE"}
_JOURNAL_MODES = {"DELETE", "TRUNCATE", "PERSIST", "MEMORY", "WAL", "OFF"}
_SYNC_MODES = {"OFF", "NORMAL", "FULL", "EXTRA"}

_memory_lock = threading.Lock()
_memory_counter = itertools.count(1)
# id(settings_dict) -> (settings_dict, uri, keeper connection). The keeper keeps the shared
# in-memory database alive while per-thread and async connections come and go; holding the
# settings dict keeps its id from being reused.
_memory_dbs: dict[int, tuple[dict[str, Any], str, sqlite3.Connection]] = {}


def sqlite_options(settings_dict: dict[str, Any]) -> dict[str, Any]:
    """Validated OPTIONS with defaults filled in."""
    options = dict(settings_dict.get("OPTIONS") or {})
    unknown = set(options) - set(OPTION_DEFAULTS)
    if unknown:
        raise ImproperlyConfigured(
            f"Unknown SQLite OPTIONS {sorted(unknown)}; valid: {', '.join(OPTION_DEFAULTS)}."
        )
    merged = {**OPTION_DEFAULTS, **options}
    mode = str(merged["transaction_mode"]).upper()
    if mode not in _TRANSACTION_MODES:
        raise ImproperlyConfigured(
            f"SQLite OPTIONS['transaction_mode'] must be one of {sorted(_TRANSACTION_MODES)}, "
            f"got {merged['transaction_mode']!r}."
        )
    merged["transaction_mode"] = mode
    if (
        merged["journal_mode"] is not None
        and str(merged["journal_mode"]).upper() not in _JOURNAL_MODES
    ):
        raise ImproperlyConfigured(
            f"SQLite OPTIONS['journal_mode'] must be one of {sorted(_JOURNAL_MODES)}."
        )
    if merged["synchronous"] is not None and str(merged["synchronous"]).upper() not in _SYNC_MODES:
        raise ImproperlyConfigured(
            f"SQLite OPTIONS['synchronous'] must be one of {sorted(_SYNC_MODES)}."
        )
    return merged


def is_memory(settings_dict: dict[str, Any]) -> bool:
    name = str(settings_dict["NAME"])
    return name == ":memory:" or "mode=memory" in name


def database_target(settings_dict: dict[str, Any]) -> tuple[str, bool]:
    """(database argument, uri flag) for ``sqlite3.connect``.

    ``:memory:`` becomes a named shared-cache URI so every connection of the alias (each
    thread's, and the async ones) sees one database.
    """
    name = str(settings_dict["NAME"])
    if name != ":memory:":
        return name, name.startswith("file:")
    key = id(settings_dict)
    with _memory_lock:
        entry = _memory_dbs.get(key)
        if entry is None:
            uri = f"file:dorm-memory-{next(_memory_counter)}?mode=memory&cache=shared"
            keeper = sqlite3.connect(uri, uri=True, check_same_thread=False)
            entry = _memory_dbs[key] = (settings_dict, uri, keeper)
    return entry[1], True


def _regexp(pattern: str | None, value: Any) -> bool | None:
    if pattern is None or value is None:
        return None
    return re.search(pattern, str(value)) is not None


def open_connection(settings_dict: dict[str, Any]) -> sqlite3.Connection:
    """Open and prepare a driver connection; shared by the sync and async wrappers."""
    options = sqlite_options(settings_dict)
    database, uri = database_target(settings_dict)
    conn = sqlite3.connect(
        database,
        uri=uri,
        isolation_level=None,  # dorm issues BEGIN/COMMIT itself
        check_same_thread=False,
        cached_statements=int(options["cached_statements"]),
        timeout=int(options["busy_timeout"] or 0) / 1000,
    )
    try:
        conn.create_function("REGEXP", 2, _regexp, deterministic=True)
        conn.create_function("dorm_temporal_add", 2, temporal_add, deterministic=True)
        conn.create_function("dorm_temporal_diff", 2, temporal_diff, deterministic=True)
        pragmas = []
        if options["busy_timeout"] is not None:
            pragmas.append(f"PRAGMA busy_timeout = {int(options['busy_timeout'])}")
        if options["foreign_keys"] is not None:
            pragmas.append(f"PRAGMA foreign_keys = {'ON' if options['foreign_keys'] else 'OFF'}")
        if not is_memory(settings_dict):
            if options["journal_mode"]:
                pragmas.append(f"PRAGMA journal_mode = {str(options['journal_mode']).upper()}")
            if options["synchronous"]:
                pragmas.append(f"PRAGMA synchronous = {str(options['synchronous']).upper()}")
        for pragma in pragmas:
            conn.execute(pragma)
        if options["init_command"]:
            conn.executescript(options["init_command"])
    except BaseException:
        conn.close()
        raise
    return conn


class SQLiteInfo:
    """What both SQLite wrappers share besides the contract bases."""

    vendor = "sqlite"
    display_name = "SQLite"
    features_class = DatabaseFeatures
    ops_class = DatabaseOperations
    schema_editor_class = DatabaseSchemaEditor
    data_types = {
        "AutoField": "integer",
        "BigAutoField": "integer",
        "SmallAutoField": "integer",
        "BinaryField": "BLOB",
        "BooleanField": "bool",
        "CharField": "varchar(%(max_length)s)",
        "DateField": "date",
        "DateTimeField": "datetime",
        "DecimalField": "decimal",
        "DurationField": "bigint",
        "FileField": "varchar(%(max_length)s)",
        "FloatField": "real",
        "IntegerField": "integer",
        "BigIntegerField": "bigint",
        "GenericIPAddressField": "char(39)",
        "JSONField": "text",
        "PositiveBigIntegerField": "bigint unsigned",
        "PositiveIntegerField": "integer unsigned",
        "PositiveSmallIntegerField": "smallint unsigned",
        "SmallIntegerField": "smallint",
        "TextField": "text",
        "TimeField": "time",
        "UUIDField": "char(32)",
    }
    data_types_suffix = {
        "AutoField": "AUTOINCREMENT",
        "BigAutoField": "AUTOINCREMENT",
        "SmallAutoField": "AUTOINCREMENT",
    }
    data_type_check_constraints = {
        "PositiveBigIntegerField": '"%(column)s" >= 0',
        "PositiveIntegerField": '"%(column)s" >= 0',
        "PositiveSmallIntegerField": '"%(column)s" >= 0',
        "JSONField": '(JSON_VALID("%(column)s") OR "%(column)s" IS NULL)',
    }

    settings_dict: dict[str, Any]

    def begin_sql(self) -> str:
        return f"BEGIN {sqlite_options(self.settings_dict)['transaction_mode']}"

    def is_disconnect(self, exc: BaseException) -> bool:
        # A closed sqlite3 connection raises ProgrammingError("Cannot operate on a closed
        # database."); anything else is a statement error and the connection stays usable.
        return "closed database" in str(exc)


#: ``%s`` statement -> its ``?`` form: dorm speaks the portable ``%s`` paramstyle, sqlite3
#: wants ``?``. Translated once per distinct statement (the ORM's statement shapes repeat).
_QMARK: dict[str, str] = {}


def _sql_for_driver(sql: str) -> str:
    try:
        return _QMARK[sql]
    except KeyError:
        if len(_QMARK) >= 4096:
            _QMARK.clear()
        converted = _QMARK[sql] = format_to_qmark(sql)
        return converted


class DatabaseWrapper(SQLiteInfo, BaseDatabaseWrapper):
    """Sync SQLite connection for one thread and alias."""

    #: A single-row INSERT whose only generated column is the rowid-aliased AutoField reads
    #: the pk from ``cursor.lastrowid`` instead of a RETURNING row (cheaper on sqlite3).
    pk_from_lastrowid = True

    def get_new_connection(self) -> sqlite3.Connection:
        return open_connection(self.settings_dict)

    def _raw_execute(self, sql: str, params: Any, many: bool) -> Any:
        conn = self.connection or self.ensure_connection()
        sql = _QMARK.get(sql) or _sql_for_driver(sql)  # (the lookup inline: every statement)
        if many:
            return conn.executemany(sql, params or [])
        return conn.execute(sql, params or ())
