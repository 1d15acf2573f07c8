"""What PostgreSQL can do (PostgreSQL 12 or newer)."""

from __future__ import annotations

from dorm.db.backends.base import BaseDatabaseFeatures


class DatabaseFeatures(BaseDatabaseFeatures):
    # Row locks: FOR UPDATE [OF ...] [NOWAIT | SKIP LOCKED], FOR NO KEY UPDATE.
    has_select_for_update = True
    has_select_for_update_nowait = True
    has_select_for_update_skip_locked = True
    has_select_for_update_of = True
    has_select_for_no_key_update = True

    # INSERT ... RETURNING, also for multi-row inserts (bulk_create sets primary keys).
    can_return_columns_from_insert = True
    can_return_rows_from_bulk_insert = True

    # INSERT ... ON CONFLICT [(target)] DO NOTHING / DO UPDATE.
    supports_ignore_conflicts = True
    supports_update_conflicts = True
    supports_update_conflicts_with_target = True

    supports_distinct_on_fields = True
    supports_over_clause = True
    supports_nulls_ordering = True
    supports_regex = True
    supports_json_field = True
    supports_slicing_ordering_in_compound = True
    supports_select_intersection = True
    supports_select_difference = True
    supports_stddev = True
    supports_aggregate_filter_clause = True

    # The wire protocol counts bind parameters in an unsigned 16-bit integer.
    max_query_params = 65535

    has_native_uuid_field = True
    has_native_duration_field = True
    has_native_json_field = True

    # Transactional DDL: a failed migration leaves no half-built schema behind.
    can_rollback_ddl = True
    supports_server_side_cursors = True

    has_connection_pool = True
