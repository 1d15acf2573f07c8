"""What a backend can do. The compiler and schema editor ask these flags, never vendor names."""

from __future__ import annotations


class BaseDatabaseFeatures:
    """Capability flags; a backend subclasses and flips what differs."""

    # Query compilation
    has_select_for_update = False
    has_select_for_update_nowait = False
    has_select_for_update_skip_locked = False
    has_select_for_update_of = False
    has_select_for_no_key_update = False
    can_return_rows_from_bulk_insert = False
    can_return_columns_from_insert = False
    supports_ignore_conflicts = True
    supports_update_conflicts = True
    supports_update_conflicts_with_target = True
    supports_distinct_on_fields = False
    supports_over_clause = True
    supports_nulls_ordering = True
    supports_regex = True
    supports_json_field = True
    supports_slicing_ordering_in_compound = False
    supports_select_intersection = True
    supports_select_difference = True
    supports_stddev = True
    supports_aggregate_filter_clause = True
    allows_group_by_select_index = True
    supports_paramstyle_pyformat = True
    max_query_params: int | None = None
    has_native_uuid_field = False
    has_native_duration_field = False
    has_native_json_field = False
    has_bulk_insert = True

    # Transactions and schema
    supports_transactions = True
    uses_savepoints = True
    can_rollback_ddl = False
    supports_foreign_keys = True
    supports_server_side_cursors = False
    connection_persists_old_columns = False

    # Connections
    has_connection_pool = False

    def __init__(self, connection: object) -> None:
        self.connection = connection
