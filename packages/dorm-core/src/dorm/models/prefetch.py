"""``prefetch_related``: load relations of many instances with one query per relation level.

Written once as a plan (see :mod:`dorm.db.plan`) and run sync or async.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from dorm.exceptions import FieldError

_VAL = "_prefetch_related_val"


class Prefetch:
    """A prefetch lookup with an optional custom ``queryset`` and ``to_attr``."""

    def __init__(self, lookup: str, queryset: Any = None, to_attr: str | None = None) -> None:
        if queryset is not None and getattr(queryset, "_kind", 0) != 0:
            raise ValueError("Prefetch querysets cannot use values() or values_list().")
        self.prefetch_through = lookup
        self.prefetch_to = (
            lookup if to_attr is None else "__".join([*lookup.split("__")[:-1], to_attr])
        )
        self.queryset = queryset
        self.to_attr = to_attr

    def __repr__(self) -> str:
        return f"Prefetch({self.prefetch_through!r}, to_attr={self.to_attr!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Prefetch) and self.prefetch_to == other.prefetch_to

    def __hash__(self) -> int:
        return hash((type(self), self.prefetch_to))


def _normalize(lookups: Iterable[Any]) -> list[Prefetch]:
    result = []
    for lookup in lookups:
        result.append(lookup if isinstance(lookup, Prefetch) else Prefetch(lookup))
    return result


def _descriptor(model: Any, name: str) -> Any:
    for klass in model.__mro__:
        if name in klass.__dict__:
            return klass.__dict__[name]
    return None


def _prefetch_level(
    conn: Any, instances: list[Any], name: str, queryset: Any, to_attr: str | None
) -> Any:
    """Generator: fetch relation ``name`` for ``instances``; returns the related objects."""
    from dorm.expressions import F
    from dorm.models.related_descriptors import (
        ForwardManyToOneDescriptor,
        ManyToManyDescriptor,
        ReverseManyToOneDescriptor,
        ReverseOneToOneDescriptor,
    )
    from dorm.query import _fetch_plan

    model = type(instances[0])
    desc = _descriptor(model, name)
    alias = instances[0]._state.db
    if isinstance(desc, ForwardManyToOneDescriptor):
        field = desc.field
        target = field.target_field
        deferred = [o for o in instances if field.attname not in o.__dict__]
        if deferred:  # only()/defer() left the FK column out: one query loads it for all
            values_qs = (
                model._base_manager.using(alias)
                .filter(pk__in=[o.pk for o in deferred])
                .values_list("pk", field.attname)
            )
            loaded = dict((yield from _fetch_plan(conn, values_qs)))
            for o in deferred:
                o.__dict__[field.attname] = loaded.get(o.pk)
        ids = {o.__dict__.get(field.attname) for o in instances} - {None}
        qs = queryset if queryset is not None else field.related_model._base_manager.get_queryset()
        objs = []
        if ids:
            qs = qs.using(qs._db or alias).filter(
                **{f"{target.attname}__in": sorted(ids, key=repr)}
            )
            objs = yield from _fetch_plan(conn, qs)
        by_id = {getattr(o, target.attname): o for o in objs}
        for obj in instances:
            rel = by_id.get(obj.__dict__.get(field.attname))
            if to_attr:
                setattr(obj, to_attr, rel)
            else:
                obj._state.fields_cache[field.name] = rel
        return objs
    if isinstance(desc, ReverseOneToOneDescriptor):
        rel = desc.related
        field = rel.field
        values = [getattr(o, field.target_field.attname) for o in instances]
        qs = queryset if queryset is not None else field.model._base_manager.get_queryset()
        qs = qs.using(qs._db or alias).filter(**{f"{field.attname}__in": values})
        objs = yield from _fetch_plan(conn, qs)
        by_id = {o.__dict__[field.attname]: o for o in objs}
        cache_name = rel.get_accessor_name()
        for obj in instances:
            found = by_id.get(getattr(obj, field.target_field.attname))
            if to_attr:
                setattr(obj, to_attr, found)
            else:
                obj._state.fields_cache[cache_name] = found
            if found is not None:
                found._state.fields_cache[field.name] = obj
        return objs
    if isinstance(desc, ReverseManyToOneDescriptor):
        rel = desc.related
        field = rel.field
        values = [getattr(o, field.target_field.attname) for o in instances]
        qs = queryset if queryset is not None else field.model._default_manager.get_queryset()
        qs = qs.using(qs._db or alias).filter(**{f"{field.attname}__in": values})
        objs = yield from _fetch_plan(conn, qs)
        groups: dict[Any, list[Any]] = defaultdict(list)
        for o in objs:
            groups[o.__dict__[field.attname]].append(o)
        cache_name = rel.get_accessor_name()
        for obj in instances:
            items = groups.get(getattr(obj, field.target_field.attname), [])
            for item in items:
                item._state.fields_cache[field.name] = obj
            _store_many(obj, cache_name, items, to_attr, field.model, queryset)
        return objs
    if isinstance(desc, ManyToManyDescriptor):
        rel = desc.rel
        m2m = rel.field
        if desc.reverse:
            target_model = m2m.model
            query_name = m2m.name
            cache_name = rel.get_accessor_name()
        else:
            target_model = m2m.related_model
            query_name = m2m.related_query_name()
            cache_name = m2m.name
        pks = [o.pk for o in instances]
        qs = queryset if queryset is not None else target_model._default_manager.get_queryset()
        qs = qs.using(qs._db or alias).filter(**{f"{query_name}__in": pks})
        qs = qs.annotate(**{_VAL: F(query_name)})
        objs = yield from _fetch_plan(conn, qs)
        groups = defaultdict(list)
        for o in objs:
            groups[o.__dict__.pop(_VAL)].append(o)
        for obj in instances:
            _store_many(obj, cache_name, groups.get(obj.pk, []), to_attr, target_model, queryset)
        return objs
    raise FieldError(
        f"Cannot find {name!r} on {model.__name__} object, {name!r} is an invalid parameter to "
        "prefetch_related()"
    )


def _store_many(
    obj: Any,
    cache_name: str,
    items: list[Any],
    to_attr: str | None,
    model: Any,
    queryset: Any = None,
) -> None:
    if to_attr:
        setattr(obj, to_attr, items)
        return
    cache = obj.__dict__.setdefault("_prefetched_objects_cache", {})
    cache.pop(cache_name, None)
    # The manager's own queryset (filtered on ``obj``, as Django's), holding the rows: further
    # ``obj.books.filter(...)`` calls query the right rows instead of the whole table.
    manager = getattr(obj, cache_name)
    if queryset is not None:
        qs = manager._apply_filters(queryset._chain())
    else:
        qs = manager.get_queryset()
    qs._result_cache = items
    qs._prefetch_done = True
    cache[cache_name] = qs


def _already_loaded(instances: list[Any], name: str) -> list[Any] | None:
    """Objects at ``name`` if every instance already has them cached (shared prefixes)."""
    found: list[Any] = []
    for obj in instances:
        cache = obj._state._fields_cache or {}
        if name in cache:
            if cache[name] is not None:
                found.append(cache[name])
            continue
        pcache = obj.__dict__.get("_prefetched_objects_cache", {})
        if name in pcache:
            found.extend(pcache[name]._result_cache or [])
            continue
        attr = obj.__dict__.get(name)  # a Prefetch(..., to_attr=name) result: "name__tags"
        if isinstance(attr, list) and all(hasattr(o, "_meta") for o in attr):
            found.extend(attr)
            continue
        if hasattr(attr, "_meta"):
            found.append(attr)
            continue
        return None
    return found


def prefetch_plan(conn: Any, instances: list[Any], lookups: Iterable[Any]) -> Any:
    """Generator: run every prefetch lookup over ``instances``."""
    if not instances:
        return
    for lookup in _normalize(lookups):
        parts = lookup.prefetch_through.split("__")
        current = list(instances)
        for level, name in enumerate(parts):
            if not current:
                break
            last = level == len(parts) - 1
            plain = lookup.queryset is None and lookup.to_attr is None
            # Already loaded (select_related, an earlier prefetch): not fetched again.
            existing = None if last and not plain else _already_loaded(current, name)
            if existing is not None:
                current = existing
                continue
            if not last and lookup.to_attr is None and _already_loaded(current, name) is not None:
                current = _already_loaded(current, name) or []
                continue
            by_model: dict[Any, list[Any]] = defaultdict(list)
            for obj in current:
                by_model[type(obj)].append(obj)
            fetched: list[Any] = []
            for group in by_model.values():
                objs = yield from _prefetch_level(
                    conn,
                    group,
                    name,
                    lookup.queryset if last else None,
                    lookup.to_attr if last else None,
                )
                fetched.extend(objs)
            current = fetched
            if last and lookup.queryset is not None and lookup.queryset._prefetch_related_lookups:
                yield from prefetch_plan(conn, fetched, lookup.queryset._prefetch_related_lookups)


def _alias(instances: list[Any]) -> str:
    from dorm.conf import DEFAULT_DB_ALIAS

    return instances[0]._state.db or DEFAULT_DB_ALIAS if instances else DEFAULT_DB_ALIAS


def prefetch_related_objects(instances: Iterable[Any], *lookups: Any) -> None:
    """Prefetch ``lookups`` onto already-loaded ``instances`` (Django's function)."""
    from dorm.db.plan import run_sync

    instances = list(instances)
    if not instances:
        return
    run_sync(_alias(instances), lambda conn: prefetch_plan(conn, instances, lookups))


async def aprefetch_related_objects(instances: Iterable[Any], *lookups: Any) -> None:
    """Async :func:`prefetch_related_objects`."""
    from dorm.db.plan import run_async

    instances = list(instances)
    if not instances:
        return
    await run_async(_alias(instances), lambda conn: prefetch_plan(conn, instances, lookups))
