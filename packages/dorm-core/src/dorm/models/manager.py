"""Managers: ``Model.objects`` and custom managers (``Manager.from_queryset``)."""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

from dorm.query import _NOT_TAKEN, QuerySet, amanager_get, manager_filter, manager_get

if TYPE_CHECKING:
    from dorm.models.base import Model

M = TypeVar("M", bound="Model")


class BaseManager(Generic[M]):
    """Entry point of queries for a model; proxies QuerySet methods."""

    _queryset_class: type[QuerySet[Any]] = QuerySet
    creation_counter = 0

    def __init__(self) -> None:
        self.model: type[M] = None  # type: ignore[assignment]
        self.name = ""
        self._db: str | None = None
        self.creation_counter = BaseManager.creation_counter
        BaseManager.creation_counter += 1

    def __class_getitem__(cls, item: Any) -> Any:
        return cls

    def contribute_to_class(self, cls: type[M], name: str) -> None:
        self.name = self.name or name
        self.model = cls
        setattr(cls, name, ManagerDescriptor(self))
        cls._meta.managers.append(self)

    def __copy__(self) -> BaseManager[M]:
        obj = type(self).__new__(type(self))
        obj.__dict__.update(self.__dict__)
        return obj

    def get_queryset(self) -> QuerySet[M]:
        """The base QuerySet; override to change what the manager returns."""
        return self._queryset_class(model=self.model, using=self._db)

    def _plain_queryset(self) -> bool:
        # Neither the queryset nor the manager changes what get()/filter() see.
        return self._queryset_class is QuerySet and type(self).get_queryset is _base_get_queryset

    def all(self) -> QuerySet[M]:
        return self.get_queryset()

    def db_manager(self, using: str | None = None) -> BaseManager[M]:
        obj = self.__copy__()
        obj._db = using
        return obj

    @property
    def db(self) -> str:
        from dorm.db import router

        return self._db or router.db_for_read(self.model)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} for {self.model._meta.label if self.model else '?'}>"

    @classmethod
    def from_queryset(
        cls, queryset_class: type[QuerySet[Any]], class_name: str | None = None
    ) -> type[Any]:
        """A manager class exposing ``queryset_class``'s public methods."""
        attrs: dict[str, Any] = {"_queryset_class": queryset_class}
        for name, method in inspect.getmembers(queryset_class, predicate=inspect.isfunction):
            if (
                name.startswith("_")
                or hasattr(cls, name)
                or getattr(method, "queryset_only", False)
            ):
                continue
            attrs[name] = _proxy(name, method)
        return type(class_name or f"{cls.__name__}From{queryset_class.__name__}", (cls,), attrs)


#: Methods whose first step is the single clone of their queryset.
_CHAINABLE = frozenset(
    {
        "filter",
        "exclude",
        "order_by",
        "values",
        "values_list",
        "annotate",
        "alias",
        "select_related",
        "prefetch_related",
        "only",
        "defer",
        "distinct",
        "using",
    }
)


def _proxy(name: str, method: Any) -> Any:
    if name in ("create", "acreate"):
        return _create_proxy(name, method)
    if name in ("get", "aget"):
        return _get_proxy(name, method)
    if name == "filter":
        return _filter_proxy(method)
    return _chained(name, method)


def _chained(name: str, method: Any) -> Any:
    chainable = name in _CHAINABLE

    def manager_method(self: Any, *args: Any, **kwargs: Any) -> Any:
        if chainable and type(self).get_queryset is _base_get_queryset:
            # A queryset nobody else can see: its first chained call may change it in place
            # instead of cloning it (Author.objects.filter(...) builds one QuerySet, not two).
            qs = self._queryset_class(model=self.model, using=self._db)
            qs._owned = True
        else:
            qs = self.get_queryset()
        return getattr(qs, name)(*args, **kwargs)

    manager_method.__name__ = name
    manager_method.__doc__ = method.__doc__
    return manager_method


