"""Attribute access for relations: ``book.author``, ``author.book_set``, ``book.tags``.

Forward access fetches lazily and caches in ``instance._state.fields_cache``. In async code
use ``await obj.afetch_related("author")`` (or ``await book.author_manager...``): a
descriptor never runs a hidden sync query inside a running event loop — it raises
``SynchronousOnlyOperation`` telling you what to await instead.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Iterable
from typing import Any

from dorm.exceptions import DormError, FieldError, ObjectDoesNotExist


class SynchronousOnlyOperation(DormError):
    """A lazy relation was read inside a running event loop (it would block the loop)."""


def _in_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _refuse_in_loop(instance: Any, name: str) -> None:
    if _in_event_loop():
        raise SynchronousOnlyOperation(
            f"Reading {type(instance).__name__}.{name} would run a query synchronously inside "
            f"the event loop. Load it first: `await obj.afetch_related({name!r})`, or use "
            f"select_related({name!r})/prefetch_related({name!r}) on the queryset."
        )


class RelatedObjectDoesNotExist(ObjectDoesNotExist, AttributeError):
    """``place.restaurant`` when no related row exists (also an ``AttributeError``)."""


class ForeignKeyAttname:
    """``book.author_id``: setting it drops a cached ``book.author`` that no longer matches."""

    __slots__ = ("field",)

    def __init__(self, field: Any) -> None:
        self.field = field

    def __get__(self, instance: Any, owner: Any) -> Any:
        if instance is None:
            return self.field
        d = instance.__dict__
        attname = self.field.attname
        if attname not in d:
            _refuse_in_loop(instance, attname)
            instance.refresh_from_db(fields=[attname])
        return d[attname]

    def __set__(self, instance: Any, value: Any) -> None:
        d = instance.__dict__
        cache = d["_state"]._fields_cache if "_state" in d else None
        if cache and self.field.name in cache:
            cached = cache[self.field.name]
            if cached is None or getattr(cached, self.field.target_field.attname, None) != value:
                del cache[self.field.name]
        d[self.field.attname] = value


class ForwardManyToOneDescriptor:
    """``book.author``: the related object, fetched once and cached."""

    def __init__(self, field: Any) -> None:
        self.field = field

    @functools.cached_property
    def RelatedObjectDoesNotExist(self) -> type:
        # One class per descriptor, so ``except Book.author.RelatedObjectDoesNotExist`` matches.
        model = self.field.related_model
        return type(
            "RelatedObjectDoesNotExist",
            (model.DoesNotExist, AttributeError),
            {"__module__": self.field.model.__module__},
        )

    def is_cached(self, instance: Any) -> bool:
        cache = instance._state._fields_cache
        return cache is not None and self.field.name in cache

    def get_queryset(self, instance: Any = None) -> Any:
        model = self.field.related_model
        qs = model._base_manager.get_queryset()
        if instance is not None:
            from dorm.db import router

            qs = qs.using(router.db_for_read(model, instance=instance))
        return qs

    def _lookup(self, instance: Any) -> dict[str, Any] | None:
        attname = self.field.attname
        # A deferred FK column (only()/defer()) is loaded first, as Django does.
        d = instance.__dict__
        value = d[attname] if attname in d else getattr(instance, attname)
        if value is None:
            return None
        return {self.field.target_field.attname: value}

    def __get__(self, instance: Any, owner: Any) -> Any:
        if instance is None:
            return self
        cache = instance._state.fields_cache
        name = self.field.name
        if name in cache:
            rel_obj = cache[name]
        else:
            lookup = self._lookup(instance)
            if lookup is None:
                rel_obj = None
            else:
                _refuse_in_loop(instance, name)
                rel_obj = self.get_queryset(instance).filter(**lookup).first()
                if rel_obj is None:
                    raise self.RelatedObjectDoesNotExist(
                        f"{type(instance).__name__} has no {name} (no "
                        f"{self.field.related_model.__name__} "
                        f"with {lookup})."
                    )
            cache[name] = rel_obj
        if rel_obj is None and not self.field.null:
            raise self.RelatedObjectDoesNotExist(f"{type(instance).__name__} has no {name}.")
        return rel_obj

    async def aget(self, instance: Any) -> Any:
        cache = instance._state.fields_cache
        name = self.field.name
        if name not in cache:
            if self.field.attname not in instance.__dict__:  # deferred FK column
                await instance.arefresh_from_db(fields=[self.field.attname])
            lookup = self._lookup(instance)
            cache[name] = (
                None
                if lookup is None
                else await self.get_queryset(instance).filter(**lookup).afirst()
            )
        return cache[name]

    def __set__(self, instance: Any, value: Any) -> None:
        field = self.field
        if value is not None:
            model = field.related_model
            if not isinstance(value, model):
                raise ValueError(
                    f'Cannot assign "{value!r}": "{type(instance).__name__}.{field.name}" must '
                    "be a "
                    f'"{model.__name__}" instance.'
                )
            if instance._state.db is None:
                instance._state.db = value._state.db
            elif value._state.db is not None:
                from dorm.db import router

                if not router.allow_relation(value, instance):
                    raise ValueError(
                        f'Cannot assign "{value!r}": the current database router prevents this '
                        "relation."
                    )
        instance.__dict__[field.attname] = (
            None if value is None else getattr(value, field.target_field.attname)
        )
        instance._state.fields_cache[field.name] = value
        if value is not None and field.one_to_one:
            value._state.fields_cache[field.remote_field.get_accessor_name()] = instance


class ForwardOneToOneDescriptor(ForwardManyToOneDescriptor):
    pass


class ReverseOneToOneDescriptor:
    """``place.restaurant``: the single object pointing here through a ``OneToOneField``."""

    def __init__(self, related: Any) -> None:
        self.related = related

    @functools.cached_property
    def RelatedObjectDoesNotExist(self) -> type:
        return type(
            "RelatedObjectDoesNotExist",
            (self.related.related_model.DoesNotExist, AttributeError),
            {"__module__": self.related.model.__module__},
        )

    def _cache_name(self) -> str:
        return self.related.get_accessor_name()  # type: ignore[no-any-return]

    def get_queryset(self, instance: Any = None) -> Any:
        model = self.related.related_model
        qs = model._base_manager.get_queryset()
        if instance is not None:
            from dorm.db import router

            qs = qs.using(router.db_for_read(model, instance=instance))
        return qs

    def __get__(self, instance: Any, owner: Any) -> Any:
        if instance is None:
            return self
        cache = instance._state.fields_cache
        name = self._cache_name()
        if name in cache:
            rel_obj = cache[name]
        else:
            if instance.pk is None:
                rel_obj = None
            else:
                _refuse_in_loop(instance, name)
                field = self.related.field
                rel_obj = (
                    self.get_queryset(instance)
                    .filter(**{field.attname: getattr(instance, field.target_field.attname)})
                    .first()
                )
                if rel_obj is not None:
                    rel_obj._state.fields_cache[field.name] = instance
            cache[name] = rel_obj
        if rel_obj is None:
            raise self.RelatedObjectDoesNotExist(f"{type(instance).__name__} has no {name}.")
        return rel_obj

    async def aget(self, instance: Any) -> Any:
        cache = instance._state.fields_cache
        name = self._cache_name()
        if name not in cache:
            field = self.related.field
            rel_obj = (
                await self.get_queryset(instance)
                .filter(**{field.attname: getattr(instance, field.target_field.attname)})
                .afirst()
            )
            cache[name] = rel_obj
        return cache[name]

    def __set__(self, instance: Any, value: Any) -> None:
        field = self.related.field
        if value is None:
            instance._state.fields_cache[self._cache_name()] = None
            return
        if not isinstance(value, self.related.related_model):
            raise ValueError(
                f'Cannot assign "{value!r}": "{type(instance).__name__}.{self._cache_name()}" '
                "must be "
                f'a "{self.related.related_model.__name__}" instance.'
            )
        setattr(value, field.attname, getattr(instance, field.target_field.attname))
        instance._state.fields_cache[self._cache_name()] = value
        value._state.fields_cache[field.name] = instance


class ReverseManyToOneDescriptor:
    """``author.book_set``: a manager of the objects pointing here."""

    def __init__(self, related: Any) -> None:
        self.related = related

    def __get__(self, instance: Any, owner: Any) -> Any:
        if instance is None:
            return self
        return self.related_manager_cls(instance)

    @functools.cached_property
    def related_manager_cls(self) -> Any:
        """The manager class, built once per relation (not on every attribute access)."""
        return create_reverse_many_to_one_manager(
            self.related.related_model._default_manager.__class__, self.related
        )

    def __set__(self, instance: Any, value: Any) -> None:
        raise TypeError(
            f"Direct assignment to the reverse side of a related set is prohibited. Use "
            f"{self.related.get_accessor_name()}.set() instead."
        )


class ManyToManyDescriptor:
    """``book.tags`` / ``tag.book_set``: a manager of the objects related through the join table."""

    def __init__(self, rel: Any, reverse: bool = False) -> None:
        self.rel = rel
        self.reverse = reverse

    @property
    def field(self) -> Any:
        return self.rel.field

    def __get__(self, instance: Any, owner: Any) -> Any:
        if instance is None:
            return self
        return self.related_manager_cls(instance)

    @functools.cached_property
    def related_manager_cls(self) -> Any:
        """The manager class, built once per relation (not on every attribute access)."""
        model = self.rel.related_model if self.reverse else self.rel.model
        return create_many_related_manager(model._default_manager.__class__, self.rel, self.reverse)

    def __set__(self, instance: Any, value: Any) -> None:
        name = self.rel.get_accessor_name() if self.reverse else self.rel.field.name
        raise TypeError(
            f"Direct assignment to the {'reverse' if self.reverse else 'forward'} side of a "
            f"many-to-many set is prohibited. Use {name}.set() instead."
        )


# Related managers -----------------------------------------------------------------------


def create_reverse_many_to_one_manager(superclass: type, rel: Any) -> type:
    from dorm.db.plan import run_async, run_sync

    class RelatedManager(superclass):  # type: ignore[valid-type, misc]
        """Manager of ``author.book_set``; its queries are filtered on the author."""

        def __init__(self, instance: Any) -> None:
            super().__init__()
            self.instance = instance
            self.model = rel.related_model
            self.field = rel.field
            self.core_filters = {self.field.name: instance}

        def _check_saved(self) -> None:
            if self.instance.pk is None:
                raise ValueError(
                    f"{type(self.instance).__name__!r} instance needs to have a primary key value "
                    "before this relationship can be used."
                )

        def _apply_filters(self, qs: Any) -> Any:
            from dorm.db import router

            self._check_saved()
            db = self._db or router.db_for_read(self.model, instance=self.instance)
            qs = qs.using(db)
            value = getattr(self.instance, self.field.target_field.attname)
            qs = qs.filter(**{self.field.attname: value})
            qs._known_related_objects = {self.field: self.instance}
            return qs

        def get_queryset(self) -> Any:
            cache = getattr(self.instance, "_prefetched_objects_cache", {})
            name = self.field.remote_field.get_accessor_name()
            if name in cache:
                return cache[name]
            return self._apply_filters(super().get_queryset())

        def _write_db(self) -> str:
            from dorm.db import router

            return self._db or router.db_for_write(self.model, instance=self.instance)

        def create(self, **kwargs: Any) -> Any:
            self._check_saved()
            kwargs[self.field.name] = self.instance
            return super().get_queryset().using(self._write_db()).create(**kwargs)

        async def acreate(self, **kwargs: Any) -> Any:
            self._check_saved()
            kwargs[self.field.name] = self.instance
            return await super().get_queryset().using(self._write_db()).acreate(**kwargs)

        def get_or_create(self, **kwargs: Any) -> Any:
            kwargs[self.field.name] = self.instance
            return super().get_queryset().using(self._write_db()).get_or_create(**kwargs)

        async def aget_or_create(self, **kwargs: Any) -> Any:
            kwargs[self.field.name] = self.instance
            return await super().get_queryset().using(self._write_db()).aget_or_create(**kwargs)

        def update_or_create(self, **kwargs: Any) -> Any:
            kwargs[self.field.name] = self.instance
            return super().get_queryset().using(self._write_db()).update_or_create(**kwargs)

        async def aupdate_or_create(self, **kwargs: Any) -> Any:
            kwargs[self.field.name] = self.instance
            return await super().get_queryset().using(self._write_db()).aupdate_or_create(**kwargs)

        def _add_plan(self, conn: Any, objs: Iterable[Any], bulk: bool) -> Any:
            self._check_saved()
            value = getattr(self.instance, self.field.target_field.attname)
            pks = []
            for obj in objs:
                if not isinstance(obj, self.model):
                    raise TypeError(
                        f"'{self.model._meta.object_name}' instance expected, got {obj!r}"
                    )
                setattr(obj, self.field.name, self.instance)
                if bulk:
                    if obj._state.adding or obj.pk is None:
                        raise ValueError(
                            f"{obj!r} instance isn't saved. Use bulk=False or save the object "
                            "first."
                        )
                    pks.append(obj.pk)
                else:
                    yield from obj._save_plan(conn, self._write_db(), False, False, None)
            if pks:
                sql, params = (
                    self.model._base_manager.using(self._write_db())
                    .filter(pk__in=pks)
                    ._update_sql(conn, {self.field.name: value})
                )
                yield ("rowcount", sql, params)

        def add(self, *objs: Any, bulk: bool = True) -> None:
            run_sync(self._write_db(), lambda conn: self._atomic(self._add_plan, objs, bulk))

        async def aadd(self, *objs: Any, bulk: bool = True) -> None:
            await run_async(self._write_db(), lambda conn: self._atomic(self._add_plan, objs, bulk))

        def _atomic(self, plan: Any, *args: Any) -> Any:
            # add/remove/clear/set invalidate what prefetch_related cached (as Django).
            self.instance.__dict__.get("_prefetched_objects_cache", {}).pop(
                self.field.remote_field.get_accessor_name(), None
            )
            return (yield ("atomic", lambda conn: plan(conn, *args), True))

        def _remove_plan(self, conn: Any, objs: Iterable[Any], bulk: bool) -> Any:
            if not self.field.null:
                raise AttributeError(
                    f"remove() and clear() are only available on the reverse side of a "
                    f"nullable ForeignKey ({self.field.model.__name__}.{self.field.name} is "
                    "not null=True)."
                )
            self._check_saved()
            value = getattr(self.instance, self.field.target_field.attname)
            pks = []
            for obj in objs:
                if not isinstance(obj, self.model):
                    name = self.model._meta.object_name
                    raise TypeError(f"'{name}' instance expected, got {obj!r}")
                if getattr(obj, self.field.attname) != value:
                    raise self.field.remote_field.model.DoesNotExist(
                        f"{obj!r} is not related to {self.instance!r}."
                    )
                pks.append(obj.pk)
                obj.__dict__[self.field.attname] = None
                obj._state.fields_cache.pop(self.field.name, None)
            if pks:
                qs = self.model._base_manager.using(self._write_db()).filter(pk__in=pks)
                sql, params = qs._update_sql(conn, {self.field.name: None})
                yield ("rowcount", sql, params)

        def remove(self, *objs: Any, bulk: bool = True) -> None:
            run_sync(self._write_db(), lambda conn: self._atomic(self._remove_plan, objs, bulk))

        async def aremove(self, *objs: Any, bulk: bool = True) -> None:
            await run_async(
                self._write_db(), lambda conn: self._atomic(self._remove_plan, objs, bulk)
            )

        def _clear_plan(self, conn: Any) -> Any:
            if not self.field.null:
                raise AttributeError(
                    "clear() is only available on the reverse side of a nullable ForeignKey."
                )
            self._check_saved()
            qs = self._apply_filters(self.model._base_manager.get_queryset())
            sql, params = qs.using(self._write_db())._update_sql(conn, {self.field.name: None})
            yield ("rowcount", sql, params)

        def clear(self, bulk: bool = True) -> None:
            run_sync(self._write_db(), lambda conn: self._atomic(lambda c: self._clear_plan(c)))

        async def aclear(self, bulk: bool = True) -> None:
            await run_async(
                self._write_db(), lambda conn: self._atomic(lambda c: self._clear_plan(c))
            )

        def _set_plan(self, conn: Any, objs: Iterable[Any], bulk: bool, clear: bool) -> Any:
            from dorm.query import _fetch_plan

            objs = list(objs)
            if self.field.null:
                if clear:
                    yield from self._clear_plan(conn)
                    yield from self._add_plan(conn, objs, bulk)
                    return
                current = yield from _fetch_plan(
                    conn, self._apply_filters(self.model._base_manager.get_queryset())
                )
                new_pks = {o.pk for o in objs}
                old = [o for o in current if o.pk not in new_pks]
                if old:
                    yield from self._remove_plan(conn, old, bulk)
                current_pks = {o.pk for o in current}
                yield from self._add_plan(conn, [o for o in objs if o.pk not in current_pks], bulk)
            else:
                yield from self._add_plan(conn, objs, bulk)

        def set(self, objs: Iterable[Any], *, bulk: bool = True, clear: bool = False) -> None:
            run_sync(self._write_db(), lambda conn: self._atomic(self._set_plan, objs, bulk, clear))

        async def aset(
            self, objs: Iterable[Any], *, bulk: bool = True, clear: bool = False
        ) -> None:
            await run_async(
                self._write_db(), lambda conn: self._atomic(self._set_plan, objs, bulk, clear)
            )

    return RelatedManager


def create_many_related_manager(superclass: type, rel: Any, reverse: bool) -> type:
    from dorm.db.plan import run_async, run_sync

    class ManyRelatedManager(superclass):  # type: ignore[valid-type, misc]
        """Manager of ``book.tags``: reads join through the table, writes maintain it."""

        def __init__(self, instance: Any) -> None:
            super().__init__()
            self.instance = instance
            field = rel.field
            self.through = rel.through
            if not reverse:
                self.model = rel.model
                self.query_field_name = field.related_query_name()
                self.prefetch_cache_name = field.name
                self.source_field_name = field.m2m_field_name()
                self.target_field_name = field.m2m_reverse_field_name()
                self.symmetrical = rel.symmetrical
            else:
                self.model = rel.related_model
                self.query_field_name = field.name
                self.prefetch_cache_name = rel.get_accessor_name()
                self.source_field_name = field.m2m_reverse_field_name()
                self.target_field_name = field.m2m_field_name()
                self.symmetrical = False
            self.source_field = self.through._meta.get_field(self.source_field_name)
            self.target_field = self.through._meta.get_field(self.target_field_name)
            if instance.pk is None:
                raise ValueError(
                    f'"{instance!r}" needs to have a value for field '
                    f'"{type(instance)._meta.pk.name}" '
                    "before this many-to-many relationship can be used."
                )
            self.related_val = getattr(instance, self.source_field.target_field.attname)

        def _apply_filters(self, qs: Any) -> Any:
            from dorm.db import router

            db = self._db or router.db_for_read(type(self.instance), instance=self.instance)
            qs = qs.using(db)
            return qs.filter(**{f"{self.query_field_name}__pk": self.related_val})

        def get_queryset(self) -> Any:
            cache = getattr(self.instance, "_prefetched_objects_cache", {})
            if self.prefetch_cache_name in cache:
                return cache[self.prefetch_cache_name]
            return self._apply_filters(super().get_queryset())

        def _write_db(self) -> str:
            from dorm.db import router

            return self._db or router.db_for_write(self.through, instance=self.instance)

        def _atomic(self, plan: Any, *args: Any) -> Any:
            # Writes invalidate what prefetch_related cached (as Django).
            self.instance.__dict__.get("_prefetched_objects_cache", {}).pop(
                self.prefetch_cache_name, None
            )
            return (yield ("atomic", lambda conn: plan(conn, *args), True))

        def _target_pks(self, objs: Iterable[Any]) -> list[Any]:
            pks = []
            target_model = self.target_field.related_model
            for obj in objs:
                if isinstance(obj, target_model):
                    if obj.pk is None:
                        raise ValueError(
                            f'Cannot add "{obj!r}": instance is not saved (no primary key).'
                        )
                    pks.append(getattr(obj, self.target_field.target_field.attname))
                elif hasattr(obj, "_meta"):
                    raise TypeError(
                        f"'{target_model._meta.object_name}' instance expected, got {obj!r}"
                    )
                else:
                    pks.append(obj)
            return pks

        def _add_items_plan(
            self,
            conn: Any,
            source: str,
            target: str,
            source_val: Any,
            pks: list[Any],
            through_defaults: dict[str, Any] | None,
        ) -> Any:
            from dorm.query import _fetch_plan

            if not pks:
                return
            existing_qs = (
                self.through._base_manager.using(self._write_db())
                .filter(**{source: source_val, f"{target}__in": pks})
                .values_list(self.through._meta.get_field(target).attname, flat=True)
            )
            existing = set((yield from _fetch_plan(conn, existing_qs)))
            defaults = {k: (v() if callable(v) else v) for k, v in (through_defaults or {}).items()}
            new = []
            seen = set()
            for pk in pks:
                if pk in existing or pk in seen:
                    continue
                seen.add(pk)
                new.append(
                    self.through(
                        **{
                            self.through._meta.get_field(source).attname: source_val,
                            self.through._meta.get_field(target).attname: pk,
                            **defaults,
                        }
                    )
                )
            if new:
                qs = self.through._base_manager.using(self._write_db())
                yield from qs._bulk_create_plan(
                    conn, self._write_db(), new, None, False, False, None, None
                )

        def _add_plan(self, conn: Any, objs: Iterable[Any], through_defaults: Any) -> Any:
            pks = self._target_pks(objs)
            yield from self._add_items_plan(
                conn,
                self.source_field_name,
                self.target_field_name,
                self.related_val,
                pks,
                through_defaults,
            )
            if self.symmetrical:
                for pk in pks:
                    if pk == self.related_val:
                        continue
                    # The mirror row (from=pk, to=instance), as Django stores it.
                    yield from self._add_items_plan(
                        conn,
                        self.target_field_name,
                        self.source_field_name,
                        self.related_val,
                        [pk],
                        through_defaults,
                    )

        def add(self, *objs: Any, through_defaults: dict[str, Any] | None = None) -> None:
            run_sync(
                self._write_db(), lambda conn: self._atomic(self._add_plan, objs, through_defaults)
            )

        async def aadd(self, *objs: Any, through_defaults: dict[str, Any] | None = None) -> None:
            await run_async(
                self._write_db(), lambda conn: self._atomic(self._add_plan, objs, through_defaults)
            )

        def _remove_items_plan(self, conn: Any, pks: list[Any] | None) -> Any:
            from dorm.models.query_utils import Q
            from dorm.sql.compiler import SQLDeleteCompiler

            if pks is not None and not pks:
                return
            source, target = self.source_field_name, self.target_field_name
            condition = Q(**{source: self.related_val})
            if pks is not None:
                condition &= Q(**{f"{target}__in": pks})
            if self.symmetrical:
                mirrored = Q(**{target: self.related_val})
                if pks is not None:
                    mirrored &= Q(**{f"{source}__in": pks})
                condition |= mirrored
            qs = self.through._base_manager.using(self._write_db()).filter(condition)
            sql, params = SQLDeleteCompiler(qs.query, conn).as_sql()
            yield ("rowcount", sql, params)

        def remove(self, *objs: Any) -> None:
            pks = self._target_pks(objs)
            run_sync(self._write_db(), lambda conn: self._atomic(self._remove_items_plan, pks))

        async def aremove(self, *objs: Any) -> None:
            pks = self._target_pks(objs)
            await run_async(
                self._write_db(), lambda conn: self._atomic(self._remove_items_plan, pks)
            )

        def clear(self) -> None:
            run_sync(self._write_db(), lambda conn: self._atomic(self._remove_items_plan, None))

        async def aclear(self) -> None:
            await run_async(
                self._write_db(), lambda conn: self._atomic(self._remove_items_plan, None)
            )

        def _set_plan(
            self, conn: Any, objs: Iterable[Any], clear: bool, through_defaults: Any
        ) -> Any:
            from dorm.query import _fetch_plan

            objs = list(objs)
            if clear:
                yield from self._remove_items_plan(conn, None)
                yield from self._add_plan(conn, objs, through_defaults)
                return
            target_attname = self.through._meta.get_field(self.target_field_name).attname
            current_qs = (
                self.through._base_manager.using(self._write_db())
                .filter(**{self.source_field_name: self.related_val})
                .values_list(target_attname, flat=True)
            )
            current = set((yield from _fetch_plan(conn, current_qs)))
            wanted = self._target_pks(objs)
            to_remove = [pk for pk in current if pk not in set(wanted)]
            yield from self._remove_items_plan(conn, to_remove)
            yield from self._add_plan(
                conn, [pk for pk in wanted if pk not in current], through_defaults
            )

        def set(
            self,
            objs: Iterable[Any],
            *,
            clear: bool = False,
            through_defaults: dict[str, Any] | None = None,
        ) -> None:
            run_sync(
                self._write_db(),
                lambda conn: self._atomic(self._set_plan, objs, clear, through_defaults),
            )

        async def aset(
            self,
            objs: Iterable[Any],
            *,
            clear: bool = False,
            through_defaults: dict[str, Any] | None = None,
        ) -> None:
            await run_async(
                self._write_db(),
                lambda conn: self._atomic(self._set_plan, objs, clear, through_defaults),
            )

        def _create_plan(self, conn: Any, kwargs: dict[str, Any], through_defaults: Any) -> Any:
            obj = self.model(**kwargs)
            db = self._write_db()
            yield from obj._save_plan(conn, db, True, False, None)
            yield from self._add_plan(conn, [obj], through_defaults)
            return obj

        def create(self, *, through_defaults: dict[str, Any] | None = None, **kwargs: Any) -> Any:
            return run_sync(
                self._write_db(),
                lambda conn: self._atomic(self._create_plan, kwargs, through_defaults),
            )

        async def acreate(
            self, *, through_defaults: dict[str, Any] | None = None, **kwargs: Any
        ) -> Any:
            return await run_async(
                self._write_db(),
                lambda conn: self._atomic(self._create_plan, kwargs, through_defaults),
            )

        # get_or_create/update_or_create look among the related objects; a created object is
        # added to the relation (as Django; one found is related already).

        def _related_qs(self) -> Any:
            return self._apply_filters(super().get_queryset()).using(self._write_db())

        def get_or_create(
            self, *, through_defaults: dict[str, Any] | None = None, **kwargs: Any
        ) -> Any:
            obj, created = self._related_qs().get_or_create(**kwargs)
            if created:
                self.add(obj, through_defaults=through_defaults)
            return obj, created

        async def aget_or_create(
            self, *, through_defaults: dict[str, Any] | None = None, **kwargs: Any
        ) -> Any:
            obj, created = await self._related_qs().aget_or_create(**kwargs)
            if created:
                await self.aadd(obj, through_defaults=through_defaults)
            return obj, created

        def update_or_create(
            self, *, through_defaults: dict[str, Any] | None = None, **kwargs: Any
        ) -> Any:
            obj, created = self._related_qs().update_or_create(**kwargs)
            if created:
                self.add(obj, through_defaults=through_defaults)
            return obj, created

        async def aupdate_or_create(
            self, *, through_defaults: dict[str, Any] | None = None, **kwargs: Any
        ) -> Any:
            obj, created = await self._related_qs().aupdate_or_create(**kwargs)
            if created:
                await self.aadd(obj, through_defaults=through_defaults)
            return obj, created

    return ManyRelatedManager


def related_accessor_for(model: Any, name: str) -> Any:
    """The descriptor behind ``model.<name>`` if it is a relation accessor."""
    attr = model.__dict__.get(name)
    for klass in model.__mro__:
        if name in klass.__dict__:
            attr = klass.__dict__[name]
            break
    if attr is None:
        raise FieldError(f"{model.__name__} has no relation named {name!r}.")
    return attr
