"""``Query``: a query as a data structure — tables, conditions, ordering, limits, selection.

No SQL strings here; :mod:`dorm.sql.compiler` turns a ``Query`` into SQL through the
backend's ``ops``.
"""

from __future__ import annotations

import copy
import difflib
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from dorm.exceptions import FieldDoesNotExist, FieldError
from dorm.expressions import Col, F, OrderBy, Ref
from dorm.models.lookups import Lookup, Transform
from dorm.models.query_utils import Q
from dorm.sql.joins import JoinsMixin
from dorm.sql.where import AND, NothingNode, WhereNode

if TYPE_CHECKING:
    from dorm.models.base import Model

LOOKUP_SEP = "__"


class Query(JoinsMixin):
    """A SELECT over one model's table (plus joins added by relation lookups)."""

    compiler_name = "SQLCompiler"

    def __init__(self, model: type[Model] | None) -> None:
        self.model = model
        self.base_table = model._meta.db_table if model is not None else None
        # The alias the base table goes by (differs from the table name in subqueries).
        self.base_alias: str = self.base_table or ""
        self.where = WhereNode()
        self.order_by: tuple[Any, ...] = ()
        self.default_ordering = True
        self.standard_ordering = True
        self.low_mark = 0
        self.high_mark: int | None = None
        self.distinct = False
        self.distinct_fields: tuple[str, ...] = ()
        self.select_for_update = False
        self.select_for_update_nowait = False
        self.select_for_update_skip_locked = False
        self.select_for_update_of: tuple[str, ...] = ()
        self.select_for_no_key_update = False
        # None: select model columns; a tuple of names: values()/values_list() selection.
        self.values_select: tuple[str, ...] | None = None
        self.annotations: dict[str, Any] = {}
        # None: every annotation is selected; else the names selected (alias() hides).
        self.annotation_select_mask: set[str] | None = None
        # (field names, True = defer them | False = load only them)
        self.deferred_loading: tuple[frozenset[str], bool] = (frozenset(), True)
        self.combinator: str | None = None
        self.combinator_all = False
        self.combined_queries: tuple[Query, ...] = ()
        self.group_by: tuple[Any, ...] | bool | None = None
        self.select_related: Any = False
        self.joins: dict[str, Any] = {}
        self.subquery = False
        self.outer_query: Query | None = None
        self.extra_select: dict[str, Any] = {}

    def clone(self) -> Query:
        """A shallow copy; shared parts (where tree, tuples) are never mutated in place."""
        obj = object.__new__(type(self))
        obj.__dict__ = self.__dict__.copy()  # one C-level copy: every chained call clones
        obj.annotations = dict(self.annotations)
        if self.annotation_select_mask is not None:
            obj.annotation_select_mask = set(self.annotation_select_mask)
        obj.joins = dict(self.joins)
        return obj

    def chain(self) -> Query:
        return self.clone()

    def __str__(self) -> str:
        from dorm.db import connections

        sql, params = self.get_compiler(connections["default"]).as_sql()
        return sql % tuple(repr(p) for p in params)

    def get_compiler(self, connection: Any) -> Any:
        from dorm.sql import compiler

        return getattr(compiler, self.compiler_name)(self, connection)

    @property
    def meta(self) -> Any:
        assert self.model is not None
        return self.model._meta

    # Names -> fields -----------------------------------------------------------------

    def names_to_path(
        self, names: Sequence[str], allow_joins: bool = True
    ) -> tuple[Any, str, list[str]]:
        """Resolve the leading field name(s) of a lookup path.

        Returns (field or annotation, table alias, remaining names: transforms/lookups).
        Relation traversal is resolved by :meth:`setup_joins`.
        """
        name = names[0]
        # A field of the model wins over an annotation of the same name when the path goes
        # on (aggregate(authors=Count("authors"), s=Sum("authors__age"))), as Django.
        if (
            name in self.annotations
            and name not in self._field_names()
            and not (len(names) > 1 and name in {f.name for f in self.meta.get_fields()})
        ):
            return self.annotations[name], "", list(names[1:])
        return self.setup_joins(names, allow_joins)

    def _field_names(self) -> set[str]:
        return {f.name for f in self.meta.concrete_fields} | {"pk"}

    def setup_joins(
        self, names: Sequence[str], allow_joins: bool = True
    ) -> tuple[Any, str, list[str]]:
        """Resolve ``names[0]`` (a local field); relation paths need the relations layer."""
        meta = self.meta
        name = names[0]
        try:
            field = meta.get_field(name)
        except FieldDoesNotExist:
            raise FieldError(self._unknown_field_message(name)) from None
        if getattr(field, "is_relation", False) and hasattr(self, "setup_relation_joins"):
            return self.setup_relation_joins(names, allow_joins)  # type: ignore[no-any-return]
        return field, self.base_alias or "", list(names[1:])

    def _unknown_field_message(self, name: str) -> str:
        choices = sorted({f.name for f in self.meta.get_fields()} | set(self.annotations) | {"pk"})
        hint = difflib.get_close_matches(name, choices, n=1)
        msg = f"Cannot resolve keyword {name!r} into field."
        if hint:
            msg += f" Did you mean {hint[0]!r}?"
        return msg + f" Choices are: {', '.join(choices)}."

    def resolve_ref(
        self, name: str, allow_joins: bool = True, reuse: Any = None, summarize: bool = False
    ) -> Any:
        """An ``F(name)`` reference: a column, or an annotation."""
        if name in self.annotations:
            if summarize:
                return Ref(name, self.annotations[name])
            return self.annotations[name]
        parts = name.split(LOOKUP_SEP)
        target, alias, rest = self.names_to_path(parts, allow_joins)
        expr = target if not hasattr(target, "attname") else Col(alias, target)
        for transform_name in rest:
            expr = self.try_transform(expr, transform_name, name)
        return expr

    def try_transform(self, lhs: Any, name: str, full: str) -> Any:
        field = lhs._output_field_or_none if hasattr(lhs, "_output_field_or_none") else None
        getter = getattr(lhs, "get_transform", None) or (field.get_transform if field else None)
        transform = getter(name) if getter else None
        if transform is None:
            lookups = sorted(field.get_lookups()) if field is not None else []
            hint = difflib.get_close_matches(name, lookups, n=1)
            msg = (
                f"Unsupported lookup {name!r} for {type(field).__name__ if field else 'expression'}"
                f" in {full!r}."
            )
            if hint:
                msg += f" Perhaps you meant {hint[0]!r}?"
            if lookups:
                msg += f" Valid lookups: {', '.join(lookups)}."
            raise FieldError(msg)
        return transform(lhs)

    # Filters -------------------------------------------------------------------------

    def build_lookup(self, lookups: list[str], lhs: Any, rhs: Any, full: str) -> Lookup:
        *transforms, lookup_name = lookups or ["exact"]
        for name in transforms:
            lhs = self.try_transform(lhs, name, full)
        field = lhs._output_field_or_none
        getter = getattr(lhs, "get_lookup", None)
        if field is None and getter is None:
            raise FieldError(
                f"Cannot filter on {full!r}: the output type of {lhs!r} is unknown; "
                "give it an output_field=..."
            )
        lookup_class = getter(lookup_name) if getter else None
        if lookup_class is None and field is not None and not isinstance(lhs, Transform):
            lookup_class = field.get_lookup(lookup_name)
        if lookup_class is None:
            # A trailing transform without a lookup: `pub_date__year=2020` means exact.
            try:
                lhs = self.try_transform(lhs, lookup_name, full)
            except FieldError:
                valid = sorted(field.get_lookups()) if field is not None else []
                hint = difflib.get_close_matches(lookup_name, valid, n=1)
                msg = f"Unsupported lookup {lookup_name!r} for {type(field).__name__} in {full!r}."
                if hint:
                    msg += f" Perhaps you meant {hint[0]!r}?"
                if valid:
                    msg += f" Valid lookups: {', '.join(valid)}."
                raise FieldError(msg) from None
            getter = getattr(lhs, "get_lookup", None)
            lookup_class = getter("exact") if getter else None
            if lookup_class is None:
                lookup_class = lhs.output_field.get_lookup("exact")
            lookup_name = "exact"
        if (
            rhs is None
            and lookup_name in ("exact", "iexact")
            and not getattr(lookup_class, "can_use_none_as_rhs", False)
        ):
            # filter(field=None) / field__iexact=None is field__isnull=True, as Django.
            lookup_class = (
                lhs.output_field.get_lookup("isnull") if hasattr(lhs, "output_field") else None
            )
            rhs = True
        return lookup_class(lhs, rhs)  # type: ignore[no-any-return]

    def build_filter(
        self,
        key: str,
        value: Any,
        allow_joins: bool = True,
        negated: bool = False,
        branch_or: bool = False,
    ) -> Any:
        parts = key.split(LOOKUP_SEP)
        if negated and self.model is not None and self.path_is_multivalued(parts):
            return self.split_exclude(key, value)
        value = self._prepare_filter_value(value, allow_joins)
        promote = (
            negated
            or branch_or
            or (
                (parts[-1] == "isnull" and value is True)
                or (value is None and parts[-1] != "isnull")
            )
        )
        saved = self._join_ctx
        self._join_ctx = (promote, False)
        try:
            target, alias, rest = self.names_to_path(parts, allow_joins)
        finally:
            self._join_ctx = saved
        if not getattr(target, "is_relation", False) and hasattr(target, "attname"):
            value = _instances_to_pks(value)
        lhs = Col(alias, target) if hasattr(target, "attname") else target
        lookup = self.build_lookup(rest, lhs, value, key)
        _check_filterable(lookup)
        if (
            negated
            and lookup.lookup_name != "isnull"
            and isinstance(lhs, Col)
            and (self._last_path_nullable or getattr(target, "null", False))
        ):
            # NOT (col = x) is NULL for NULL columns; Django keeps those rows in exclude().
            from dorm.models.lookups import IsNull

            return WhereNode([lookup, IsNull(lhs, False)], AND)
        return lookup

    def _prepare_filter_value(self, value: Any, allow_joins: bool) -> Any:
        query = getattr(value, "query", None)
        if isinstance(query, Query) and hasattr(value, "_clone"):
            # A QuerySet as a value: its primary keys (or its single values() column).
            inner = query.clone()
            if inner.values_select is None:
                inner.values_select = (inner.meta.pk.attname,)
                inner.annotation_select_mask = set()
            return inner
        if hasattr(value, "resolve_expression"):
            return value.resolve_expression(self, allow_joins=allow_joins)
        return value

    def split_exclude(self, key: str, value: Any) -> Any:
        """exclude() across a multi-valued relation: ``NOT (pk IN (rows that match))``."""
        from dorm.models.lookups import In

        inner = Query(self.model)
        inner.add_q(Q(**{key: value}))
        inner.values_select = (self.meta.pk.attname,)
        inner.annotation_select_mask = set()
        inner.default_ordering = False
        return In(Col(self.base_alias, self.meta.pk), inner)

    def build_where(
        self, q: Any, allow_joins: bool = True, negated: bool = False, branch_or: bool = False
    ) -> Any:
        """A where node for a ``Q`` (or a boolean expression)."""
        if not isinstance(q, Q):
            if getattr(q, "conditional", False):
                return q.resolve_expression(self, allow_joins=allow_joins)
            raise TypeError(f"Cannot filter against a non-conditional expression: {q!r}.")
        negated = negated ^ q.negated
        branch_or = branch_or or (q.connector != AND and len(q.children) > 1)
        children = []
        for child in q.children:
            if isinstance(child, tuple):
                children.append(
                    self.build_filter(child[0], child[1], allow_joins, negated, branch_or)
                )
            else:
                children.append(self.build_where(child, allow_joins, negated, branch_or))
        return WhereNode(children, q.connector, q.negated)

    def add_q(self, q: Any) -> None:
        self._filter_call += 1
        self.where = self.where.add(self.build_where(q))

    def add_filter(self, key: str, value: Any) -> None:
        """``filter(key=value)`` without building a ``Q`` (the common fast path)."""
        self._filter_call += 1
        self.where = self.where.add(self.build_filter(key, value))

    # Query as an expression (``pk__in=<queryset>``, subqueries) ------------------------

    contains_aggregate = False
    contains_over_clause = False
    is_subquery = True
    conditional = False

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        sql, params = self.get_compiler(connection).as_sql()
        return f"({sql})", params

    def resolve_expression(self, query: Any = None, *args: Any, **kwargs: Any) -> Query:
        clone = self.clone()
        clone.subquery = True
        clone.outer_query = query
        return clone

    def cache_key(self) -> Any:
        return None

    def collect_params(self, compiler: Any, connection: Any) -> list[Any]:
        return self.as_sql(compiler, connection)[1]

    def get_group_by_cols(self) -> list[Any]:
        return []

    def get_db_converters(self, connection: Any) -> list[Any]:
        return []

    @property
    def _output_field_or_none(self) -> Any:
        if self.values_select and len(self.values_select) == 1:
            name = self.values_select[0]
            if name in self.annotations:
                return self.annotations[name]._output_field_or_none
            try:
                return self.meta.get_field(name)
            except FieldDoesNotExist:
                return None
        return None

    @property
    def output_field(self) -> Any:
        field = self._output_field_or_none
        if field is None:
            raise FieldError("A subquery used as a value must select exactly one column.")
        return field

    def flatten(self) -> Any:
        yield self

    # select_related ------------------------------------------------------------------

    def add_select_related(self, fields: Sequence[str]) -> None:
        """Record ``select_related`` paths (``()`` means every non-null forward FK)."""
        if not fields:
            self.select_related = True
            return
        tree = self.select_related if isinstance(self.select_related, dict) else {}
        tree = dict(tree)
        for path in fields:
            node = tree
            meta = self.meta
            for name in path.split(LOOKUP_SEP):
                try:
                    field = meta.get_field(name)
                except FieldDoesNotExist:
                    field = None
                if field is None or not _can_select_related(field):
                    choices = sorted(f.name for f in meta.get_fields() if _can_select_related(f))
                    raise FieldError(
                        f"Invalid field name(s) given in select_related: {name!r}. Choices are: "
                        f"{', '.join(choices) or '(none)'}."
                    )
                node = node.setdefault(name, {})
                meta = field.related_model._meta
        self.select_related = tree

    def set_empty(self) -> None:
        self.where = self.where.add(NothingNode())
        for query in self.combined_queries:
            query.set_empty()

    def is_empty(self) -> bool:
        return any(isinstance(c, NothingNode) for c in self.where.children)

    # Ordering, limits ----------------------------------------------------------------

    def add_ordering(self, *ordering: Any) -> None:
        items = []
        for item in ordering:
            if isinstance(item, str):
                if item == "?":
                    items.append(item)
                    continue
                name = item[1:] if item.startswith(("-", "+")) else item
                if name not in self.annotations and name != "pk":
                    self.names_to_path(name.split(LOOKUP_SEP))
                items.append(item)
            elif hasattr(item, "resolve_expression"):
                if _has_aggregate(item):
                    raise FieldError(
                        "Using an aggregate in order_by() without also including it in "
                        f"annotate() is not allowed: {item!r}."
                    )
                items.append(item)
            else:
                raise FieldError(f"Invalid order_by argument: {item!r}.")
        self.order_by = (*self.order_by, *items)

    def clear_ordering(self, force: bool = False) -> None:
        self.order_by = ()
        if force:
            self.default_ordering = False

    def set_limits(self, low: int | None = None, high: int | None = None) -> None:
        if high is not None:
            if self.high_mark is not None:
                self.high_mark = min(self.high_mark, self.low_mark + high)
            else:
                self.high_mark = self.low_mark + high
        if low is not None:
            if self.high_mark is not None:
                self.low_mark = min(self.high_mark, self.low_mark + low)
            else:
                self.low_mark = self.low_mark + low
        if self.low_mark == self.high_mark:
            self.set_empty()

    def clear_limits(self) -> None:
        self.low_mark, self.high_mark = 0, None

    @property
    def is_sliced(self) -> bool:
        return self.low_mark != 0 or self.high_mark is not None

    def can_filter(self) -> bool:
        return not self.is_sliced

    def resolve_order_item(self, item: Any) -> Any:
        """An ordering entry as an ``OrderBy`` expression."""
        if isinstance(item, str):
            descending = item.startswith("-")
            name = item.lstrip("-+")
            if name in self.annotations:
                expr: Any = (
                    Ref(name, self.annotations[name])
                    if self._annotation_selected(name)
                    else self.annotations[name]
                )
            else:
                expr = self.resolve_ref(name)
            return OrderBy(expr, descending=descending)
        if isinstance(item, F):
            return OrderBy(self.resolve_ref(item.name))
        resolved = item.resolve_expression(self)
        if not isinstance(resolved, OrderBy):
            resolved = OrderBy(resolved)
        return resolved

    def _annotation_selected(self, name: str) -> bool:
        return self.annotation_select_mask is None or name in self.annotation_select_mask

    # Selection -------------------------------------------------------------------------

    @property
    def annotation_select(self) -> dict[str, Any]:
        if self.annotation_select_mask is None:
            return self.annotations
        return {k: v for k, v in self.annotations.items() if k in self.annotation_select_mask}

    def add_annotation(self, annotation: Any, alias: str, select: bool = True) -> None:
        if alias in self._field_names() and alias not in self.annotations:
            raise ValueError(f"The annotation {alias!r} conflicts with a field on the model.")
        resolved = annotation.resolve_expression(self, allow_joins=True, reuse=None)
        self.annotations[alias] = resolved
        if select:
            if self.annotation_select_mask is not None:
                self.annotation_select_mask.add(alias)
        else:
            if self.annotation_select_mask is None:
                self.annotation_select_mask = set(self.annotations) - {alias}
            else:
                self.annotation_select_mask.discard(alias)
        if self.values_select is not None and select:
            self.values_select = (*self.values_select, alias)

    def set_values(self, fields: Iterable[str]) -> None:
        names = list(fields)
        if not names:
            names = [f.attname for f in self.meta.concrete_fields]
            names += [a for a in self.annotations if self._annotation_selected(a)]
        else:
            for name in names:
                if name not in self.annotations:
                    self.names_to_path(name.split(LOOKUP_SEP))
            # values('a') hides annotations not named (they still group and filter).
            self.annotation_select_mask = {n for n in names if n in self.annotations}
        self.values_select = tuple(names)
        self.deferred_loading = (frozenset(), True)

    def add_deferred_loading(self, names: Iterable[str]) -> None:
        existing, defer = self.deferred_loading
        names = set(names)
        if defer:
            self.deferred_loading = (frozenset(existing | names), True)
        else:
            self.deferred_loading = (frozenset(existing - names), False)

    def add_immediate_loading(self, names: Iterable[str]) -> None:
        names = set(names)
        if "pk" in names:
            names.discard("pk")
            names.add(self.meta.pk.name)
        existing, defer = self.deferred_loading
        if defer:
            self.deferred_loading = (frozenset(names - existing), False)
        else:
            self.deferred_loading = (frozenset(names), False)

    def loaded_fields(self) -> list[Any]:
        """The concrete fields a model-instance query selects (pk always included)."""
        fields = self.meta.concrete_fields
        names, defer = self.deferred_loading
        if not names and defer:
            return list(fields)
        for name in names:
            if name.split(LOOKUP_SEP)[0] not in {f.name for f in fields} | {
                f.attname for f in fields
            }:
                raise FieldError(self._unknown_field_message(name))
        pk = self.meta.pk
        if defer:
            return [
                f for f in fields if f is pk or (f.name not in names and f.attname not in names)
            ]
        return [f for f in fields if f is pk or f.name in names or f.attname in names]

    def get_group_by(self) -> tuple[Any, ...] | None:
        """GROUP BY expressions implied by aggregate annotations (Django's rules)."""
        if self.group_by is None:
            return None
        if self.group_by is True or self.group_by == "model":
            cols: list[Any] = []
            if self.values_select is not None and self.group_by is True:
                for name in self.values_select:
                    if name in self.annotations:
                        continue
                    cols.append(self.resolve_ref(name))
            else:
                cols.extend(Col(self.base_alias, f) for f in self.meta.concrete_fields)
                for name in self.values_select or ():
                    if name not in self.annotations:
                        cols.append(self.resolve_ref(name))  # e.g. a related model's column
            for alias, annotation in self.annotations.items():
                if not self._annotation_selected(alias):
                    continue
                if not getattr(annotation, "contains_aggregate", False):
                    cols.extend(annotation.get_group_by_cols())
            return tuple(cols)
        # values(...).annotate(<aggregate>): the names selected then are the minimum to group
        # by (a later values() does not ungroup); what is selected now is grouped too (Django).
        cols = []
        minimum: tuple[Any, ...] = tuple(self.group_by)  # type: ignore[arg-type]
        selected = self.values_select or ()
        for item in (*minimum, *[n for n in selected if n not in minimum]):
            if not isinstance(item, str):
                cols.append(item)
            elif item in self.annotations:
                annotation = self.annotations[item]
                if not getattr(annotation, "contains_aggregate", False):
                    cols.extend(annotation.get_group_by_cols())
            else:
                cols.append(self.resolve_ref(item))
        return tuple(cols)

    def set_group_by(self) -> None:
        """Group for an aggregate annotation: by the values() fields when values() came
        first, else by the model's fields (one group per row), as Django."""
        if self.values_select is not None:
            # Names, resolved at compile time (a subquery relabels its aliases meanwhile).
            self.group_by = tuple(self.values_select)
        else:
            self.group_by = "model"  # type: ignore[assignment]

    # Combinators ---------------------------------------------------------------------

    def combine_with(self, combinator: str, others: Sequence[Query], all: bool) -> Query:
        obj = Query(self.model)
        obj.combinator = combinator
        obj.combinator_all = all
        obj.combined_queries = (self, *others)
        obj.values_select = self.values_select
        obj.annotations = {}
        obj.default_ordering = False
        return obj

    # Copies for subqueries -----------------------------------------------------------

    def __deepcopy__(self, memo: dict[int, Any]) -> Query:
        obj = self.clone()
        obj.where = copy.deepcopy(self.where, memo)
        return obj


