"""``QuerySet``: lazy, chainable queries with sync methods and native ``a*`` twins.

Building and compiling a query is shared; only the execution differs (``connections``
for sync code, ``async_connections`` for async code).
"""

from __future__ import annotations

import contextlib
import operator
from collections import namedtuple
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

from dorm import signals
from dorm.db.plan import in_atomic, run_async, run_sync
from dorm.exceptions import (
    EmptyResultSet,
    FieldError,
    IntegrityError,
    NotSupportedError,
)
from dorm.expressions import Col
from dorm.models.fields import LOOKUP_CHANGE_HOOKS
from dorm.models.lookups import Exact, GreaterThan, GreaterThanOrEqual, LessThan, LessThanOrEqual
from dorm.models.query_utils import Q
from dorm.sql.compiler import (
    SQLCompiler,
    SQLDeleteCompiler,
    SQLInsertCompiler,
    SQLUpdateCompiler,
    count_sql,
    exists_sql,
)
from dorm.sql.query import LOOKUP_SEP, Query

if TYPE_CHECKING:
    from dorm.models.base import Model

M = TypeVar("M", bound="Model")
REPR_OUTPUT_SIZE = 20

MODEL, VALUES, VALUES_LIST, FLAT, NAMED = range(5)


_CONNECTIONS: tuple[Any, Any] | None = None
_ROUTER: Any = None


def _router() -> Any:
    global _ROUTER
    if _ROUTER is None:  # imported once: ``QuerySet.db`` sits on every query's path
        from dorm.db import router

        _ROUTER = router
    return _ROUTER


def _connections() -> Any:
    global _CONNECTIONS
    if _CONNECTIONS is None:  # imported once: this sits on every query's path
        from dorm.db import async_connections, connections

        _CONNECTIONS = (connections, async_connections)
    return _CONNECTIONS


class _RowBuilder:
    """Turns raw rows into instances / dicts / tuples per a compiled ``SelectPlan``."""

    __slots__ = ("db", "fields_names", "kind", "known", "model", "plan")

    def __init__(
        self, kind: int, plan: Any, model: Any, db: str, names: Sequence[str] | None
    ) -> None:
        self.kind = kind
        self.plan = plan
        self.model = model
        self.db = db
        self.fields_names = names
        # {fk field: instance} of a related manager (``author.books``): set on each row built.
        self.known: dict[Any, Any] | None = None

    def build(self, rows: Iterable[Sequence[Any]]) -> list[Any]:
        plan = self.plan
        convs = plan.converters
        if convs and (self.kind != MODEL or plan.related):
            rows = [_convert(row, convs) for row in rows]
            convs = ()
        kind = self.kind
        names = plan.names
        if kind == MODEL:
            objs = _build_instances(self.model, names, rows, self.db, convs)
            if plan.related:
                _populate_related(objs, rows, plan.related, self.db)
            if self.known:
                _attach_known(objs, self.known)
            return objs
        if kind == VALUES:
            return [dict(zip(names, row, strict=False)) for row in rows]
        if kind == FLAT:
            return [row[0] for row in rows]
        if kind == NAMED:
            tuple_cls = namedtuple("Row", names, rename=True)  # type: ignore[misc]
            return [tuple_cls._make(row) for row in rows]
        return [tuple(row) for row in rows]


_MODEL_STATE: Any = None
#: (column names, converter layout) -> generated function building instances from rows.
_INSTANCE_FACTORIES: dict[Any, Any] = {}
#: (column names, converters) -> (factory, flat converter tuple) or None: the hot lookup.
_FACTORY_BY_CONVERTERS: dict[Any, Any] = {}


def _instance_factory(names: tuple[str, ...], convs: Any) -> Any:
    """``(build, converters)``: a function building model instances from rows of ``names``.

    The function is generated once per column set and converter layout (the converters are
    passed at call time), so a row costs one dict display instead of a list copy, a
    converter loop and a ``dict.update``. ``None`` for layouts it does not handle (the
    generic path runs).
    """
    key = (names, convs)
    try:
        return _FACTORY_BY_CONVERTERS[key]
    except KeyError:
        pass
    except TypeError:  # an unhashable converter: no first-level caching
        key = None
    layout = tuple((index, len(funcs)) for index, funcs in convs) if convs else ()
    layout_key = (names, layout)
    if layout_key in _INSTANCE_FACTORIES:
        factory = _INSTANCE_FACTORIES[layout_key]
    else:
        if len(_INSTANCE_FACTORIES) >= 4096:
            _INSTANCE_FACTORIES.clear()
        factory = _INSTANCE_FACTORIES[layout_key] = _generate_instance_factory(names, layout)
    entry = None
    if factory is not None:
        entry = (factory, tuple(func for _index, fs in convs for func in fs) if convs else ())
    if key is not None:
        if len(_FACTORY_BY_CONVERTERS) >= 4096:
            _FACTORY_BY_CONVERTERS.clear()
        _FACTORY_BY_CONVERTERS[key] = entry
    return entry


def _generate_instance_factory(names: tuple[str, ...], layout: Any) -> Any:
    wrapped: dict[int, str] = {}
    funcs: list[str] = []
    for index, count in layout:
        if index in wrapped or index >= len(names):
            return None
        expr = f"row[{index}]"
        for _ in range(count):
            funcs.append(f"_c{len(funcs)}")
            expr = f"{funcs[-1]}({expr})"
        wrapped[index] = expr
    items = [f"{name!r}: {wrapped.get(i, f'row[{i}]')}" for i, name in enumerate(names)]
    items.append("'_state': _State(_db, False)")
    unpack = f"    {', '.join(funcs)}, = _funcs\n" if funcs else ""
    source = (
        "def build(rows, _new, _cls, _State, _db, _funcs):\n"
        f"{unpack}"
        "    result = []\n"
        "    append = result.append\n"
        "    for row in rows:\n"
        "        obj = _new(_cls)\n"
        f"        obj.__dict__ = {{{', '.join(items)}}}\n"
        "        append(obj)\n"
        "    return result\n"
    )
    namespace: dict[str, Any] = {}
    exec(compile(source, "<dorm instance factory>", "exec"), namespace)
    return namespace["build"]


def _convert(row: Sequence[Any], convs: Any) -> list[Any]:
    row = list(row)
    for index, funcs in convs:
        value = row[index]
        for func in funcs:
            value = func(value)
        row[index] = value
    return row


def _build_instances(
    model: Any, names: tuple[str, ...], rows: Iterable[Sequence[Any]], db: str, convs: Any = ()
) -> list[Any]:
    """Instances from ``rows``; ``convs`` (a plan's converters) not yet applied to the rows."""
    global _MODEL_STATE
    if _MODEL_STATE is None:  # imported once: this sits on every query's path
        from dorm.models.base import ModelState

        _MODEL_STATE = ModelState
    ModelState = _MODEL_STATE
    if convs and signals.pre_init.has_listeners:
        rows = [_convert(row, convs) for row in rows]
        convs = ()
    factory = _instance_factory(names, convs)
    if factory is None and convs:
        rows = [_convert(row, convs) for row in rows]
    if signals.pre_init.has_listeners:
        # As Django, loading an instance sends pre_init (with the row as ``args``).
        rows = list(rows)
        for row in rows:
            signals.pre_init.send(sender=model, args=tuple(row), kwargs={})
    if factory is not None:
        build, funcs = factory
        result: list[Any] = build(rows, object.__new__, model, ModelState, db, funcs)
    else:
        new = object.__new__
        result = []
        append = result.append
        for row in rows:
            obj = new(model)
            d = obj.__dict__
            d.update(zip(names, row, strict=False))
            d["_state"] = ModelState(db, False)
            append(obj)
    if signals.post_init.has_listeners:
        for obj in result:
            signals.post_init.send(sender=model, instance=obj)
    return result


def _attach_known(objs: list[Any], known: dict[Any, Any]) -> None:
    """``author.books.all()``: each book's ``author`` is that very author (no query)."""
    for field, instance in known.items():
        value = getattr(instance, field.target_field.attname)
        for obj in objs:
            if obj.__dict__.get(field.attname) == value:
                obj._state.fields_cache[field.name] = instance


def _populate_related(objs: list[Any], rows: Any, sections: tuple[Any, ...], db: str) -> None:
    """Attach select_related objects (built from the same rows) to their parents' caches."""
    from dorm.models.base import ModelState

    new = object.__new__
    for field, model, start, end, attnames, pk_index, nested in sections:
        if not getattr(field, "concrete", True):  # the reverse side of a one-to-one
            name, reverse_name = field.get_accessor_name(), field.field.name
        else:
            name = field.name
            reverse_name = field.remote_field.get_accessor_name() if field.one_to_one else None
        children = []
        child_rows = []
        for obj, row in zip(objs, rows, strict=False):
            if row[start + pk_index] is None:
                obj._state.fields_cache[name] = None
                continue
            rel = new(model)
            rel.__dict__.update(zip(attnames, row[start:end], strict=False))
            rel.__dict__["_state"] = ModelState(db, False)
            obj._state.fields_cache[name] = rel
            if reverse_name:
                rel._state.fields_cache[reverse_name] = obj
            children.append(rel)
            child_rows.append(row)
        if nested and children:
            _populate_related(children, child_rows, nested, db)


