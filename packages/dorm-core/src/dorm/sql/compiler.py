"""Turn a ``Query`` into SQL, through the backend's ``ops`` and ``features``.

Compiled SQL is cached per query *shape* (model, conditions without their values,
ordering, limits, selection): a repeated shape skips compilation and only collects its
parameters.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dorm.conf import settings
from dorm.exceptions import EmptyResultSet, FieldError, NotSupportedError
from dorm.expressions import Col, OrderBy, Ref
from dorm.sql.query import LOOKUP_SEP, Query

_CACHE: dict[Any, Any] = {}
_CACHE_LIMIT = 8192


def _settings_changed() -> None:
    # Converters in cached plans depend on settings (USE_TZ): recompile after a reconfigure.
    _CACHE.clear()


settings.on_change(_settings_changed)


class SelectPlan:
    """How to read a compiled SELECT's rows.

    ``names``: the attribute (or values) name of each column; ``converters``: (index,
    functions) only for columns that need converting; ``n_fields``: leading columns that
    are model fields (the rest are annotations).
    """

    __slots__ = ("converters", "fields", "n_fields", "names", "related")

    def __init__(
        self,
        names: tuple[str, ...],
        converters: tuple[tuple[int, tuple[Any, ...]], ...],
        n_fields: int,
        fields: tuple[Any, ...],
        related: tuple[Any, ...] = (),
    ) -> None:
        self.names = names
        self.converters = converters
        self.n_fields = n_fields
        self.fields = fields
        # select_related sections: (field, model, start, end, attnames, pk index, nested)
        self.related = related


class SQLCompiler:
    def __init__(self, query: Query, connection: Any) -> None:
        self.query = query
        self.connection = connection
        self.ops = connection.ops
        self._quoted: dict[str, str] = {}

    def quote_name(self, name: str) -> str:
        quoted = self._quoted.get(name)
        if quoted is None:
            quoted = self._quoted[name] = self.ops.quote_name(name)
        return quoted

    def compile(self, node: Any) -> tuple[str, list[Any]]:
        vendor = getattr(node, f"as_{self.connection.vendor}", None)
        if vendor is not None:
            return vendor(self, self.connection)  # type: ignore[no-any-return]
        return node.as_sql(self, self.connection)  # type: ignore[no-any-return]

    # Selection -------------------------------------------------------------------------

    def get_select(self) -> tuple[list[tuple[Any, str | None]], SelectPlan]:
        query = self.query
        select: list[tuple[Any, str | None]] = []
        names: list[str] = []
        fields: list[Any] = []
        if query.values_select is not None:
            for name in query.values_select:
                if name in query.annotations:
                    expr = query.annotations[name]
                    select.append((expr, name))
                else:
                    expr = query.resolve_ref(name)
                    select.append((expr, None))
                names.append(name)
                fields.append(expr)
            n_fields = len(names)
        else:
            base = query.base_alias
            for field in query.loaded_fields():
                select.append((Col(base, field), None))
                names.append(field.attname)
                fields.append(field)
            n_fields = len(names)
            for alias, expr in query.annotation_select.items():
                select.append((expr, alias))
                names.append(alias)
                fields.append(expr)
        related: tuple[Any, ...] = ()
        if query.values_select is None and query.select_related:
            tree = query.select_related
            if tree is True:
                tree = _auto_select_related(query.meta, 0)
            related = self._select_related_columns(tree, query.meta, query.base_alias, (), select)
        for alias, (sql, params) in query.extra_select.items():
            select.append((_RawCol(sql, params), alias))
            names.append(alias)
            fields.append(None)
        converters = []
        for index, (expr, _alias) in enumerate(select):
            funcs = (
                tuple(expr.get_db_converters(self.connection))
                if expr is not None and hasattr(expr, "get_db_converters")
                else ()
            )
            if funcs:
                converters.append((index, funcs))
        plan = SelectPlan(tuple(names), tuple(converters), n_fields, tuple(fields), related)
        return select, plan

    def _select_related_columns(
        self, tree: dict[str, Any], meta: Any, alias: str, path: tuple[str, ...], select: list[Any]
    ) -> tuple[Any, ...]:
        sections = []
        query = self.query
        saved = query._join_ctx
        query._join_ctx = (True, True)  # nullable FKs: LEFT OUTER; others INNER
        try:
            for name, sub in tree.items():
                field = meta.get_field(name)
                new_path = (*path, name)
                new_alias, _target = query._join_relation(field, alias, new_path, final=False)
                model = field.related_model
                start = len(select)
                attnames = []
                for f in model._meta.concrete_fields:
                    select.append((Col(new_alias, f), None))
                    attnames.append(f.attname)
                end = len(select)
                pk_index = attnames.index(model._meta.pk.attname)
                nested = self._select_related_columns(sub, model._meta, new_alias, new_path, select)
                sections.append((field, model, start, end, tuple(attnames), pk_index, nested))
        finally:
            query._join_ctx = saved
        return tuple(sections)

    def get_order_by(self) -> list[Any]:
        query = self.query
        if query.order_by:
            ordering = query.order_by
        elif query.default_ordering and query.model is not None and query.group_by is None:
            # Meta.ordering does not apply to GROUP BY queries (Django >= 3.1).
            ordering = tuple(query.meta.ordering)
        else:
            ordering = ()
        expand = getattr(query, "expand_relation_ordering", None)
        if expand is not None and query.model is not None:
            ordering = [term for item in ordering for term in expand(item)]
        result = []
        for item in ordering:
            if item == "?":
                result.append(_Random())
                continue
            order = query.resolve_order_item(item)
            if not query.standard_ordering:
                order = order.reverse_ordering()
            result.append(order)
        return result

    # SQL ---------------------------------------------------------------------------------

    def as_sql(
        self, with_limits: bool = True, with_col_aliases: bool = False
    ) -> tuple[str, list[Any]]:
        sql, params, _plan = self.compile_select(with_limits)
        return sql, params

    def compile_select(self, with_limits: bool = True) -> tuple[str, list[Any], SelectPlan]:
        if not self.query.combinator:
            # Joins added while compiling (select_related, ordering by a related field or an
            # expression) belong to this compilation, not to the QuerySet.
            self.query = self.query.clone()
        query = self.query
        if query.combinator:
            return self._compile_combinator(with_limits)
        select, plan = self.get_select()
        # Resolved before the FROM clause is built: they may add joins.
        order = self.get_order_by()
        group_by = query.get_group_by()
        qn = self.quote_name
        params: list[Any] = []
        parts = ["SELECT"]
        if query.distinct:
            if query.distinct_fields:
                if not self.connection.features.supports_distinct_on_fields:
                    raise NotSupportedError(
                        "DISTINCT ON fields is not supported by this database backend."
                    )
                cols = []
                for name in query.distinct_fields:
                    s, p = self.compile(query.resolve_ref(name))
                    cols.append(s)
                    params.extend(p)
                parts.append(f"DISTINCT ON ({', '.join(cols)})")
            else:
                parts.append("DISTINCT")
        cols_sql = []
        # Selected expressions with parameters, by (sql, params): GROUP BY names them by
        # position, since PostgreSQL cannot match "x / $1" with "x / $3" (as Django).
        positions: dict[tuple[str, tuple[str, ...]], int] = {}
        for index, (expr, alias) in enumerate(select, start=1):
            s, p = self.compile(expr)
            if p:
                positions.setdefault((s, tuple(map(repr, p))), index)
            if alias:
                s = f"{s} AS {qn(alias)}"
            cols_sql.append(s)
            params.extend(p)
        parts.append(", ".join(cols_sql) if cols_sql else "1")
        parts.append(f"FROM {self.get_from_clause(params)}")
        where, having = query.where.split_having() if query.where else (None, None)
        if where:
            s, p = self.compile(where)
            if s:
                parts.append(f"WHERE {s}")
                params.extend(p)
        if group_by:
            group_by = list(group_by)
            for o in order:
                if not isinstance(o, _Random) and not getattr(o, "contains_aggregate", False):
                    group_by.extend(c for c in o.get_group_by_cols() if not isinstance(c, Ref))
            gb_sql, seen = [], set()
            by_index = self.connection.features.allows_group_by_select_index
            for expr in group_by:
                s, p = self.compile(expr)
                key = (s, tuple(map(repr, p)))
                if key in seen:
                    continue
                seen.add(key)
                if p and by_index and key in positions:
                    s, p = str(positions[key]), []
                gb_sql.append(s)
                params.extend(p)
            if gb_sql:
                parts.append(f"GROUP BY {', '.join(gb_sql)}")
        if having:
            s, p = self.compile(having)
            if s:
                parts.append(f"HAVING {s}")
                params.extend(p)
        if order:
            o_sql = []
            for o in order:
                s, p = self.compile(o)
                o_sql.append(s)
                params.extend(p)
            parts.append(f"ORDER BY {', '.join(o_sql)}")
        if with_limits and query.is_sliced:
            parts.append(self.ops.limit_offset_sql(query.low_mark, query.high_mark))
        if query.select_for_update and self.connection.features.has_select_for_update:
            if self.connection.get_autocommit():
                from dorm.exceptions import TransactionManagementError

                raise TransactionManagementError(
                    "select_for_update cannot be used outside of a transaction."
                )
            features = self.connection.features
            if query.select_for_update_nowait and not features.has_select_for_update_nowait:
                raise NotSupportedError("NOWAIT is not supported on this database backend.")
            if (
                query.select_for_update_skip_locked
                and not features.has_select_for_update_skip_locked
            ):
                raise NotSupportedError("SKIP LOCKED is not supported on this database backend.")
            of = tuple(self._for_update_of())
            parts.append(
                self.ops.for_update_sql(
                    nowait=query.select_for_update_nowait,
                    skip_locked=query.select_for_update_skip_locked,
                    of=of,
                    no_key=query.select_for_no_key_update,
                )
            )
        return " ".join(parts), params, plan

    def _for_update_of(self) -> list[str]:
        result = []
        for name in self.query.select_for_update_of:
            if name == "self":
                result.append(self.quote_name(self.query.base_alias))
            else:
                alias = self.query.joins.get(name)
                if alias is None:
                    raise FieldError(
                        f"Invalid field name(s) given in select_for_update(of=(...)): {name!r}."
                    )
                result.append(self.quote_name(alias.alias))
        return result

    def get_from_clause(self, params: list[Any]) -> str:
        query = self.query
        sql = self.quote_name(query.base_table)  # type: ignore[arg-type]
        if query.base_alias != query.base_table:
            sql += " " + self.quote_name(query.base_alias)
        for join in query.joins.values():
            s, p = join.as_sql(self, self.connection)
            sql += " " + s
            params.extend(p)
        return sql

    def _compile_combinator(self, with_limits: bool) -> tuple[str, list[Any], SelectPlan]:
        query = self.query
        features = self.connection.features
        if query.combinator == "intersection" and not features.supports_select_intersection:
            raise NotSupportedError("intersection is not supported on this database backend.")
        if query.combinator == "difference" and not features.supports_select_difference:
            raise NotSupportedError("difference is not supported on this database backend.")
        parts, params = [], []
        plan = None
        keyword = {"union": "UNION", "intersection": "INTERSECT", "difference": "EXCEPT"}[
            query.combinator
        ]  # type: ignore[index]
        if query.combinator_all:
            keyword += " ALL"
        for sub in query.combined_queries:
            try:
                compiler = sub.get_compiler(self.connection)
                sub_sql, sub_params, sub_plan = compiler.compile_select()
            except EmptyResultSet:
                if query.combinator == "union":
                    continue
                if query.combinator == "difference" and plan is not None:
                    continue
                raise
            if plan is None:
                plan = sub_plan
            if sub.order_by or sub.is_sliced:
                if not features.supports_slicing_ordering_in_compound:
                    raise NotSupportedError(
                        "ORDER BY/LIMIT not allowed in subqueries of compound statements."
                    )
                sub_sql = f"SELECT * FROM ({sub_sql}) subquery"
            parts.append(sub_sql)
            params.extend(sub_params)
        if not parts:
            raise EmptyResultSet
        assert plan is not None
        sql = f" {keyword} ".join(parts)
        if query.order_by:
            o_sql = []
            for item in query.order_by:
                name = item.lstrip("-") if isinstance(item, str) else None
                if name == "pk" and name not in plan.names and query.model is not None:
                    name = query.meta.pk.attname  # first()/last() order a union by pk
                if name is None or name not in plan.names:
                    raise FieldError(
                        f"ORDER BY term {item!r} of a compound statement must be one of the "
                        f"selected columns: {', '.join(plan.names)}."
                    )
                index = plan.names.index(name) + 1
                descending = item.startswith("-") == query.standard_ordering  # reverse()
                o_sql.append(f"{index} {'DESC' if descending else 'ASC'}")
            sql += " ORDER BY " + ", ".join(o_sql)
        if with_limits and query.is_sliced:
            sql += " " + self.ops.limit_offset_sql(query.low_mark, query.high_mark)
        return sql, params, plan

    # Cached entry points ----------------------------------------------------------------

    def cached_select(self) -> tuple[str, list[Any], SelectPlan]:
        """``compile_select()`` through the shape cache."""
        key = select_cache_key(self.query)
        if key is None:
            return self.compile_select()
        full_key = (type(self.ops), self.connection.vendor, key)
        entry = _CACHE.get(full_key)
        if entry is not None:
            sql, plan = entry
            if (
                self.query.select_for_update
                and self.connection.features.has_select_for_update
                and self.connection.get_autocommit()
            ):
                # The shape may have been compiled inside a transaction: check again.
                from dorm.exceptions import TransactionManagementError

                raise TransactionManagementError(
                    "select_for_update cannot be used outside of a transaction."
                )
            return sql, self.collect_params(), plan
        sql, params, plan = self.compile_select()
        if len(_CACHE) >= _CACHE_LIMIT:
            _CACHE.clear()
        _CACHE[full_key] = (sql, plan)
        return sql, params, plan

    def collect_params(self) -> list[Any]:
        """Parameters of the query in SQL order, without building SQL (cache hit path)."""
        query = self.query
        params: list[Any] = []
        for expr in (
            query.annotation_select.values()
            if query.values_select is None
            else [query.annotations[n] for n in query.values_select if n in query.annotations]
        ):
            params.extend(expr.collect_params(self, self.connection))
        if query.where:
            where, having = query.where.split_having()
            if where:
                params.extend(where.collect_params(self, self.connection))
            if having:
                params.extend(having.collect_params(self, self.connection))
        if query.order_by:
            for item in query.order_by:
                if not isinstance(item, str):
                    params.extend(
                        query.resolve_order_item(item).collect_params(self, self.connection)
                    )
        return params


def _where_cache_key(query: Query) -> Any:
    """The WHERE shape of a cacheable query; ``None`` for shapes compiled every time (joins,
    combinators, extra selects, grouping, select_related)."""
    if (
        query.combinator
        or query.joins
        or query.extra_select
        or query.group_by is not None
        or query.select_related
    ):
        return None
    return query.where.cache_key() if query.where else ()


def select_cache_key(query: Query) -> Any:
    """The shape of a SELECT, or ``None`` when it must be compiled every time."""
    where_key = _where_cache_key(query)
    if where_key is None:
        return None
    ann_keys = []
    for name, expr in query.annotations.items():
        k = expr.cache_key()
        if k is None:
            return None
        ann_keys.append((name, k))
    order = []
    for item in query.order_by:
        if isinstance(item, str):
            order.append(item)
        else:
            k = item.cache_key() if hasattr(item, "cache_key") else None
            if k is None:
                return None
            order.append(k)
    return (
        query.model,
        where_key,
        tuple(order),
        query.default_ordering,
        query.standard_ordering,
        query.low_mark,
        query.high_mark,
        query.distinct,
        query.distinct_fields,
        query.select_for_update,
        query.select_for_update_nowait,
        query.select_for_update_skip_locked,
        query.select_for_update_of,
        query.select_for_no_key_update,
        query.values_select,
        query.deferred_loading,
        tuple(ann_keys),
        None if query.annotation_select_mask is None else frozenset(query.annotation_select_mask),
    )


def _auto_select_related(meta: Any, depth: int) -> dict[str, Any]:
    """``select_related()`` without arguments: every non-null forward FK, 5 levels deep."""
    from dorm.sql.joins import relation_kind

    if depth >= 5:
        return {}
    return {
        f.name: _auto_select_related(f.related_model._meta, depth + 1)
        for f in meta.concrete_fields
        if relation_kind(f) == "fk" and not f.null
    }


class _Random:
    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        return connection.ops.random_function_sql(), []


class _RawCol:
    def __init__(self, sql: str, params: Sequence[Any]) -> None:
        self.sql = sql
        self.params = list(params)

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        return f"({self.sql})", list(self.params)


class SQLAggregateCompiler(SQLCompiler):
    """``SELECT aggregates FROM (inner) subquery`` for aggregates over sliced/distinct queries."""

    def compile_select(self, with_limits: bool = True) -> tuple[str, list[Any], SelectPlan]:
        query = self.query
        inner = query.inner_query  # type: ignore[attr-defined]
        inner_sql, inner_params, _ = inner.get_compiler(self.connection).compile_select()
        select, plan = self.get_select()
        cols, params = [], []
        for expr, alias in select:
            s, p = self.compile(expr)
            cols.append(f"{s} AS {self.quote_name(alias)}" if alias else s)
            params.extend(p)
        sql = f"SELECT {', '.join(cols)} FROM ({inner_sql}) subquery"
        return sql, [*params, *inner_params], plan


def _count_cache_key(query: Query) -> Any:
    """The shape of a plain ``SELECT COUNT(*) FROM table WHERE ...``: what its SQL depends on.

    Ordering, selection, annotations and limits do not reach that statement (sliced and
    distinct counts take the subquery path, which is not cached), so unlike
    :func:`select_cache_key` they are not part of the key: building it stays cheap.
    """
    where_key = _where_cache_key(query)
    if where_key is None:
        return None
    return (query.model, query.base_table, query.base_alias, where_key)


def count_sql(query: Query, connection: Any) -> tuple[str, list[Any]]:
    """``SELECT COUNT(*)`` for a query, through the shape cache."""
    needs_subquery = (
        query.distinct
        or query.is_sliced
        or query.combinator
        or query.group_by is not None
        or (query.values_select is not None and query.distinct)
    )
    key = None if needs_subquery else _count_cache_key(query)
    full_key = (type(connection.ops), connection.vendor, "count", key) if key is not None else None
    compiler = SQLCompiler(query, connection)
    if full_key is not None:
        sql = _CACHE.get(full_key)
        if sql is not None:
            params = query.where.collect_params(compiler, connection) if query.where else []
            return sql, params
    if needs_subquery:
        inner = query.clone()
        inner.order_by = ()
        inner.default_ordering = False
        if inner.values_select is None and not inner.distinct and not inner.combinator:
            inner.values_select = (query.meta.pk.attname,)
            inner.annotation_select_mask = set()
        inner_sql, params = inner.get_compiler(connection).as_sql()
        return f"SELECT COUNT(*) FROM ({inner_sql}) subquery", params
    params: list[Any] = []
    sql = f"SELECT COUNT(*) FROM {compiler.get_from_clause(params)}"
    if query.where:
        where, having = query.where.split_having()
        if having:
            inner = query.clone()
            inner.order_by = ()
            inner.default_ordering = False
            inner_sql, params = inner.get_compiler(connection).as_sql()
            return f"SELECT COUNT(*) FROM ({inner_sql}) subquery", params
        s, p = compiler.compile(where) if where else ("", [])
        if s:
            sql += f" WHERE {s}"
            params.extend(p)
    if full_key is not None:
        if len(_CACHE) >= _CACHE_LIMIT:
            _CACHE.clear()
        _CACHE[full_key] = sql
    return sql, params


def exists_sql(query: Query, connection: Any) -> tuple[str, list[Any]]:
    q = query.clone()
    if not q.distinct and not q.combinator and q.group_by is None:
        q.values_select = ()
        q.annotation_select_mask = set()
        q.extra_select = {}
    q.order_by = ()
    q.default_ordering = False
    if not q.is_sliced:
        q.set_limits(high=1)
    compiler = SQLCompiler(q, connection)
    sql, params, _plan = compiler.cached_select()
    return sql, params


class SQLInsertCompiler:
    """INSERT statements for rows of a model, batched to the driver's parameter limit."""

    def __init__(
        self,
        model: Any,
        fields: Sequence[Any],
        connection: Any,
        *,
        returning: Sequence[Any] = (),
        on_conflict: str | None = None,
        update_fields: Sequence[str] = (),
        unique_fields: Sequence[str] = (),
    ) -> None:
        self.model = model
        self.fields = list(fields)
        self.connection = connection
        self.ops = connection.ops
        self.returning = list(returning)
        self.on_conflict = on_conflict
        self.update_fields = list(update_fields)
        self.unique_fields = list(unique_fields)
        self._array_types: list[str] | bool | None = False  # False: not asked yet

    def columnar(self, n_rows: int) -> bool:
        """Whether the statement for ``n_rows`` rows binds one array parameter per column
        (``ops.bulk_insert_array_types``) instead of one parameter per value."""
        if n_rows < 2 or not self.fields:
            return False
        if self._array_types is False:
            self._array_types = self.ops.bulk_insert_array_types(self.fields)
        return self._array_types is not None

    def insert_head(self, n_rows: int) -> str:
        qn = self.ops.quote_name
        table = qn(self.model._meta.db_table)
        if self.fields:
            cols = ", ".join(qn(f.column) for f in self.fields)
            if self.columnar(n_rows):
                arrays = ", ".join(f"%s::{t}[]" for t in self._array_types)  # type: ignore[union-attr]
                rows = f"SELECT * FROM UNNEST({arrays})"
            else:
                row = "(" + ", ".join(["%s"] * len(self.fields)) + ")"
                rows = "VALUES " + ", ".join([row] * n_rows)
            sql = f"{self.ops.insert_statement(self.on_conflict)} {table} ({cols}) {rows}"
        else:
            if n_rows != 1:
                raise ValueError("Multi-row insert of rows without columns is not supported.")
            sql = f"{self.ops.insert_statement(self.on_conflict)} {table} DEFAULT VALUES"
        suffix = self.ops.on_conflict_suffix_sql(
            self.on_conflict,
            [self.model._meta.get_field(f).column for f in self.update_fields],
            [self.model._meta.get_field(f).column for f in self.unique_fields],
        )
        if suffix:
            sql += " " + suffix
        if self.returning:
            sql += " " + self.ops.return_insert_columns([f.column for f in self.returning])
        return sql

    def sql_for_rows(self, n_rows: int) -> str:
        """The statement for ``n_rows`` rows; :meth:`columnar` says how it takes them."""
        key = (
            type(self.ops),
            "insert",
            self.model,
            tuple(f.column for f in self.fields),
            "columns" if self.columnar(n_rows) else n_rows,
            self.on_conflict,
            tuple(self.update_fields),
            tuple(self.unique_fields),
            tuple(f.column for f in self.returning),
        )
        sql = _CACHE.get(key)
        if sql is None:
            if len(_CACHE) >= _CACHE_LIMIT:
                _CACHE.clear()
            sql = _CACHE[key] = self.insert_head(n_rows)
        return sql  # type: ignore[no-any-return]