class AggregateQuery(Query):
    """``SELECT <aggregates> FROM (<inner query>) subquery``."""

    compiler_name = "SQLAggregateCompiler"

    def __init__(self, model: Any, inner: Query) -> None:
        super().__init__(model)
        self.inner_query = inner


def _check_filterable(expr: Any) -> None:
    """Window expressions cannot go in WHERE/HAVING (``NotSupportedError``, as Django < 4.2)."""
    if not getattr(expr, "filterable", True):
        from dorm.exceptions import NotSupportedError

        raise NotSupportedError(
            f"{type(expr).__name__} is disallowed in the filter clause: a window function is "
            "computed after WHERE and HAVING. Filter the evaluated rows in Python, or use "
            "raw SQL that selects from a derived table."
        )
    sources = getattr(expr, "get_source_expressions", None)
    if sources is not None:
        for source in sources():
            if source is not None:
                _check_filterable(source)


def _has_aggregate(expr: Any) -> bool:
    """Whether an (unresolved) expression tree contains an aggregate."""
    if getattr(expr, "contains_aggregate", False) is True:
        return True
    if getattr(expr, "contains_over_clause", False):
        return False  # Window(Sum(...)) is computed per row
    sources = getattr(expr, "get_source_expressions", None)
    return bool(sources) and any(_has_aggregate(e) for e in sources() if e is not None)


def _can_select_related(field: Any) -> bool:
    """Forward FK/one-to-one, or the reverse side of a one-to-one (as Django)."""
    from dorm.sql.joins import relation_kind

    kind = relation_kind(field)
    if kind == "reverse":
        return bool(field.one_to_one) and field.get_accessor_name() is not None
    return kind == "fk"


def _instances_to_pks(value: Any) -> Any:
    """Model instances compared with a non-relation column stand for their primary keys."""
    if hasattr(value, "_meta") and hasattr(value, "pk"):
        return value.pk
    if isinstance(value, (list, tuple, set, frozenset)):
        return type(value)(v.pk if hasattr(v, "_meta") and hasattr(v, "pk") else v for v in value)
    return value


def normalize_filter_kwargs(args: Sequence[Any], kwargs: dict[str, Any]) -> Q:
    return Q(*args, **kwargs)


__all__ = ["AND", "AggregateQuery", "LOOKUP_SEP", "Query", "normalize_filter_kwargs"]