_base_get_queryset = BaseManager.get_queryset
_base_create = QuerySet.create
_base_acreate = QuerySet.acreate
#: ``Model.objects.create()``/``acreate()`` skip building a QuerySet when it would only pick
#: the alias.
_DIRECT_CREATE = True


def _create_proxy(name: str, method: Any) -> Any:
    base = _base_create if name == "create" else _base_acreate

    def direct(self: Any, kwargs: dict[str, Any]) -> Any:
        """What QuerySet.(a)create does on the fresh queryset: ``(instance, alias)``, or None
        when the manager or its queryset changes that (no hints: the router alone)."""
        if not (
            _DIRECT_CREATE
            and getattr(self._queryset_class, name) is base
            and type(self).get_queryset is _base_get_queryset
        ):
            return None
        model = self.model
        obj = model(**kwargs)
        if self._db:
            return obj, self._db
        from dorm.db import router

        return obj, router.db_for_write(model)

    if name == "create":

        def create(self: Any, **kwargs: Any) -> Any:
            made = direct(self, kwargs)
            if made is None:
                return self.get_queryset().create(**kwargs)
            obj, alias = made
            obj.save(force_insert=True, using=alias)
            return obj

        proxy = create
    else:

        async def acreate(self: Any, **kwargs: Any) -> Any:
            made = direct(self, kwargs)
            if made is None:
                return await self.get_queryset().acreate(**kwargs)
            obj, alias = made
            await obj.asave(force_insert=True, using=alias)
            return obj

        proxy = acreate
    proxy.__doc__ = method.__doc__
    return proxy


def _filter_proxy(method: Any) -> Any:
    chained = _chained("filter", method)

    def filter(self: Any, *args: Any, **kwargs: Any) -> Any:
        if not args and len(kwargs) == 1 and self._plain_queryset():
            # One plain condition: a queryset holding it pending (see QuerySet.filter).
            qs = manager_filter(self.model, self._db, kwargs)
            if qs is not None:
                return qs
        return chained(self, *args, **kwargs)

    filter.__doc__ = method.__doc__
    return filter


def _get_proxy(name: str, method: Any) -> Any:
    """``get``/``aget``: ``Model.objects.get(pk=value)`` of a plain manager runs the statement
    cached for that shape without building a queryset (``QuerySet.get`` caches it)."""
    if name == "get":

        def get(self: Any, *args: Any, **kwargs: Any) -> Any:
            if not args and len(kwargs) == 1 and self._plain_queryset():
                found = manager_get(self.model, self._db, kwargs)
                if found is not _NOT_TAKEN:
                    return found
            return self.get_queryset().get(*args, **kwargs)

        proxy = get
    else:

        async def aget(self: Any, *args: Any, **kwargs: Any) -> Any:
            if not args and len(kwargs) == 1 and self._plain_queryset():
                found = await amanager_get(self.model, self._db, kwargs)
                if found is not _NOT_TAKEN:
                    return found
            return await self.get_queryset().aget(*args, **kwargs)

        proxy = aget
    proxy.__doc__ = method.__doc__
    return proxy


class ManagerDescriptor:
    """Class attribute holding a manager; not reachable from instances (as Django)."""

    def __init__(self, manager: BaseManager[Any]) -> None:
        self.manager = manager

    @overload
    def __get__(self, instance: None, owner: type[M]) -> Manager[M]: ...
    @overload
    def __get__(self, instance: Any, owner: Any) -> Any: ...
    def __get__(self, instance: Any, owner: Any) -> Any:
        if instance is not None:
            raise AttributeError(f"Manager isn't accessible via {owner.__name__} instances")
        manager = self.manager
        if manager.model is not owner:
            # Inherited from an abstract parent: bind a copy to the concrete class.
            manager = manager.__copy__()
            manager.model = owner
        return manager


if TYPE_CHECKING:

    class Manager(BaseManager[M], QuerySet[M]):  # type: ignore[misc]
        """Type checkers see every QuerySet method on a manager."""

else:
    Manager = BaseManager.from_queryset(QuerySet, "Manager")