class SQLUpdateCompiler:
    """``UPDATE table SET ... WHERE ...`` for a query's rows."""

    def __init__(self, query: Query, values: Sequence[tuple[Any, Any]], connection: Any) -> None:
        self.query = query
        self.values = values
        self.connection = connection

    def as_sql(self) -> tuple[str, list[Any]]:
        query = self.query
        compiler = SQLCompiler(query, self.connection)
        qn = compiler.quote_name
        sets, params = [], []
        for field, value in self.values:
            if hasattr(value, "as_sql"):
                s, p = compiler.compile(value)
                sets.append(f"{qn(field.column)} = {s}")
                params.extend(p)
            else:
                sets.append(f"{qn(field.column)} = %s")
                params.append(
                    field.get_db_prep_save(value, self.connection) if value is not None else None
                )
        sql = f"UPDATE {qn(query.base_table)} SET {', '.join(sets)}"  # type: ignore[arg-type]
        where_sql, where_params = self._where(compiler)
        if where_sql:
            sql += f" WHERE {where_sql}"
            params.extend(where_params)
        return sql, params

    def _where(self, compiler: SQLCompiler) -> tuple[str, list[Any]]:
        query = self.query
        if query.joins or query.is_sliced or query.distinct:
            # Narrow through the primary keys: UPDATE cannot join or limit portably.
            inner = query.clone()
            inner.values_select = (query.meta.pk.attname,)
            inner.annotation_select_mask = set()
            inner.order_by = () if not inner.is_sliced else inner.order_by
            sql, params = inner.get_compiler(self.connection).as_sql()
            return f"{compiler.quote_name(query.meta.pk.column)} IN ({sql})", params
        if not query.where:
            return "", []
        return compiler.compile(query.where)


class SQLDeleteCompiler:
    def __init__(self, query: Query, connection: Any) -> None:
        self.query = query
        self.connection = connection

    def as_sql(self) -> tuple[str, list[Any]]:
        query = self.query
        compiler = SQLCompiler(query, self.connection)
        qn = compiler.quote_name
        sql = f"DELETE FROM {qn(query.base_table)}"  # type: ignore[arg-type]
        where_sql, params = SQLUpdateCompiler(query, (), self.connection)._where(compiler)
        if where_sql:
            sql += f" WHERE {where_sql}"
        return sql, params


__all__ = [
    "LOOKUP_SEP",
    "OrderBy",
    "Ref",
    "SQLAggregateCompiler",
    "SQLCompiler",
    "SQLDeleteCompiler",
    "SQLInsertCompiler",
    "SQLUpdateCompiler",
    "SelectPlan",
    "count_sql",
    "exists_sql",
]
