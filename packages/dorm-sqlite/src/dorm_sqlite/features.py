"""What SQLite can do."""

from __future__ import annotations

import sqlite3

from dorm.db.backends.base import BaseDatabaseFeatures

_VERSION = sqlite3.sqlite_version_info


class DatabaseFeatures(BaseDatabaseFeatures):
    # SQLite has no row locks; select_for_update() is accepted and ignored (as Django).
    has_select_for_update = False
    can_return_columns_from_insert = _VERSION >= (3, 35, 0)
    can_return_rows_from_bulk_insert = _VERSION >= (3, 35, 0)
    supports_update_conflicts_with_target = _VERSION >= (3, 24, 0)
    supports_over_clause = _VERSION >= (3, 25, 0)
    supports_nulls_ordering = _VERSION >= (3, 30, 0)
    supports_stddev = False
    supports_aggregate_filter_clause = _VERSION >= (3, 30, 1)
    can_rollback_ddl = True
    # SQLite's default SQLITE_MAX_VARIABLE_NUMBER before 3.32 was 999.
    max_query_params = 999 if _VERSION < (3, 32, 0) else 32766
    supports_slicing_ordering_in_compound = True