class _LazyQuery:
    """``QuerySet._query`` of a queryset that has not built its Query: builds it (with the
    pending condition, if any) and stores it on the instance, where later reads find it
    without calling this (a non-data descriptor: the instance attribute wins)."""

    def __get__(self, qs: Any, owner: Any = None) -> Any:
        if qs is None:
            return self
        d = qs.__dict__
        query = Query(d.get("model"))
        # The pending condition stays where it is: a thread reading the queryset meanwhile
        # (or cloning it) still sees it.
        pending = d.get("_pending_filter")
        if pending is not None:
            _add_plain_filter(query, *pending)
        return d.setdefault("_query", query)


class QuerySet(Generic[M]):
    """A lazy database lookup for a set of objects (Django's ``QuerySet``)."""

    # Defaults shared by every queryset until one sets its own (creating a queryset is on
    # every query's path: three attributes instead of nine).
    _result_cache: list[Any] | None = None
    _kind = MODEL
    _fields: tuple[str, ...] | None = None
    _for_write = False
    _prefetch_related_lookups: tuple[Any, ...] = ()
    _prefetch_done = False
    _hints: Mapping[str, Any] = MappingProxyType({})  # replaced whole, never updated
    # Built on first use: ``get(pk=...)`` and a one-condition ``filter(...).count()`` of a
    # manager never need one.
    _query: Query = _LazyQuery()  # type: ignore[assignment]

    def __init__(
        self, model: type[M] | None = None, query: Query | None = None, using: str | None = None
    ) -> None:
        self.model: type[M] = model  # type: ignore[assignment]
        if query is not None:
            self._query = query
        self._db = using

    def __class_getitem__(cls, item: Any) -> Any:
        return cls

    @property
    def query(self) -> Query:
        return self._query

    @query.setter
    def query(self, value: Query) -> None:
        self._query = value

    # Cloning ---------------------------------------------------------------------------

    def _clone(self) -> QuerySet[M]:
        c = object.__new__(type(self))
        c.__dict__ = d = self.__dict__.copy()  # one C-level copy (hot: every chained call)
        query = d.get("_query")
        if query is not None:  # else the clone builds its own when needed
            d["_query"] = query.clone()
        d["_result_cache"] = None
        d["_prefetch_done"] = False
        return c

    def _chain(self) -> QuerySet[M]:
        if self.__dict__.pop("_owned", False):
            return self
        return self._clone()

    @property
    def db(self) -> str:
        """The alias this query runs on (router-chosen unless ``using()`` was called)."""
        if self._db:
            return self._db
        router = _router()
        hints = self._hints
        if self._for_write:
            return router.db_for_write(self.model, **hints)
        if not hints:  # (unpacking an empty mapping is not free: every query asks)
            return router.db_for_read(self.model)
        return router.db_for_read(self.model, **hints)

    def _not_sliced(self, action: str) -> None:
        if self._query.is_sliced:
            raise TypeError(f"Cannot {action} a query once a slice has been taken.")

    def _not_combined(self, method: str) -> None:
        if self._query.combinator:
            raise NotSupportedError(
                f"Calling QuerySet.{method}() after {self._query.combinator}() is not supported."
            )

    # Chainable methods -------------------------------------------------------------------

    def all(self) -> QuerySet[M]:
        return self._chain()

    def filter(self, *args: Any, **kwargs: Any) -> QuerySet[M]:
        """Rows matching all conditions (``Q`` objects and ``field__lookup=value``)."""
        return self._filter_or_exclude(False, args, kwargs)

    def exclude(self, *args: Any, **kwargs: Any) -> QuerySet[M]:
        """Rows not matching the conditions."""
        return self._filter_or_exclude(True, args, kwargs)

    def _filter_or_exclude(
        self, negate: bool, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> QuerySet[M]:
        d = self.__dict__
        if "_query" not in d and "_pending_filter" not in d and len(kwargs) == 1 and not args:
            # A queryset without a Query yet (a manager's): keep a plain condition pending;
            # count() and the Query built on first use take it from there.
            ((key, value),) = kwargs.items()
            entry = None if negate else _pending_filter_entry(self.model, key, value)
            if entry is not None:
                c = self._chain()
                c._pending_filter = (entry, value)
                return c
        self._not_combined("exclude" if negate else "filter")
        if (args or kwargs) and self._query.is_sliced:
            raise TypeError("Cannot filter a query once a slice has been taken.")
        c = self._chain()
        if not args and not kwargs:
            return c
        if len(args) == 0 and len(kwargs) == 1 and not negate:
            # Fast path for the most common call: one keyword condition.
            ((key, value),) = kwargs.items()
            query = c._query
            entry = _plain_filter(query, key, value)
            if entry is None:
                before = (len(query.joins), len(query.where.children))
                query.add_filter(key, value)
                _learn_plain_filter(query, key, value, before)
            else:
                _add_plain_filter(query, entry, value)
            return c
        q = Q(*args, **kwargs)
        if negate:
            q = ~q
        c._query.add_q(q)
        return c

    def complex_filter(self, filter_obj: Any) -> QuerySet[M]:
        if isinstance(filter_obj, Q):
            return self.filter(filter_obj)
        return self.filter(**filter_obj)

    def order_by(self, *field_names: Any) -> QuerySet[M]:
        """Replace the ordering with ``"name"``, ``"-age"``, ``"?"`` or expressions.

        ``F("x").asc(nulls_last=True)`` places NULLs explicitly.
        """
        self._not_sliced("reorder")
        c = self._chain()
        c._query.clear_ordering(force=True)
        c._query.add_ordering(*field_names)
        return c

    def reverse(self) -> QuerySet[M]:
        self._not_sliced("reverse")
        c = self._chain()
        c._query.standard_ordering = not c._query.standard_ordering
        return c

    def distinct(self, *field_names: str) -> QuerySet[M]:
        self._not_combined("distinct")
        self._not_sliced("create distinct fields")
        c = self._chain()
        c._query.distinct = True
        c._query.distinct_fields = tuple(field_names)
        return c

    def values(self, *fields: str, **expressions: Any) -> QuerySet[Any]:
        """Rows as dicts of the named fields (all fields when none)."""
        c = self._values(fields, expressions)
        c._kind = VALUES
        return c

    def values_list(self, *fields: Any, flat: bool = False, named: bool = False) -> QuerySet[Any]:
        """Rows as tuples; ``flat=True`` for single values, ``named=True`` for namedtuples."""
        if flat and named:
            raise TypeError("'flat' and 'named' can't be used together.")
        if flat and len(fields) > 1:
            raise TypeError(
                "'flat' is not valid when values_list is called with more than one field."
            )
        names, expressions = [], {}
        for index, field in enumerate(fields, start=1):
            if hasattr(field, "resolve_expression"):
                # values_list("id", Lower("name")): an expression under a generated name.
                try:
                    prefix = getattr(field, "default_alias", None) or type(field).__name__
                except TypeError:
                    prefix = type(field).__name__
                field_id = f"{prefix.lower()}{index}"
                expressions[field_id] = field
                field = field_id
            names.append(field)
        c = self._values(names, expressions)
        c._kind = FLAT if flat else NAMED if named else VALUES_LIST
        return c

    def _values(self, fields: Sequence[str], expressions: dict[str, Any]) -> QuerySet[Any]:
        c: QuerySet[Any] = self._chain()  # type: ignore[assignment]
        names = list(fields)
        for alias, expr in expressions.items():
            if not hasattr(expr, "resolve_expression"):
                raise TypeError(f"values() argument {alias!r} must be an expression.")
            c._query.add_annotation(expr, alias)
            if alias not in names:
                names.append(alias)
        c._query.set_values(names)
        c._fields = tuple(names)
        return c

    def only(self, *fields: str) -> QuerySet[M]:
        """Load only these fields now (the primary key is always loaded)."""
        self._not_combined("only")
        if not fields:
            raise TypeError("only() needs at least one field name.")
        c = self._chain()
        c._query.add_immediate_loading(fields)
        c._query.loaded_fields()
        return c

    def defer(self, *fields: str) -> QuerySet[M]:
        """Load these fields lazily, on first access."""
        self._not_combined("defer")
        c = self._chain()
        if fields == (None,):
            c._query.deferred_loading = (frozenset(), True)
        else:
            c._query.add_deferred_loading(fields)
            c._query.loaded_fields()
        return c

    def none(self) -> QuerySet[M]:
        """An empty QuerySet that never touches the database."""
        c = self._chain()
        c._query.set_empty()
        return c

    def using(self, alias: str | None) -> QuerySet[M]:
        c = self._chain()
        c._db = alias
        return c

    def select_for_update(
        self,
        nowait: bool = False,
        skip_locked: bool = False,
        of: Sequence[str] = (),
        no_key: bool = False,
    ) -> QuerySet[M]:
        """Lock the selected rows until the end of the transaction (ignored on SQLite)."""
        if nowait and skip_locked:
            raise ValueError("The nowait option cannot be used with skip_locked.")
        c = self._chain()
        c._for_write = True
        q = c._query
        q.select_for_update = True
        q.select_for_update_nowait = nowait
        q.select_for_update_skip_locked = skip_locked
        q.select_for_update_of = tuple(of)
        q.select_for_no_key_update = no_key
        return c

    def annotate(self, *args: Any, **kwargs: Any) -> QuerySet[M]:
        """Add computed columns (expressions, aggregates) to each row."""
        return self._annotate(args, kwargs, select=True)

    def alias(self, *args: Any, **kwargs: Any) -> QuerySet[M]:
        """Like ``annotate`` but not selected: usable in filters and ordering."""
        return self._annotate(args, kwargs, select=False)

    def _annotate(self, args: tuple[Any, ...], kwargs: dict[str, Any], select: bool) -> QuerySet[M]:
        self._not_combined("annotate" if select else "alias")
        self._not_sliced("annotate")
        annotations = dict(kwargs)
        for arg in args:
            name = getattr(arg, "default_alias", None)
            if name is None:
                raise TypeError("Complex annotations require an alias.")
            if name in annotations:
                raise ValueError(
                    f"The named annotation {name!r} conflicts with another annotation."
                )
            annotations[name] = arg
        c = self._chain()
        for alias, expr in annotations.items():
            if not hasattr(expr, "resolve_expression"):
                raise TypeError(f"QuerySet.annotate() received a non-expression: {alias}={expr!r}.")
            c._query.add_annotation(expr, alias, select=select)
            # values(...).annotate(<aggregate>) regroups by the values() fields (Django).
            if getattr(c._query.annotations[alias], "contains_aggregate", False) and (
                c._query.group_by is None or c._query.values_select is not None
            ):
                c._query.set_group_by()
        if c._kind != MODEL and select and c._fields is not None:
            c._fields = (*c._fields, *[a for a in annotations if a not in c._fields])
        return c

    def _combinator(
        self, combinator: str, other_qs: Sequence[QuerySet[Any]], all: bool
    ) -> QuerySet[M]:
        c = self._chain()
        queries = []
        for query in (self._query, *[q._query for q in other_qs]):
            if not query.is_sliced:
                # As Django: the parts of a compound statement are unordered unless sliced.
                query = query.clone()
                query.clear_ordering(force=True)
            queries.append(query)
        c._query = queries[0].combine_with(combinator, queries[1:], all)
        return c

    def union(self, *other_qs: QuerySet[Any], all: bool = False) -> QuerySet[M]:
        return self._combinator("union", other_qs, all)

    def intersection(self, *other_qs: QuerySet[Any]) -> QuerySet[M]:
        return self._combinator("intersection", other_qs, False)

    def difference(self, *other_qs: QuerySet[Any]) -> QuerySet[M]:
        return self._combinator("difference", other_qs, False)

    def select_related(self, *fields: str) -> QuerySet[M]:
        c = self._chain()
        hook = getattr(c._query, "add_select_related", None)
        if fields == (None,):
            c._query.select_related = False
        elif hook is not None:
            hook(fields)
        elif fields:
            raise FieldError(
                f"Invalid field name(s) given in select_related: {', '.join(fields)}. "
                f"{self.model.__name__} has no relations."
            )
        return c

    def prefetch_related(self, *lookups: Any) -> QuerySet[M]:
        c = self._chain()
        if lookups == (None,):
            c._prefetch_related_lookups = ()
        else:
            c._prefetch_related_lookups = (*c._prefetch_related_lookups, *lookups)
        return c

    # Slicing and iteration ---------------------------------------------------------------

    @overload
    def __getitem__(self, k: int) -> M: ...
    @overload
    def __getitem__(self, k: slice) -> QuerySet[M]: ...
    def __getitem__(self, k: Any) -> Any:
        if not isinstance(k, (int, slice)):
            raise TypeError(f"QuerySet indices must be integers or slices, not {type(k).__name__}.")
        if (isinstance(k, int) and k < 0) or (
            isinstance(k, slice)
            and ((k.start is not None and k.start < 0) or (k.stop is not None and k.stop < 0))
        ):
            raise ValueError("Negative indexing is not supported.")
        if isinstance(k, slice) and k.step not in (None, 1) and self._result_cache is None:
            qs = self._chain()
            qs._query.set_limits(k.start, k.stop)
            return list(qs)[:: k.step]
        if self._result_cache is not None:
            return self._result_cache[k]
        if isinstance(k, slice):
            qs = self._chain()
            start = int(k.start) if k.start is not None else None
            stop = int(k.stop) if k.stop is not None else None
            qs._query.set_limits(start, stop)  # both relative to the current slice
            return qs
        qs = self._chain()
        qs._query.set_limits(k, k + 1)
        results = qs._fetch()
        if not results:
            raise IndexError("QuerySet index out of range")
        return results[0]

    def __iter__(self) -> Iterator[M]:
        self._fetch_all()
        return iter(self._result_cache)  # type: ignore[arg-type]

    def __aiter__(self) -> AsyncIterator[M]:
        return self._aiter()

    async def _aiter(self) -> AsyncIterator[M]:
        await self._afetch_all()
        for obj in self._result_cache:  # type: ignore[union-attr]
            yield obj

    def __len__(self) -> int:
        self._fetch_all()
        return len(self._result_cache)  # type: ignore[arg-type]

    def __bool__(self) -> bool:
        self._fetch_all()
        return bool(self._result_cache)

    def __repr__(self) -> str:
        data = list(self[: REPR_OUTPUT_SIZE + 1])
        if len(data) > REPR_OUTPUT_SIZE:
            data[-1] = "...(remaining elements truncated)..."
        return f"<{type(self).__name__} {data!r}>"

    def __and__(self, other: QuerySet[M]) -> QuerySet[M]:
        c = self._chain()
        c._query.where = c._query.where.add(other._query.where)
        return c

    def __or__(self, other: QuerySet[M]) -> QuerySet[M]:
        from dorm.sql.where import OR, WhereNode

        c = self._chain()
        c._query.where = WhereNode((self._query.where, other._query.where), OR)
        return c

    # Evaluation ----------------------------------------------------------------------------

    def _compile(self, conn: Any) -> tuple[str, list[Any], _RowBuilder]:
        sql, params, plan = SQLCompiler(self._query, conn).cached_select()
        builder = _RowBuilder(self._kind, plan, self.model, conn.alias, self._fields)
        builder.known = self.__dict__.get("_known_related_objects")
        return sql, params, builder

    def _fetch(self) -> list[Any]:
        connections, _ = _connections()
        conn = connections[self.db]
        try:
            sql, params, builder = self._compile(conn)
        except EmptyResultSet:
            return []
        results = builder.build(conn.fetchall(sql, params))
        if self._prefetch_related_lookups and self._kind == MODEL:
            self._run_prefetch(results)
        return results

    async def _afetch(self) -> list[Any]:
        _, async_connections = _connections()
        conn = async_connections[self.db]
        try:
            sql, params, builder = self._compile(conn)
        except EmptyResultSet:
            return []
        results = builder.build(await conn.fetchall(sql, params))
        if self._prefetch_related_lookups and self._kind == MODEL:
            await self._arun_prefetch(results)
        return results

    def _run_prefetch(self, results: list[Any]) -> None:
        from dorm.models.prefetch import prefetch_related_objects

        prefetch_related_objects(results, *self._prefetch_related_lookups)

    async def _arun_prefetch(self, results: list[Any]) -> None:
        from dorm.models.prefetch import aprefetch_related_objects

        await aprefetch_related_objects(results, *self._prefetch_related_lookups)

    def _fetch_all(self) -> None:
        if self._result_cache is None:
            self._result_cache = self._fetch()

    async def _afetch_all(self) -> None:
        if self._result_cache is None:
            self._result_cache = await self._afetch()

    def iterator(self, chunk_size: int | None = None) -> Iterator[M]:
        """Stream results in chunks without caching them (bounded memory)."""
        if chunk_size is not None and chunk_size <= 0:
            raise ValueError("Chunk size must be strictly positive.")
        connections, _ = _connections()
        conn = connections[self.db]
        try:
            sql, params, builder = self._compile(conn)
        except EmptyResultSet:
            return
        size = chunk_size or 2000
        batch: list[Any] = []
        for row in conn.iterate(sql, params, size):
            batch.append(row)
            if len(batch) >= size:
                yield from self._build_chunk(builder, batch)
                batch = []
        if batch:
            yield from self._build_chunk(builder, batch)

    def _build_chunk(self, builder: _RowBuilder, rows: list[Any]) -> list[Any]:
        objs = builder.build(rows)
        if self._prefetch_related_lookups and self._kind == MODEL:
            self._run_prefetch(objs)
        return objs

    async def aiterator(self, chunk_size: int | None = None) -> AsyncIterator[M]:
        """Async :meth:`iterator`: ``async for obj in qs.aiterator(chunk_size=2000)``."""
        if chunk_size is not None and chunk_size <= 0:
            raise ValueError("Chunk size must be strictly positive.")
        _, async_connections = _connections()
        conn = async_connections[self.db]
        try:
            sql, params, builder = self._compile(conn)
        except EmptyResultSet:
            return
        size = chunk_size or 2000
        batch: list[Any] = []
        # aclosing: leaving the loop early (break, error) closes the backend's stream (its
        # cursor, connection, transaction) now, not whenever the event loop finalizes it.
        async with contextlib.aclosing(conn.iterate(sql, params, size)) as rows:
            async for row in rows:
                batch.append(row)
                if len(batch) >= size:
                    objs = builder.build(batch)
                    if self._prefetch_related_lookups and self._kind == MODEL:
                        await self._arun_prefetch(objs)
                    for obj in objs:
                        yield obj
                    batch = []
        if batch:
            objs = builder.build(batch)
            if self._prefetch_related_lookups and self._kind == MODEL:
                await self._arun_prefetch(objs)
            for obj in objs:
                yield obj

    # Terminal: reading ---------------------------------------------------------------------

    def _count_sql(self, conn: Any) -> tuple[str, list[Any]]:
        if "_query" not in self.__dict__:
            pending = _pending_count(self, conn)
            if pending is not None:
                return pending
        return count_sql(self._query, conn)

    def count(self) -> int:
        """``SELECT COUNT(*)`` (or the cached length if already evaluated)."""
        if self._result_cache is not None:
            return len(self._result_cache)
        connections, _ = _connections()
        conn = connections[self.db]
        try:
            sql, params = self._count_sql(conn)
        except EmptyResultSet:
            return 0
        return int(conn.fetchone(sql, params)[0])

    async def acount(self) -> int:
        if self._result_cache is not None:
            return len(self._result_cache)
        _, async_connections = _connections()
        conn = async_connections[self.db]
        try:
            sql, params = self._count_sql(conn)
        except EmptyResultSet:
            return 0
        return int((await conn.fetchone(sql, params))[0])

    def exists(self) -> bool:
        if self._result_cache is not None:
            return bool(self._result_cache)
        connections, _ = _connections()
        conn = connections[self.db]
        try:
            sql, params = exists_sql(self._query, conn)
        except EmptyResultSet:
            return False
        return conn.fetchone(sql, params) is not None

    async def aexists(self) -> bool:
        if self._result_cache is not None:
            return bool(self._result_cache)
        _, async_connections = _connections()
        conn = async_connections[self.db]
        try:
            sql, params = exists_sql(self._query, conn)
        except EmptyResultSet:
            return False
        return await conn.fetchone(sql, params) is not None

    def contains(self, obj: Any) -> bool:
        if obj.pk is None:
            raise ValueError("QuerySet.contains() cannot be used on unsaved objects.")
        if self._result_cache is not None:
            return obj in self._result_cache
        return self.filter(pk=obj.pk).exists()

    async def acontains(self, obj: Any) -> bool:
        if obj.pk is None:
            raise ValueError("QuerySet.contains() cannot be used on unsaved objects.")
        if self._result_cache is not None:
            return obj in self._result_cache
        return await self.filter(pk=obj.pk).aexists()

    def _get_qs(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> QuerySet[M]:
        if self._query.combinator and (args or kwargs):
            raise NotSupportedError(
                f"Calling QuerySet.get(...) with filters after {self._query.combinator}() is "
                "not supported."
            )
        qs = self.filter(*args, **kwargs) if (args or kwargs) else self._chain()
        if not qs._query.is_sliced and not qs._query.distinct_fields:
            qs._query.clear_ordering(force=True)
            qs._query.set_limits(high=21)  # MAX_GET_RESULTS, as Django
        return qs

    def _get_result(self, results: list[Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> M:
        n = len(results)
        if n == 1:
            return results[0]  # type: ignore[no-any-return]
        lookup = _describe_lookup(args, kwargs)
        if not n:
            raise self.model.DoesNotExist(
                f"{self.model._meta.object_name} matching query does not exist ({lookup})."
            )
        raise self.model.MultipleObjectsReturned(
            f"get() returned more than one {self.model._meta.object_name} -- it returned "
            f"{'more than 20' if n > 20 else n}! ({lookup})"
        )

    def get(self, *args: Any, **kwargs: Any) -> M:
        """The single object matching the lookup; ``DoesNotExist``/``MultipleObjectsReturned``."""
        if not args and len(kwargs) == 1 and type(self) is QuerySet:
            connections, _ = _connections()
            conn = connections[self.db]
            fast = _pk_get(self, conn, kwargs)
            if fast is not None:
                sql, params, builder = fast
                return self._get_result(builder.build(conn.fetchall(sql, params)), args, kwargs)
        return self._get_result(self._get_qs(args, kwargs)._fetch(), args, kwargs)

    async def aget(self, *args: Any, **kwargs: Any) -> M:
        if not args and len(kwargs) == 1 and type(self) is QuerySet:
            _, async_connections = _connections()
            conn = async_connections[self.db]
            fast = _pk_get(self, conn, kwargs)
            if fast is not None:
                sql, params, builder = fast
                rows = await conn.fetchall(sql, params)
                return self._get_result(builder.build(rows), args, kwargs)
        return self._get_result(await self._get_qs(args, kwargs)._afetch(), args, kwargs)

    def _first_qs(self, reverse: bool) -> QuerySet[M]:
        q = self._query
        if q.order_by or (q.default_ordering and q.model is not None and q.model._meta.ordering):
            qs = self._chain()
        else:
            qs = self.order_by("pk")
        if reverse:
            qs = qs.reverse()
        qs._query.set_limits(high=1)
        return qs

    def first(self) -> M | None:
        """The first object (by the ordering, else by pk), or ``None``."""
        results = list(self[:1]) if self._query.is_sliced else self._first_qs(False)._fetch()
        return results[0] if results else None

    async def afirst(self) -> M | None:
        if self._query.is_sliced:
            results = await self._chain()._afetch()
            return results[0] if results else None
        results = await self._first_qs(False)._afetch()
        return results[0] if results else None

    def last(self) -> M | None:
        """The last object (by the ordering, else by pk), or ``None``."""
        if self._query.is_sliced:
            raise TypeError("Cannot reverse a query once a slice has been taken.")
        results = self._first_qs(True)._fetch()
        return results[0] if results else None

    async def alast(self) -> M | None:
        if self._query.is_sliced:
            raise TypeError("Cannot reverse a query once a slice has been taken.")
        results = await self._first_qs(True)._afetch()
        return results[0] if results else None

    def _earliest_qs(self, fields: tuple[Any, ...], latest: bool) -> QuerySet[M]:
        if not fields:
            order_by = self.model._meta.get_latest_by
            if order_by is None:
                raise ValueError(
                    "earliest() and latest() require either fields as positional arguments or "
                    "'get_latest_by' in the model's Meta."
                )
            fields = tuple(order_by) if isinstance(order_by, (list, tuple)) else (order_by,)
        self._not_sliced("change the query ordering")
        qs = self._chain()
        qs._query.set_limits(high=1)
        qs._query.clear_ordering(force=True)
        qs._query.add_ordering(*fields)
        if latest:
            qs._query.standard_ordering = not qs._query.standard_ordering
        return qs

    def earliest(self, *fields: Any) -> M:
        results = self._earliest_qs(fields, False)._fetch()
        return self._get_result(results[:1], (), {"earliest": fields or "get_latest_by"})

    async def aearliest(self, *fields: Any) -> M:
        results = await self._earliest_qs(fields, False)._afetch()
        return self._get_result(results[:1], (), {"earliest": fields or "get_latest_by"})

    def latest(self, *fields: Any) -> M:
        results = self._earliest_qs(fields, True)._fetch()
        return self._get_result(results[:1], (), {"latest": fields or "get_latest_by"})

    async def alatest(self, *fields: Any) -> M:
        results = await self._earliest_qs(fields, True)._afetch()
        return self._get_result(results[:1], (), {"latest": fields or "get_latest_by"})

    def _in_bulk_qs(
        self, id_list: Iterable[Any] | None, field_name: str
    ) -> tuple[QuerySet[M], str, bool]:
        self._not_sliced("use 'limit' or 'offset' with in_bulk()")
        opts = self.model._meta
        field = opts.get_field(field_name)
        unique_names = {c.fields[0] for c in opts.total_unique_constraints if len(c.fields) == 1}
        if field_name != "pk" and not field.unique and field_name not in unique_names:
            raise ValueError(
                f"in_bulk()'s field_name must be a unique field but {field_name!r} isn't."
            )
        attname = field.attname
        if id_list is not None:
            ids = list(id_list)
            if not ids:
                return self.none(), attname, True
            qs = self.filter(**{f"{field_name}__in": ids}).order_by()
        else:
            qs = self._chain()
        return qs, attname, False

    def in_bulk(
        self, id_list: Iterable[Any] | None = None, *, field_name: str = "pk"
    ) -> dict[Any, M]:
        """``{value: obj}`` for the objects whose ``field_name`` is in ``id_list``."""
        qs, attname, empty = self._in_bulk_qs(id_list, field_name)
        if empty:
            return {}
        return {obj.__dict__[attname]: obj for obj in qs._fetch()}

    async def ain_bulk(
        self, id_list: Iterable[Any] | None = None, *, field_name: str = "pk"
    ) -> dict[Any, M]:
        qs, attname, empty = self._in_bulk_qs(id_list, field_name)
        if empty:
            return {}
        return {obj.__dict__[attname]: obj for obj in await qs._afetch()}

    def _aggregate_query(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        from dorm.sql.query import AggregateQuery

        if self._query.distinct_fields:
            raise NotImplementedError("aggregate() + distinct(fields) not implemented.")
        aggregates = dict(kwargs)
        for arg in args:
            alias = getattr(arg, "default_alias", None)
            if alias is None:
                raise TypeError("Complex aggregates require an alias.")
            aggregates[alias] = arg
        for alias, expr in aggregates.items():
            if not getattr(expr, "contains_aggregate", False) and not _contains_aggregate(expr):
                raise TypeError(f"{alias} is not an aggregate expression.")
        inner = self._query.clone()
        needs_subquery = (
            inner.is_sliced
            or inner.distinct
            or inner.combinator
            or any(getattr(a, "contains_aggregate", False) for a in inner.annotations.values())
        )
        if not needs_subquery:
            query = inner
            query.order_by = ()
            query.default_ordering = False
            query.values_select = ()
            query.annotation_select_mask = set()
            query.group_by = None
            for alias, expr in aggregates.items():
                query.add_annotation(expr, alias, select=True)
            query.annotation_select_mask = set(aggregates)
            query.values_select = tuple(aggregates)
            return query, list(aggregates)
        if not inner.is_sliced:  # a slice's rows depend on the ordering
            inner.order_by = ()
            inner.default_ordering = False
        outer = AggregateQuery(self.model, inner)
        # Aggregate over the rows of the inner query: every column the aggregates read is
        # selected by the inner query under a generated alias and referenced from outside.
        selected: list[str] = []
        resolved = {}
        for alias, expr in aggregates.items():
            r = expr.resolve_expression(inner, summarize=True)
            resolved[alias] = _lift_columns(r, inner, selected)
        if not selected:
            inner.annotations["__pk"] = Col(inner.base_alias, inner.meta.pk)
            selected.append("__pk")
        inner.values_select = tuple(selected)
        inner.annotation_select_mask = set(selected)
        outer.annotations = resolved
        outer.values_select = tuple(aggregates)
        outer.annotation_select_mask = set(aggregates)
        return outer, list(aggregates)

    def aggregate(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """A dict of aggregate values over the whole QuerySet."""
        query, names = self._aggregate_query(args, kwargs)
        connections, _ = _connections()
        conn = connections[self.db]
        try:
            sql, params, plan = query.get_compiler(conn).compile_select()
            row = conn.fetchone(sql, params)
        except EmptyResultSet:
            row = None
            plan = None
        return _aggregate_result(query, names, row, plan)

    async def aaggregate(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        query, names = self._aggregate_query(args, kwargs)
        _, async_connections = _connections()
        conn = async_connections[self.db]
        try:
            sql, params, plan = query.get_compiler(conn).compile_select()
            row = await conn.fetchone(sql, params)
        except EmptyResultSet:
            row = None
            plan = None
        return _aggregate_result(query, names, row, plan)

    def explain(self, **options: Any) -> str:
        connections, _ = _connections()
        conn = connections[self.db]
        sql, params, _ = self._compile(conn)
        prefix = conn.ops.explain_prefix() if hasattr(conn.ops, "explain_prefix") else "EXPLAIN"
        rows = conn.fetchall(f"{prefix} {sql}", params)
        return "\n".join(" ".join(str(c) for c in row) for row in rows)

    # Terminal: writing ---------------------------------------------------------------------

    def _write_alias(self) -> str:
        if self._db:
            return self._db
        return _router().db_for_write(self.model, **self._hints)

    def create(self, **kwargs: Any) -> M:
        """Create and save an object in one step."""
        obj = self.model(**kwargs)
        obj.save(force_insert=True, using=self._write_alias())
        return obj

    async def acreate(self, **kwargs: Any) -> M:
        obj = self.model(**kwargs)
        await obj.asave(force_insert=True, using=self._write_alias())
        return obj

    def _extract_model_params(
        self, defaults: dict[str, Any] | None, **kwargs: Any
    ) -> dict[str, Any]:
        defaults = defaults or {}
        params = {k: v for k, v in kwargs.items() if LOOKUP_SEP not in k}
        params.update(defaults)
        property_names = {
            name
            for name in dir(self.model)
            if isinstance(getattr(type(self.model), name, None), property)
        }
        invalid = []
        for param in params:
            try:
                self.model._meta.get_field(param)
            except Exception:
                if param not in property_names:
                    invalid.append(param)
        if invalid:
            raise FieldError(
                f"Invalid field name(s) for model {self.model._meta.object_name}: "
                f"{', '.join(sorted(invalid))}."
            )
        return {k: (v() if callable(v) else v) for k, v in params.items()}

    def _get_or_create_plan(
        self,
        conn: Any,
        alias: str,
        defaults: dict[str, Any] | None,
        create_defaults: dict[str, Any] | None,
        update: bool,
        kwargs: dict[str, Any],
    ) -> Any:
        lookup = kwargs
        qs = self.using(alias)
        if update:
            qs = qs.select_for_update()
        found = yield from _fetch_plan(conn, qs._get_qs((), lookup))
        if len(found) > 1:
            qs._get_result(found, (), lookup)
        if found:
            obj = found[0]
            if update:
                for key, value in (defaults or {}).items():
                    setattr(obj, key, value() if callable(value) else value)
                update_fields = set(defaults or {})
                concrete = {f.name for f in obj._meta.concrete_fields}
                if update_fields and update_fields <= concrete:
                    for field in obj._meta.concrete_fields:
                        if getattr(field, "auto_now", False):
                            update_fields.add(field.name)
                    yield from obj._save_plan(conn, alias, False, False, update_fields)
                else:
                    yield from obj._save_plan(conn, alias, False, False, None)
            return obj, False
        params = self._extract_model_params(
            create_defaults if create_defaults is not None else defaults, **lookup
        )
        obj = self.model(**params)

        def insert(conn: Any) -> Any:
            yield from obj._save_plan(conn, alias, True, False, None)

        try:
            yield ("atomic", insert, True)
        except IntegrityError:
            # Lost a race with a concurrent insert: the row exists now.
            found = yield from _fetch_plan(conn, self.using(alias)._get_qs((), lookup))
            if found:
                return found[0], False
            raise
        return obj, True

    def get_or_create(
        self, defaults: dict[str, Any] | None = None, **kwargs: Any
    ) -> tuple[M, bool]:
        """``(obj, created)``: fetch the object matching ``kwargs`` or create it."""
        alias = self._write_alias()
        return run_sync(
            alias, lambda conn: self._get_or_create_plan(conn, alias, defaults, None, False, kwargs)
        )  # type: ignore[no-any-return]

    async def aget_or_create(
        self, defaults: dict[str, Any] | None = None, **kwargs: Any
    ) -> tuple[M, bool]:
        alias = self._write_alias()
        return await run_async(
            alias, lambda conn: self._get_or_create_plan(conn, alias, defaults, None, False, kwargs)
        )  # type: ignore[no-any-return]

    def update_or_create(
        self,
        defaults: dict[str, Any] | None = None,
        create_defaults: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> tuple[M, bool]:
        """``(obj, created)``: update the object matching ``kwargs`` with ``defaults``, or create
        it."""
        alias = self._write_alias()

        return run_sync(
            alias,
            in_atomic(self._get_or_create_plan, alias, defaults, create_defaults, True, kwargs),
        )  # type: ignore[no-any-return]

    async def aupdate_or_create(
        self,
        defaults: dict[str, Any] | None = None,
        create_defaults: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> tuple[M, bool]:
        alias = self._write_alias()

        return await run_async(
            alias,
            in_atomic(self._get_or_create_plan, alias, defaults, create_defaults, True, kwargs),
        )  # type: ignore[no-any-return]

    def _bulk_create_plan(
        self,
        conn: Any,
        alias: str,
        objs: list[Any],
        batch_size: int | None,
        ignore_conflicts: bool,
        update_conflicts: bool,
        update_fields: Sequence[str] | None,
        unique_fields: Sequence[str] | None,
    ) -> Any:
        from dorm.models.fields import DATABASE_DEFAULT, AutoField, Field, db_prep_plan

        if batch_size is not None and batch_size <= 0:
            raise ValueError("Batch size must be a positive integer.")
        if ignore_conflicts and update_conflicts:
            raise ValueError("ignore_conflicts and update_conflicts are mutually exclusive.")
        meta = self.model._meta
        on_conflict = None
        update_fields = list(update_fields or [])
        unique_fields = [meta.pk.name if f == "pk" else f for f in (unique_fields or [])]
        if update_conflicts:
            if not update_fields:
                raise ValueError(
                    "Fields that will be updated when a row insertion fails on conflicts must "
                    "be provided."
                )
            for name in update_fields:
                field = meta.get_field(name)
                if field.primary_key:
                    raise ValueError(
                        "bulk_create() cannot be used with primary keys in update_fields."
                    )
            if not unique_fields and conn.features.supports_update_conflicts_with_target:
                raise ValueError("Unique fields that can trigger the upsert must be provided.")
            for name in unique_fields:
                meta.get_field(name)
            on_conflict = "update"
        elif ignore_conflicts:
            on_conflict = "ignore"
        if not objs:
            return objs
        for obj in objs:
            if obj._meta is not meta and obj._meta.label != meta.label:
                raise TypeError(
                    f"bulk_create() got a {type(obj).__name__}, expected {meta.object_name}."
                )
            if obj._state._fields_cache:  # (else nothing to check: skip the call per row)
                obj._prepare_related_fields_for_save()
        pk = meta.pk
        with_pk: list[Any] = objs
        without_pk: list[Any] = []
        if isinstance(pk, AutoField):
            with_pk = []
            for obj in objs:
                (with_pk if obj.__dict__.get(pk.attname) is not None else without_pk).append(obj)
        # Objects leaving different db_default fields to the database need different column
        # lists: insert them in separate groups.
        db_fields = [f for f in meta.concrete_fields if f.has_db_default()]
        groups = []
        for group, include_pk in ((with_pk, True), (without_pk, False)):
            if not db_fields:  # one group: no per-object key to build
                groups.append((group, include_pk))
                continue
            by_default: dict[tuple[bool, ...], list[Any]] = {}
            for o in group:
                key = tuple(o.__dict__.get(f.attname) is DATABASE_DEFAULT for f in db_fields)
                by_default.setdefault(key, []).append(o)
            groups.extend((g, include_pk) for g in by_default.values())
        for group, include_pk in groups:
            if not group:
                continue
            fields = [f for f in meta.concrete_fields if include_pk or f is not pk]
            fields = [
                f
                for f in fields
                if not (
                    f.has_db_default()
                    and all(f.pre_save(o, True) is DATABASE_DEFAULT for o in group)
                )
            ]
            returning = []
            can_return = conn.features.can_return_rows_from_bulk_insert and on_conflict is None
            if not include_pk and can_return:
                returning = [pk]
            size = conn.ops.bulk_batch_size(max(len(fields), 1), len(group))
            size = min(batch_size, size) if batch_size else size
            compiler = SQLInsertCompiler(
                self.model,
                fields,
                conn,
                returning=returning,
                on_conflict=on_conflict,
                update_fields=update_fields,
                unique_fields=unique_fields,
            )
            # The hot loop (rows x fields) skips the base class' pass-through levels: Field's
            # pre_save is a plain __dict__ read; a value of a passthrough class needs at most the
            # ops adapter (db_prep_plan); and where neither get_db_prep_save nor
            # get_db_prep_value is overridden (and no ops adapter applies), get_db_prep_save(v,
            # conn) is get_prep_value(v).
            ops = conn.ops
            getters = [
                (
                    f.attname if type(f).pre_save is Field.pre_save else None,
                    f.pre_save,
                    *db_prep_plan(f, ops),
                    *(
                        (f.get_prep_value, True)
                        if type(f).get_db_prep_save is Field.get_db_prep_save
                        and type(f).get_db_prep_value is Field.get_db_prep_value
                        and f.db_adapter is None
                        else (f.get_db_prep_save, False)
                    ),
                )
                for f in fields
            ]
            for start in range(0, len(group), size):
                batch = group[start : start + size]
                params: list[Any] = []
                append = params.append
                for obj in batch:
                    d = obj.__dict__
                    for attname, pre_save, passthrough, adapter, prep, direct in getters:
                        value = d.get(attname) if attname is not None else pre_save(obj, True)
                        if value.__class__ in passthrough:
                            append(value if adapter is None else adapter(ops, value))
                        elif value is None:
                            append(None)
                        else:
                            append(prep(value) if direct else prep(value, conn))
                sql = compiler.sql_for_rows(len(batch))
                if compiler.columnar(len(batch)):  # one array per column (row-major so far)
                    width = len(fields)
                    params = [params[i::width] for i in range(width)]
                if returning:
                    rows = yield ("fetchall", sql, params)
                    for obj, row in zip(batch, rows, strict=False):
                        obj.__dict__[pk.attname] = row[0]
                else:
                    yield ("rowcount", sql, params)
            for obj in group:
                obj._state.adding = False
                obj._state.db = alias
        return objs

    def _bulk_create_job(self, objs: Iterable[M], *options: Any) -> tuple[str, Any]:
        """``(alias, plan)`` of ``(a)bulk_create``: the plan in one transaction."""
        alias = self._write_alias()
        return alias, in_atomic(self._bulk_create_plan, alias, list(objs), *options)

    def bulk_create(
        self,
        objs: Iterable[M],
        batch_size: int | None = None,
        ignore_conflicts: bool = False,
        update_conflicts: bool = False,
        update_fields: Sequence[str] | None = None,
        unique_fields: Sequence[str] | None = None,
    ) -> list[M]:
        """Insert many objects in as few statements as the driver allows, in one transaction.

        Primary keys are set on the objects where the backend returns them (RETURNING).
        """
        return run_sync(
            *self._bulk_create_job(
                objs, batch_size, ignore_conflicts, update_conflicts, update_fields, unique_fields
            )
        )  # type: ignore[no-any-return]

    async def abulk_create(
        self,
        objs: Iterable[M],
        batch_size: int | None = None,
        ignore_conflicts: bool = False,
        update_conflicts: bool = False,
        update_fields: Sequence[str] | None = None,
        unique_fields: Sequence[str] | None = None,
    ) -> list[M]:
        return await run_async(
            *self._bulk_create_job(
                objs, batch_size, ignore_conflicts, update_conflicts, update_fields, unique_fields
            )
        )  # type: ignore[no-any-return]

    def _bulk_update_plan(
        self, conn: Any, objs: list[Any], fields: Sequence[str], batch_size: int | None
    ) -> Any:
        from dorm.expressions import Value
        from dorm.models.functions import Case, When

        if batch_size is not None and batch_size <= 0:
            raise ValueError("Batch size must be a positive integer.")
        if not fields:
            raise ValueError("Field names must be given to bulk_update().")
        meta = self.model._meta
        field_objs = [meta.get_field(name) for name in fields]
        if any(not f.concrete or getattr(f, "many_to_many", False) for f in field_objs):
            raise ValueError("bulk_update() can only be used with concrete fields.")
        if any(f.primary_key for f in field_objs):
            raise ValueError("bulk_update() cannot be used with primary key fields.")
        if not objs:
            return 0
        for obj in objs:
            if obj.pk is None:
                raise ValueError("All bulk_update() objects must have a primary key set.")
        size = conn.ops.bulk_batch_size(len(field_objs) * 2 + 1, len(objs))
        size = min(batch_size, size) if batch_size else size
        total = 0
        for start in range(0, len(objs), size):
            batch = objs[start : start + size]
            values = []
            for field in field_objs:
                whens = [
                    When(
                        pk=obj.pk,
                        then=Value(field.pre_save(obj, False), output_field=field)
                        if not hasattr(field.pre_save(obj, False), "resolve_expression")
                        else field.pre_save(obj, False),
                    )
                    for obj in batch
                ]
                values.append((field, Case(*whens, output_field=field)))
            query = self.filter(pk__in=[o.pk for o in batch])._query
            resolved = [(f, v.resolve_expression(query, for_save=True)) for f, v in values]
            sql, params = SQLUpdateCompiler(query, resolved, conn).as_sql()
            total += yield ("rowcount", sql, params)
        return total

    def bulk_update(
        self, objs: Iterable[M], fields: Sequence[str], batch_size: int | None = None
    ) -> int:
        """Update ``fields`` of many objects with ``CASE WHEN pk=...`` statements.

        Returns the number of rows matched."""
        objs = list(objs)
        alias = self._write_alias()

        return run_sync(alias, in_atomic(self._bulk_update_plan, objs, fields, batch_size))  # type: ignore[no-any-return]

    async def abulk_update(
        self, objs: Iterable[M], fields: Sequence[str], batch_size: int | None = None
    ) -> int:
        objs = list(objs)
        alias = self._write_alias()

        return await run_async(alias, in_atomic(self._bulk_update_plan, objs, fields, batch_size))  # type: ignore[no-any-return]

    def _update_sql(self, conn: Any, kwargs: dict[str, Any]) -> tuple[str, list[Any]]:
        self._not_sliced("update")
        if self._query.combinator:
            raise NotSupportedError(
                f"Calling QuerySet.update() after {self._query.combinator}() is not supported."
            )
        if not kwargs:
            raise ValueError("update() needs at least one field=value.")
        meta = self.model._meta
        query = self._query.clone()
        query.order_by = ()
        values = []
        for name, value in kwargs.items():
            field = meta.get_field(name)
            if not field.concrete or getattr(field, "many_to_many", False):
                raise FieldError(
                    f"Cannot update model field {field!r} (only non-relations and foreign keys "
                    "permitted)."
                )
            if hasattr(value, "resolve_expression"):
                value = value.resolve_expression(query, allow_joins=False, for_save=True)
                if getattr(value, "contains_aggregate", False):
                    raise FieldError("Aggregate functions are not allowed in this query.")
            values.append((field, value))
        # As Django: update() is plain SQL; auto_now fields are not touched.
        return SQLUpdateCompiler(query, values, conn).as_sql()

    def update(self, **kwargs: Any) -> int:
        """``UPDATE`` every matched row; values may be ``F`` expressions. Returns the row count."""
        connections, _ = _connections()
        conn = connections[self._write_alias()]
        try:
            sql, params = self._update_sql(conn, kwargs)
        except EmptyResultSet:
            return 0
        self._result_cache = None
        return int(conn.execute_rowcount(sql, params))

    async def aupdate(self, **kwargs: Any) -> int:
        _, async_connections = _connections()
        conn = async_connections[self._write_alias()]
        try:
            sql, params = self._update_sql(conn, kwargs)
        except EmptyResultSet:
            return 0
        self._result_cache = None
        return int(await conn.execute_rowcount(sql, params))

    def _delete_plan(self, conn: Any, alias: str) -> Any:
        from dorm.models.deletion import Collector

        self._not_sliced("delete")
        if self._query.distinct or self._query.distinct_fields:
            raise TypeError("Cannot call delete() after .distinct().")
        if self._kind != MODEL:
            raise TypeError("Cannot call delete() after .values() or .values_list()")
        if self._query.combinator:
            raise NotSupportedError(
                f"Calling QuerySet.delete() after {self._query.combinator}() is not supported."
            )
        meta = self.model._meta
        needs_instances = (
            signals.pre_delete.has_listeners
            or signals.post_delete.has_listeners
            or bool(meta.related_objects)
        )
        collector = Collector(alias)
        if not needs_instances:
            query = self._query.clone()
            query.order_by = ()
            try:
                sql, params = SQLDeleteCompiler(query, conn).as_sql()
            except EmptyResultSet:
                return 0, {}
            n = yield ("rowcount", sql, params)
            return n, ({meta.label: n} if n else {})
        qs = self.using(alias).order_by()
        objs = yield from _fetch_plan(conn, qs)
        if not objs:
            return 0, {}
        yield from collector.collect_plan(conn, self.model, objs)
        return (yield from collector.delete_plan(conn))

    def delete(self) -> tuple[int, dict[str, int]]:
        """Delete the matched rows; returns ``(total, {model_label: count})``."""
        alias = self._write_alias()

        self._result_cache = None
        return run_sync(alias, in_atomic(self._delete_plan, alias))  # type: ignore[no-any-return]

    async def adelete(self) -> tuple[int, dict[str, int]]:
        alias = self._write_alias()

        self._result_cache = None
        return await run_async(alias, in_atomic(self._delete_plan, alias))  # type: ignore[no-any-return]

    # Raw ---------------------------------------------------------------------------------

    def raw(
        self,
        raw_query: str,
        params: Sequence[Any] = (),
        translations: dict[str, str] | None = None,
        using: str | None = None,
    ) -> RawQuerySet[M]:
        """Run raw SQL (``%s`` placeholders) and map its columns onto model instances."""
        return RawQuerySet(raw_query, self.model, params, translations, using or self._db)

    # Async list helpers (not Django API, but handy) ------------------------------------------

    async def alist(self) -> list[M]:
        """``list(qs)`` for async code."""
        await self._afetch_all()
        return list(self._result_cache)  # type: ignore[arg-type]


class _Dummy:
    __dict__: dict[str, Any]


def _contains_aggregate(expr: Any) -> bool:
    if getattr(expr, "contains_aggregate", False):
        return True
    return any(
        _contains_aggregate(e)
        for e in getattr(expr, "get_source_expressions", list)()
        if e is not None
    )


def _lift_columns(expr: Any, inner: Query, selected: list[str]) -> Any:
    """Replace the columns an aggregate reads with references to inner-query aliases."""
    from dorm.expressions import Ref

    if isinstance(expr, Col):
        name = f"__col{len(selected) + 1}"
        inner.annotations[name] = expr
        selected.append(name)
        return Ref(name, expr)
    if isinstance(expr, Ref):
        if expr.refs not in selected:
            selected.append(expr.refs)
        return Ref(expr.refs, expr.source)
    if hasattr(expr, "get_source_expressions"):
        expr = expr.copy()
        sources = expr.get_source_expressions()
        if sources:
            expr.set_source_expressions(
                [_lift_columns(e, inner, selected) if e is not None else None for e in sources]
            )
        flt = getattr(expr, "filter", None)
        if flt is not None and hasattr(flt, "children"):
            from dorm.sql.where import WhereNode

            expr.filter = WhereNode(
                [_lift_columns(c, inner, selected) for c in flt.children],
                flt.connector,
                flt.negated,
            )
    return expr


def _aggregate_result(query: Any, names: list[str], row: Any, plan: Any) -> dict[str, Any]:
    result = {}
    for index, name in enumerate(names):
        expr = query.annotations[name]
        value = row[index] if row is not None else None
        if plan is not None:
            for i, funcs in plan.converters:
                if i == index:
                    for func in funcs:
                        value = func(value)
        if value is None and getattr(expr, "empty_result_set_value", None) is not None:
            value = expr.empty_result_set_value
        if (
            value is None
            and getattr(expr, "default", None) is not None
            and not hasattr(expr.default, "resolve_expression")
        ):
            value = expr.default
        result[name] = value
    return result


#: Values whose ``filter(field=value)`` lookup can be rebuilt from a cached resolution.
_PLAIN_FILTER_TYPES = frozenset({int, str, bool, float})
#: Lookups a pending condition may use: their SQL parameter is the field's db value of the
#: value (checked again where a statement is cached, see :func:`_pending_count`).
_PENDING_LOOKUPS = frozenset({Exact, GreaterThan, GreaterThanOrEqual, LessThan, LessThanOrEqual})
#: (model, base alias, key, value type) -> (lookup class, alias, field) or False.
_PLAIN_FILTERS: dict[Any, Any] = {}
LOOKUP_CHANGE_HOOKS.append(_PLAIN_FILTERS.clear)  # register_lookup() changes resolutions


def _plain_filter(query: Query, key: str, value: Any) -> Any:
    """How ``filter(key=value)`` resolves, for a local-field key seen before; else None.

    ``Query.build_filter`` resolves the key (field, lookup class, transforms, joins) on every
    call; for a plain value on a local concrete field that resolution never changes, so it is
    learnt once (from a lookup the general path built) and the lookup is rebuilt directly
    (:func:`_add_plain_filter`).
    """
    if value.__class__ not in _PLAIN_FILTER_TYPES or type(query) is not Query or query.annotations:
        return None
    return _PLAIN_FILTERS.get((query.model, query.base_alias, key, value.__class__)) or None


def _add_plain_filter(query: Query, entry: Any, value: Any) -> None:
    """What ``Query.add_filter`` does, with the resolution of :func:`_plain_filter`."""
    lookup_class, alias, field = entry
    query._filter_call += 1
    query.where = query.where.add(lookup_class(Col(alias, field), value))


def manager_filter(model: Any, using: str | None, kwargs: dict[str, Any]) -> Any:
    """``Model.objects.filter(key=value)`` of a plain manager as a queryset with the condition
    pending, or None when it cannot wait (the manager then runs ``QuerySet.filter``)."""
    ((key, value),) = kwargs.items()
    entry = _pending_filter_entry(model, key, value)
    if entry is None:
        return None
    qs = QuerySet(model, None, using)
    qs._pending_filter = (entry, value)
    return qs


def _pending_filter_entry(model: Any, key: str, value: Any) -> Any:
    """The :func:`_plain_filter` resolution of ``filter(key=value)`` on a queryset whose Query
    is not built yet, when the condition can wait: a comparison whose value the field takes
    as it is (so building the lookup later raises nothing it would have raised now)."""
    if value.__class__ not in _PLAIN_FILTER_TYPES or model is None:
        return None
    entry = _PLAIN_FILTERS.get((model, model._meta.db_table, key, value.__class__))
    if (
        not entry
        or entry[0] not in _PENDING_LOOKUPS
        or value.__class__ not in entry[2].prep_passthrough
    ):
        return None
    return entry


def _learn_plain_filter(query: Query, key: str, value: Any, before: tuple[int, int]) -> None:
    """Remember how ``key`` resolved if the lookup just added can be rebuilt from it.

    ``before``: the number of joins and of WHERE children before ``add_filter``; exactly one
    more child and no new join means the added node is the lookup itself.
    """
    from dorm.models.lookups import Lookup

    if value.__class__ not in _PLAIN_FILTER_TYPES or type(query) is not Query or query.annotations:
        return
    cache_key = (query.model, query.base_alias, key, value.__class__)
    if cache_key in _PLAIN_FILTERS:
        return
    node = query.where.children[-1] if query.where.children else None
    lhs = getattr(node, "lhs", None)
    entry: Any = False
    if (
        isinstance(node, Lookup)
        and not node.rhs_is_expr
        and type(lhs) is Col
        and lhs.alias == query.base_alias
        and lhs.target is lhs._output_field
        and getattr(lhs.target, "concrete", False)
        and not getattr(lhs.target, "is_relation", False)
        and (len(query.joins), len(query.where.children) - 1) == before
    ):
        twin = type(node)(Col(lhs.alias, lhs.target), value)
        if (
            type(twin.rhs) is type(node.rhs)
            and twin.rhs == node.rhs
            and twin.cache_key() == node.cache_key()
        ):
            entry = (type(node), lhs.alias, lhs.target)
    if len(_PLAIN_FILTERS) >= 4096:
        _PLAIN_FILTERS.clear()
    _PLAIN_FILTERS[cache_key] = entry


#: (model, pending condition, value class, ops class, vendor) -> (sql, adapter) or False.
_PENDING_COUNTS: dict[Any, Any] = {}
LOOKUP_CHANGE_HOOKS.append(_PENDING_COUNTS.clear)


def _pending_count(qs: QuerySet[Any], conn: Any) -> tuple[str, list[Any]] | None:
    """``count()`` of a queryset whose Query is not built (none, or one pending condition).

    The statement is the one ``count_sql`` compiles for that shape (the first call compiles
    it the general way and checks its parameter agrees); later calls only adapt the value.
    """
    pending = qs.__dict__.get("_pending_filter")
    ops = conn.ops
    if pending is None:
        key: Any = (qs.model, None, None, type(ops), conn.vendor)
    else:
        key = (qs.model, pending[0], pending[1].__class__, type(ops), conn.vendor)
    entry = _PENDING_COUNTS.get(key)
    if entry is None:
        entry = _pending_count_entry(qs, conn, pending)
        if len(_PENDING_COUNTS) >= 1024:
            _PENDING_COUNTS.clear()
        _PENDING_COUNTS[key] = entry
    if entry is False:
        return None
    sql, adapter = entry
    if pending is None:
        return sql, []
    value = pending[1]
    return sql, [value if adapter is None else adapter(ops, value)]


def _pending_count_entry(qs: QuerySet[Any], conn: Any, pending: Any) -> Any:
    from dorm.models.fields import db_prep_plan

    try:
        sql, params = count_sql(qs._clone()._query, conn)
    except EmptyResultSet:
        return False
    if pending is None:
        return False if params else (sql, None)
    (_lookup_class, _alias, field), value = pending
    _passthrough, adapter = db_prep_plan(field, conn.ops)
    expected = value if adapter is None else adapter(conn.ops, value)
    if len(params) != 1 or type(params[0]) is not type(expected) or params[0] != expected:
        return False
    return sql, adapter


#: Value types ``get(pk=value)`` takes the fast path for (others go the general way).
_PK_GET_TYPES = frozenset({int, str})
_NO_DEFERRED: tuple[frozenset[str], bool] = (frozenset(), True)
#: (model, lookup key, value type, ops class, vendor) -> (sql, plan, pk, builders) or False.
_PK_GET_CACHE: dict[Any, Any] = {}


def _reset_on_reconfigure() -> None:
    from dorm.conf import settings

    # Cached plans carry converters that depend on settings (USE_TZ), as the compiler's.
    settings.on_change(_PK_GET_CACHE.clear)
    settings.on_change(_PENDING_COUNTS.clear)
    # A re-registered ``exact`` lookup changes the statement.
    LOOKUP_CHANGE_HOOKS.append(_PK_GET_CACHE.clear)


_reset_on_reconfigure()


def _pk_get(qs: QuerySet[Any], conn: Any, kwargs: dict[str, Any]) -> Any:
    """``(sql, params, builder)`` for ``get(pk=value)`` on an unfiltered queryset, else None.

    The statement is the one the general path compiles (the first call compiles it that
    way and checks the parameter agrees); later calls only prepare the value, skipping the
    per-call Query, lookup and shape-key building. Shared by ``get`` and ``aget``.
    """
    ((key, value),) = kwargs.items()
    if value.__class__ not in _PK_GET_TYPES or qs._kind != MODEL or qs._prefetch_related_lookups:
        return None
    d = qs.__dict__
    q = d.get("_query")
    if q is None:  # no Query built yet: unfiltered unless a condition is pending
        if "_pending_filter" in d:
            return None
    elif (
        type(q) is not Query
        or q.where
        or q.low_mark
        or q.high_mark is not None
        or q.distinct
        or q.values_select is not None
        or q.annotations
        or q.joins
        or q.extra_select
        or q.group_by is not None
        or q.combinator
        or q.select_for_update
        or q.select_related
        or q.deferred_loading != _NO_DEFERRED
        or q.base_alias != q.base_table
    ):
        return None
    model = qs.model
    cache_key = (model, key, value.__class__, type(conn.ops), conn.vendor)
    entry = _PK_GET_CACHE.get(cache_key)
    if entry is None:
        entry = _pk_get_entry(qs, conn, key, value)
        if len(_PK_GET_CACHE) >= 1024:
            _PK_GET_CACHE.clear()
        _PK_GET_CACHE[cache_key] = entry
    return _pk_get_statement(entry, model, conn, value) if entry else None


def _pk_get_statement(entry: Any, model: Any, conn: Any, value: Any) -> Any:
    """``(sql, params, builder)`` of a cached ``get(pk=value)`` entry."""
    sql, plan, field, builders, passthrough, adapter = entry
    if value.__class__ not in passthrough:
        param = field.get_db_prep_value(field.get_prep_value(value), conn, prepared=True)
    else:
        param = value if adapter is None else adapter(conn.ops, value)
    builder = builders.get(conn.alias)
    if builder is None:  # builders are not mutated by build(): one per alias is enough
        builder = builders[conn.alias] = _RowBuilder(MODEL, plan, model, conn.alias, None)
    return sql, [param], builder


def _manager_pk_get(model: Any, using: str | None, kwargs: dict[str, Any], aio: bool) -> Any:
    """``(conn, sql, params, builder)`` for ``Model.objects.get(pk=value)`` of a plain manager
    once the shape is cached (the queryset path caches it), else None: no queryset built."""
    ((key, value),) = kwargs.items()
    if value.__class__ not in _PK_GET_TYPES:
        return None
    if not using:
        router = _router()
        if router.routers:  # the queryset asks them, once
            return None
        using = router.db_for_read(model)
    conn = _connections()[aio][using]
    entry = _PK_GET_CACHE.get((model, key, value.__class__, type(conn.ops), conn.vendor))
    if not entry:
        return None
    return conn, *_pk_get_statement(entry, model, conn, value)


def manager_get(model: Any, using: str | None, kwargs: dict[str, Any]) -> Any:
    """The object of ``Model.objects.get(pk=value)`` through the cached statement, or
    ``_NOT_TAKEN`` (the manager then runs the queryset's ``get``)."""
    fast = _manager_pk_get(model, using, kwargs, False)
    if fast is None:
        return _NOT_TAKEN
    conn, sql, params, builder = fast
    return _single(model, builder.build(conn.fetchall(sql, params)), kwargs)


async def amanager_get(model: Any, using: str | None, kwargs: dict[str, Any]) -> Any:
    fast = _manager_pk_get(model, using, kwargs, True)
    if fast is None:
        return _NOT_TAKEN
    conn, sql, params, builder = fast
    return _single(model, builder.build(await conn.fetchall(sql, params)), kwargs)


_NOT_TAKEN = object()


def _single(model: Any, results: list[Any], kwargs: dict[str, Any]) -> Any:
    if len(results) == 1:
        return results[0]
    return QuerySet(model)._get_result(results, (), kwargs)  # raises, with get()'s message


def _pk_get_entry(qs: QuerySet[Any], conn: Any, key: str, value: Any) -> Any:
    """Compile ``get(key=value)`` the general way; cache it only if it is a plain pk lookup."""
    from dorm.models.fields import db_prep_plan
    from dorm.sql.where import WhereNode

    pk = qs.model._meta.pk
    names = {"pk", pk.name, pk.attname}
    if getattr(pk, "is_relation", False) or key.removesuffix("__exact") not in names:
        return False
    try:
        general = qs._get_qs((), {key: value})
        sql, params, builder = general._compile(conn)
    except EmptyResultSet:
        return False
    where = general._query.where
    children = where.children if type(where) is WhereNode else ()
    if (
        len(children) != 1
        or type(children[0]) is not Exact
        or getattr(children[0].lhs, "target", None) is not pk
        or builder.plan.related
    ):
        return False
    expected = pk.get_db_prep_value(pk.get_prep_value(value), conn, prepared=True)
    if len(params) != 1 or type(params[0]) is not type(expected) or params[0] != expected:
        return False
    return sql, builder.plan, pk, {}, *db_prep_plan(pk, conn.ops)


def _describe_lookup(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    parts = [repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()]
    return ", ".join(parts) if parts else "no lookup"


def _fetch_plan(conn: Any, qs: QuerySet[Any]) -> Any:
    """Generator: evaluate ``qs`` through the plan runner (shared by sync/async)."""
    try:
        sql, params, builder = qs._compile(conn)
    except EmptyResultSet:
        return []
    rows = yield ("fetchall", sql, params)
    return builder.build(rows)


class RawQuerySet(Generic[M]):
    """Iterable over a raw query's rows mapped onto model instances (``for`` and ``async for``)."""

    def __init__(
        self,
        raw_query: str,
        model: type[M],
        params: Sequence[Any] = (),
        translations: dict[str, str] | None = None,
        using: str | None = None,
    ) -> None:
        self.raw_query = raw_query
        self.model = model
        self.params = tuple(params)
        self.translations = translations or {}
        self._db = using

    @property
    def db(self) -> str:
        from dorm.db import router

        return self._db or router.db_for_read(self.model)

    def __repr__(self) -> str:
        return f"<RawQuerySet: {self.raw_query}>"

    def _build(self, columns: list[str], rows: list[Any], conn: Any) -> list[M]:
        meta = self.model._meta
        names = []
        converters = []
        for index, column in enumerate(columns):
            name = self.translations.get(column, column)
            field = None
            for f in meta.concrete_fields:
                if f.column == name or f.attname == name or f.name == name:
                    field = f
                    break
            names.append(field.attname if field is not None else name)
            if field is not None:
                funcs = field.get_db_converters(conn)
                if funcs:
                    converters.append((index, tuple(funcs)))
        if meta.pk.attname not in names:
            from dorm.exceptions import FieldDoesNotExist

            raise FieldDoesNotExist("Raw query must include the primary key")  # as Django
        if converters:
            rows = [_convert(row, converters) for row in rows]
        return _build_instances(self.model, tuple(names), rows, conn.alias)

    def __iter__(self) -> Iterator[M]:
        from dorm.db import connections

        conn = connections[self.db]
        cursor = conn.execute(self.raw_query, self.params)
        columns = [d[0] for d in cursor.description]
        return iter(self._build(columns, cursor.fetchall(), conn))

    def __aiter__(self) -> AsyncIterator[M]:
        return self._aiter()

    async def _aiter(self) -> AsyncIterator[M]:
        from dorm.db import async_connections

        conn = async_connections[self.db]
        result = await conn.execute(self.raw_query, self.params)
        columns = [d[0] for d in result.description]
        for obj in self._build(columns, await result.fetchall(), conn):
            yield obj

    def __getitem__(self, k: int) -> M:
        return list(self)[k]

    @property
    def columns(self) -> list[str]:
        from dorm.db import connections

        cursor = connections[self.db].execute(self.raw_query, self.params)
        return [self.translations.get(d[0], d[0]) for d in cursor.description]


__all__ = ["QuerySet", "RawQuerySet", "operator"]
